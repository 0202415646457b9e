"""The kills, one after another, each followed by the check that shows the system recovered.

Every step records the seconds from the SIGKILL until its check passed (None when it did not
within the step's timeout), so the summary shows a failed recovery instead of hiding it.
``recovery.py`` contains the later steps: the NATS server's restart and the PostgreSQL crash.
"""

import asyncio
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from hfd.democluster.faults import SCENARIOS
from tests.killable_postgres import KillablePostgres
from tests.reliability.api import GatewayClient
from tests.reliability.demo import TimedDemo
from tests.reliability.natscluster import NatsCluster
from tests.reliability.probes import AI_DURABLE, FAULTS_LOGS_DURABLE, ClusterBus, Database, wait_until
from tests.reliability.replicas import ReplicaSet

STEP_TIMEOUT_SECONDS = 60.0
# A faults consumer backlog at or below this many LOGS messages counts as caught up while the
# demo keeps writing. The four nodes publish about 20 batches a second in this test.
CAUGHT_UP_BACKLOG = 5
# Logger name of the records the collector step writes; detection has no signature for it.
MARKER_LOGGER = "org.apache.hadoop.util.FailoverMarker"


@dataclass
class StepResult:
    """One step: what was killed or restarted, what the check waited for, and the seconds until it passed."""

    step: str
    target: str
    check: str
    seconds: float | None
    details: dict = field(default_factory=dict)


@dataclass
class FailoverRun:
    """Everything the kill steps act on and read."""

    nats: NatsCluster
    replicas: ReplicaSet
    api: GatewayClient
    bus: ClusterBus
    db: Database
    demo: TimedDemo
    postgres: KillablePostgres
    cluster_uuid: str
    node_names: dict[str, str]
    results: list[StepResult] = field(default_factory=list)
    writing_seconds: float = 0.0
    # Name of the NATS server that kill_nats_server killed, which the restart step starts again.
    killed_nats_server: str | None = None

    def record(self, result: StepResult) -> StepResult:
        self.results.append(result)
        return result

    def summary(self) -> list[dict]:
        return [_rounded(asdict(result)) for result in self.results]

    async def api_recovery(self, method: str, path: str, since: float) -> float | None:
        """Retry a gateway call until it succeeds; return the seconds from ``since``, None on timeout."""
        try:
            await self.api.call_until_ok(method, path, timeout=STEP_TIMEOUT_SECONDS)
        except TimeoutError:
            return None
        return time.monotonic() - since

    # NATS

    async def kill_nats_server(self) -> StepResult:
        """Kill the server that leads the LOGS stream, the harder case of the three."""
        leader = await self.bus.stream_leader("LOGS")
        faults_before = await self.bus.faults_leader_pid()
        collectors_before = await self.bus.collector_holders(list(self.node_names))
        self.nats.kill(leader)
        self.killed_nats_server = leader
        killed = time.monotonic()
        api_check = asyncio.create_task(self.api_recovery("GET", "/clusters", since=killed))
        # The first read waits out the stream's leader election, so new publishes count from there.
        seq_before = await _retry(self.bus.last_seq)

        async def stored_again() -> bool:
            return await self.bus.last_seq() > seq_before

        stream_seconds = await wait_until(stored_again, STEP_TIMEOUT_SECONDS, since=killed)
        api_seconds = await api_check
        new_leader = await _retry(lambda: self.bus.stream_leader("LOGS"))
        collectors_after = await _retry(lambda: self.bus.collector_holders(list(self.node_names)))
        moved = sum(1 for node, pid in collectors_after.items() if pid != collectors_before.get(node))
        details = {
            "logs_stored_s": stream_seconds,
            "api_s": api_seconds,
            "new_logs_leader": new_leader,
            "faults_lease_moved": faults_before != await _retry(self.bus.faults_leader_pid),
            "collector_leases_moved": moved,
        }
        return self.record(
            StepResult(
                "nats-server",
                f"{leader} (LOGS stream leader)",
                "a new LOGS publish is stored and GET /clusters succeeds",
                slowest(stream_seconds, api_seconds),
                details,
            )
        )

    # Request/reply services

    async def kill_request_service(self, service: str, method: str, path: str, check: str) -> StepResult:
        replica = self.replicas.alive(service)[0]
        pid = self.replicas.pid(service, replica)
        self.replicas.kill(service, replica)
        seconds = await self.api_recovery(method, path, since=time.monotonic())
        return self.record(StepResult(service, f"replica {replica + 1} (pid {pid})", check, seconds))

    # Faults

    async def kill_faults_leader(self) -> StepResult:
        """Kill the faults replica holding the consumers lease; the other must take over and catch up."""
        leader_pid = await self.bus.faults_leader_pid()
        assert leader_pid is not None, "no faults replica holds the consumers lease"
        replica = self.replicas.replica_of_pid("faults", leader_pid)
        victim = self.replicas.pid("faults", replica)
        survivor = self.replicas.pid("faults", 1 - replica)
        self.replicas.kill("faults", replica)
        killed = time.monotonic()
        api_check = asyncio.create_task(self.api_recovery("GET", "/faults", since=killed))

        async def survivor_leads() -> bool:
            return await self.bus.faults_leader_pid() == survivor

        async def caught_up() -> bool:
            return await self.bus.consumer_backlog("LOGS", FAULTS_LOGS_DURABLE) <= CAUGHT_UP_BACKLOG

        lease_seconds = await wait_until(survivor_leads, STEP_TIMEOUT_SECONDS, since=killed)
        backlog_seconds = await wait_until(caught_up, STEP_TIMEOUT_SECONDS, since=killed)
        api_seconds = await api_check
        return self.record(
            StepResult(
                "faults",
                f"replica {replica + 1} (pid {victim}, lease holder)",
                f"the survivor holds the faults lease and the {FAULTS_LOGS_DURABLE} backlog is <= "
                f"{CAUGHT_UP_BACKLOG}; GET /faults succeeds",
                slowest(lease_seconds, backlog_seconds, api_seconds),
                {"lease_s": lease_seconds, "backlog_s": backlog_seconds, "api_s": api_seconds},
            )
        )

    # AI

    async def kill_ai_replica(self) -> StepResult:
        """Kill an AI replica, inject a fault, and wait until every incident (the new one too) is diagnosed."""
        replica = self.replicas.alive("ai")[0]
        pid = self.replicas.pid("ai", replica)
        self.replicas.kill("ai", replica)
        killed, killed_at = time.monotonic(), datetime.now(UTC)
        injected = self.inject_new_fault()
        seconds = await self.diagnose_all(opened_after=killed_at, since=killed)
        details = {"injected": injected}
        if seconds is None:
            details["undiagnosed"] = await self.db.undiagnosed(self.cluster_uuid)
        return self.record(
            StepResult(
                "ai",
                f"replica {replica + 1} (pid {pid})",
                "an incident opened after the kill is diagnosed, no incident lacks a diagnosis, "
                f"and the {AI_DURABLE} backlog is 0",
                seconds,
                details,
            )
        )

    async def diagnose_all(self, opened_after: datetime, since: float) -> float | None:
        """Wait until an incident opened after ``opened_after`` is diagnosed and every other one is too.

        The ``ai_faults`` backlog must be 0 as well. Return the seconds from ``since``, None on timeout.
        """

        async def all_diagnosed() -> bool:
            if await self.db.diagnosed_since(self.cluster_uuid, opened_after) == 0:
                return False
            if await self.db.undiagnosed(self.cluster_uuid):
                return False
            return await self.bus.consumer_backlog("FAULTS", AI_DURABLE) == 0

        return await wait_until(all_diagnosed, STEP_TIMEOUT_SECONDS * 1.5, since=since, interval=0.5)

    def inject_new_fault(self) -> str | None:
        """Start a fault scenario that is not active on its node yet and keeps its daemon running.

        A scenario that never ran on its node comes first, because it most likely opens a new
        incident rather than adding to one. Return ``node:scenario``, or None when none can start.
        """

        def candidates() -> list[tuple[bool, str, str]]:
            options = []
            for name, runtime in self.demo.demo.runtimes.items():
                ran = {entry["scenario"] for entry in runtime.store.read().get("fault_history", [])}
                for scenario in runtime.applicable_scenarios():
                    if not SCENARIOS[scenario].stops_daemon:
                        options.append((scenario in ran, name, scenario))
            return sorted(options)

        options = self.demo.call(candidates)
        if not options:
            return None
        _ran_before, node, scenario = options[0]
        self.demo.call(self.demo.demo.inject_fault, node, scenario)
        return f"{node}:{scenario}"

    # Collector

    async def kill_busiest_collector(self) -> StepResult:
        """Kill the collector holding more node leases; the survivor must take every node and publish again."""
        node_uuids = list(self.node_names)
        holders = await self.bus.collector_holders(node_uuids)
        victim_pid, lease_count = Counter(pid for pid in holders.values() if pid is not None).most_common(1)[0]
        replica = self.replicas.replica_of_pid("collector", victim_pid)
        survivor = self.replicas.pid("collector", 1 - replica)
        victim_nodes = [self.node_names[node] for node, pid in holders.items() if pid == victim_pid]
        self.replicas.kill("collector", replica)
        killed = time.monotonic()

        async def survivor_holds_all() -> bool:
            return set((await self.bus.collector_holders(node_uuids)).values()) == {survivor}

        lease_seconds = await wait_until(survivor_holds_all, STEP_TIMEOUT_SECONDS, since=killed)
        publish_seconds = await self.collect_markers(victim_nodes, since=killed)
        return self.record(
            StepResult(
                "collector",
                f"replica {replica + 1} (pid {victim_pid}, {lease_count} of {len(node_uuids)} node leases)",
                "the survivor holds every node lease, and a record written to each of the victim's nodes "
                "after that is published and committed",
                slowest(lease_seconds, publish_seconds),
                {"lease_s": lease_seconds, "marker_collected_s": publish_seconds, "victim_nodes": victim_nodes},
            )
        )

    async def collect_markers(self, nodes: list[str], since: float) -> float | None:
        """Write a record to each node and wait until it is published and its offset committed.

        A node whose daemons a fault stopped writes nothing, so the marker shows that collection
        from it works. Return the seconds from ``since``, None on timeout.
        """
        marked = time.monotonic()
        ends = {name: self.append_marker(name) for name in nodes}
        uuid_of = {name: node_uuid for node_uuid, name in self.node_names.items()}

        async def markers_collected() -> bool:
            if not all(self.bus.last_publish.get(name, 0.0) > marked for name in nodes):
                return False
            positions = await self.db.positions(list(self.node_names))
            return all(
                positions.get((uuid_of[name], path), (0, 0, True))[1] >= end for name, (path, end) in ends.items()
            )

        return await wait_until(markers_collected, STEP_TIMEOUT_SECONDS, since=since)

    def append_marker(self, node: str) -> tuple[str, int]:
        """Append an INFO record to the node's first daemon log; return the file path and its new size."""
        daemon = self.demo.manifest.node(node).roles[0]
        now = datetime.now()
        line = f"{now:%Y-%m-%d %H:%M:%S},{now.microsecond // 1000:03d} INFO {MARKER_LOGGER}: failover marker"
        path = self.demo.call(self.demo.demo.append_lines, node, daemon, [line])
        return str(path), os.path.getsize(path)


def slowest(*parts: float | None) -> float | None:
    """Return the seconds until the last of the checks passed (each counted from the kill), None if one failed."""
    if any(part is None for part in parts):
        return None
    return max(parts)


async def _retry(read, timeout: float = STEP_TIMEOUT_SECONDS):
    """Return ``await read()`` once it stops raising (JetStream returns errors while it elects a leader)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await read()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


def _rounded(value):
    """Round the floats of a JSON-like value to hundredths of a second."""
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value
