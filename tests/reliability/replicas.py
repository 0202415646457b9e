"""Two replicas of every service, each replica set a ``Stack`` with its own gateway port and log folder."""

import signal
import time
from pathlib import Path

from tests.gateway.helpers import STACK_ENV
from tests.infra import Infra, Stack

SERVICES = ("auth", "inventory", "collector", "faults", "ai", "gateway")
LEASE_TTL_SECONDS = 6
LEASE_RENEW_SECONDS = 2


def replica_env(nats_url: str, work_dir: Path, replica: int) -> dict[str, str]:
    """Environment of one replica set: the NATS cluster, three stream replicas, short leases.

    The AI service has no model key, so it diagnoses offline. The cluster is registered with the
    ``suggest`` repair policy, so no repair runs unattended and incidents keep their identity.
    """
    return {
        **STACK_ENV,
        "HFD_NATS_URL": nats_url,
        "HFD_STREAM_REPLICAS": "3",
        "HFD_COLLECTOR_LEASES": "true",
        "HFD_COLLECTOR_LEASE_TTL": str(LEASE_TTL_SECONDS),
        "HFD_COLLECTOR_LEASE_RENEW_INTERVAL": str(LEASE_RENEW_SECONDS),
        "HFD_COLLECTOR_KNOWN_HOSTS": str(work_dir / f"known_hosts-{replica}"),
        "HFD_COLLECTOR_MULTILINE_QUIET_SECONDS": "0.5",
        "HFD_COLLECTOR_ACTIVE_POLL_DELAY": "0.2",
        "HFD_COLLECTOR_DEFAULT_INTERVAL": "1",
        "HFD_COLLECTOR_DISCOVERY_INTERVAL": "5",
        "HFD_COLLECTOR_BACKOFF_MAX": "2",
        "HFD_COLLECTOR_ACK_TIMEOUT": "5",
        "HFD_COLLECTOR_PUBLISH_RETRY_MAX": "2",
        "HFD_FAULTS_LEASE_TTL": str(LEASE_TTL_SECONDS),
        "HFD_FAULTS_LEASE_RENEW_INTERVAL": str(LEASE_RENEW_SECONDS),
        "HFD_FAULTS_ACK_WAIT_SECONDS": "10",
        "HFD_AI_ANTHROPIC_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        "HFD_AI_MODEL_FOR_EVENTS": "false",
        "HFD_INSTANCE": f"replica{replica}",
    }


class ReplicaSet:
    """Replica sets 1 and 2, each with one process of every service in ``SERVICES``."""

    def __init__(self, infra: Infra, nats_url: str, work_dir: Path) -> None:
        self.stacks = [
            Stack(infra, list(SERVICES), replica_env(nats_url, work_dir, index + 1)) for index in range(2)
        ]
        # Under the test's tmp_path, which pytest keeps after a failure; infra's folder is removed.
        for index, stack in enumerate(self.stacks):
            stack.logs_dir = work_dir / f"logs-replica{index + 1}"

    @property
    def gateway_urls(self) -> list[str]:
        return [stack.base_url for stack in self.stacks]

    def start(self, timeout: float = 120.0) -> "ReplicaSet":
        """Start all twelve processes at once, as a fresh deployment does, and wait for their pings.

        Either replica of a service replies to a ping, so a process that exits during its start
        shows up in ``Stack``'s liveness check, not in the pings.
        """
        deadline = time.monotonic() + timeout
        for stack in self.stacks:
            stack.logs_dir.mkdir(parents=True, exist_ok=True)
            for service in stack.services:
                stack.start_service(service)
        for stack in self.stacks:
            stack.wait_ready(max(1.0, deadline - time.monotonic()))
        return self

    def stop(self) -> None:
        for stack in self.stacks:
            stack.stop()

    def pid(self, service: str, replica: int) -> int:
        return self.stacks[replica].processes[service].pid

    def replica_of_pid(self, service: str, pid: int) -> int:
        """Return the index of the replica set whose ``service`` process has ``pid``."""
        for index, stack in enumerate(self.stacks):
            process = stack.processes.get(service)
            if process is not None and process.pid == pid:
                return index
        raise KeyError(f"no running {service} process with pid {pid}")

    def kill(self, service: str, replica: int) -> int:
        """SIGKILL one process (no clean shutdown, no lease release); return its exit status."""
        return self.stacks[replica].stop_service(service, signal.SIGKILL)

    def alive(self, service: str) -> list[int]:
        return [index for index, stack in enumerate(self.stacks) if service in stack.processes]

    def exited(self) -> list[str]:
        """Return ``<service> replica <n> (status <code>)`` for each process that exited unless the test stopped it."""
        return [
            f"{service} replica {index + 1} (status {process.returncode})"
            for index, stack in enumerate(self.stacks)
            for service, process in stack.processes.items()
            if process.poll() is not None
        ]

    def exited_log_tails(self, chars: int = 8000) -> str:
        """Return the end of the log of every process that ``exited()`` lists, for a failure report."""
        parts = []
        for index, stack in enumerate(self.stacks):
            for service, process in stack.processes.items():
                if process.poll() is None:
                    continue
                tail = (stack.logs_dir / f"{service}.log").read_text(errors="replace")[-chars:]
                parts.append(f"--- replica {index + 1} {service}, exit status {process.returncode} ---\n{tail}")
        return "\n".join(parts)

    def log_tails(self, chars: int = 2500) -> str:
        """The end of every service log of both replica sets, for a failure report."""
        parts = []
        for index, stack in enumerate(self.stacks):
            for service in stack.services:
                path = stack.logs_dir / f"{service}.log"
                if path.exists():
                    tail = path.read_text(errors="replace")[-chars:]
                    parts.append(f"--- replica {index + 1} {service} ({path}) ---\n{tail}")
        return "\n".join(parts)
