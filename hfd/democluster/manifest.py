"""The manifest of a demo cluster (``cluster.json``): what a caller needs to register it.

The simulated commands read the same file as plain JSON (see ``simcluster``), so field
names here are part of their contract: ``hadoop_user`` and, per node, ``name``, ``address``
and ``roles``.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from hfd.democluster.config import require_loopback


class NodeManifest(BaseModel):
    """One node: how to reach it over SSH, what it runs and where its logs are."""

    name: str
    address: str
    port: int = Field(ge=1, le=65535)
    ssh_user: str
    private_key_path: Path = Field(description="the collector's client key; the same for every node")
    password: str | None = Field(None, description="set only for nodes that also accept password auth")
    log_dirs: list[Path]
    roles: list[str] = Field(description="daemons the node runs, e.g. namenode, datanode")
    host_public_key: str = Field(description="the node's host key as 'TYPE BASE64'")
    known_hosts_line: str = Field(description="the host key in OpenSSH known_hosts form, '[address]:port TYPE BASE64'")
    home: Path
    temp_dir: Path
    log_timezone: str = Field("UTC", description="zone of the timestamps the node writes")

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        require_loopback(value)
        return value


class ClusterManifest(BaseModel):
    """A whole demo cluster."""

    name: str
    mode: Literal["generated", "replay"]
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    hadoop_user: str
    cluster_dir: Path
    known_hosts_path: Path
    nodes: list[NodeManifest]

    def node(self, name: str) -> NodeManifest:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"node {name!r} not in cluster {self.name}; nodes: {', '.join(n.name for n in self.nodes)}")

    def known_hosts_text(self) -> str:
        return "".join(f"{node.known_hosts_line}\n" for node in self.nodes)


def write_manifest(manifest: ClusterManifest, path: Path) -> None:
    """Write the manifest and the known_hosts file it names."""
    manifest.known_hosts_path.parent.mkdir(parents=True, exist_ok=True)
    manifest.known_hosts_path.write_text(manifest.known_hosts_text(), encoding="utf-8")
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    temporary.replace(path)


def load_manifest(path: Path | str) -> ClusterManifest:
    """Read ``cluster.json``; accepts the file or the cluster folder that contains it."""
    path = Path(path)
    if path.is_dir():
        path = path / "cluster.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"demo cluster manifest not found at {path}; start the cluster first with hfd demo-cluster"
        ) from None
    return ClusterManifest.model_validate_json(text)
