"""Settings of a demo cluster, and the loopback check that every node address passes."""

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

LOOPBACK_NETWORK = ipaddress.ip_network("127.0.0.0/8")

RotationMode = Literal["rename", "copytruncate", "mixed"]


def require_loopback(address: str) -> ipaddress.IPv4Address:
    """Parse an IPv4 literal and raise ValueError unless it lies in 127.0.0.0/8.

    The demo nodes accept any holder of the generated key and run shell commands, so they
    must never listen where another host can reach them. Host names (even ``localhost``)
    and IPv6 addresses are rejected too.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(
            f"invalid node address {address!r}: use an IPv4 literal in 127.0.0.0/8, such as 127.0.0.2"
        ) from None

    if not isinstance(parsed, ipaddress.IPv4Address) or parsed not in LOOPBACK_NETWORK:
        raise ValueError(
            f"node address {address} is outside 127.0.0.0/8: demo nodes listen on loopback only"
        )
    return parsed


def node_addresses(first_address: str, count: int) -> list[str]:
    """Return ``count`` consecutive loopback addresses from ``first_address``, all checked."""
    first = require_loopback(first_address)
    addresses = []
    for index in range(count):
        candidate = first + index
        require_loopback(str(candidate))
        addresses.append(str(candidate))
    return addresses


class DemoClusterConfig(BaseModel):
    """Settings of one demo cluster run; the CLI options map onto these fields."""

    cluster_dir: Path = Path("var/demo-cluster")
    name: str = Field("demo", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    nodes: int = Field(4, ge=1, le=64, description="node count for generated logs")
    logs_dir: Path | None = Field(None, description="replay these logs instead of generating logs")
    first_address: str = "127.0.0.2"
    base_port: int | None = Field(None, ge=1024, le=65535 - 64)
    ssh_user: str = Field("hadoop", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    hadoop_user: str = Field("hadoop", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    password_nodes: list[str] = Field(default_factory=list, description="nodes that also accept a password")
    seed: int | None = None

    lines_per_second: float = Field(2.0, gt=0, le=1000, description="mean normal log lines per second per daemon")
    fault_interval: float = Field(45.0, ge=0, description="seconds between scheduled faults; 0 disables them")
    max_active_faults: int = Field(3, ge=1, description="scheduled faults wait while this many are active")
    secondary_namenode: bool = False

    speed: float = Field(1.0, gt=0, description="replay speed factor: original gaps are divided by it")
    max_replay_wait: float = Field(5.0, gt=0, description="cap on any single replay wait, in seconds")
    loop_replay: bool = False
    min_replay_pass: float = Field(
        10.0, ge=0, description="minimum seconds from the start of one looped replay pass to the start of the next"
    )

    max_log_bytes: int = Field(1_000_000, ge=1024, description="rotate a log file once it reaches this size")
    max_backup_index: int = Field(5, ge=1, le=100)
    rotation: RotationMode = "mixed"
    state_poll_interval: float = Field(0.25, gt=0, le=10, description="seconds between state file checks")

    @field_validator("first_address")
    @classmethod
    def _check_first_address(cls, value: str) -> str:
        require_loopback(value)
        return value
