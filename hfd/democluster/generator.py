"""Generated logs of one node: its simulated daemons, their reactions to state changes and
the fault scenarios active on it.

Each daemon has a traffic task that writes about ``lines_per_second`` records per second
(exponentially distributed gaps), and one sync task per node polls the state file that the
simulated commands change. The sync task writes SHUTDOWN_MSG when a daemon was stopped,
a new .out file and STARTUP_MSG when it was started, the safe mode transitions, the repeats
of active faults, and clears faults whose fix it observes.
"""

import asyncio
import logging
import random
import time
from pathlib import Path

from hfd.democluster.config import DemoClusterConfig
from hfd.democluster.context import ClusterContext, NodeIdentity
from hfd.democluster.daemons import audit_log_file_name, daemon_spec, log_file_name
from hfd.democluster.faults import (
    SCENARIOS,
    FaultContext,
    IncompatibleClusterIds,
    read_version_cluster_id,
    scenario_by_name,
    write_datanode_version,
)
from hfd.democluster.javatraces import SAFE_MODE_MANUAL_TIP, SAFE_MODE_RESOURCES_TIP
from hfd.democluster.layout import NodeLayout
from hfd.democluster.logwriter import LogWriter, rotate_out_files, rotation_style
from hfd.democluster.records import (
    Record,
    format_record,
    out_file_text,
    shutdown_banner,
    signal_handlers_record,
    sigterm_record,
    startup_banner,
)
from hfd.democluster.state import StateStore, record_fault_cleared, utc_now_iso
from hfd.democluster.traffic import NodePaths, TrafficModel
from hfd.democluster.traffic_hdfs import AUDIT_LOGGER, DataNodeTraffic, NameNodeTraffic, SecondaryNameNodeTraffic
from hfd.democluster.traffic_mapred import JobHistoryServerTraffic
from hfd.democluster.traffic_yarn import NodeManagerTraffic, ResourceManagerTraffic

logger = logging.getLogger(__name__)

TRAFFIC_MODELS: dict[str, type[TrafficModel]] = {
    "namenode": NameNodeTraffic,
    "secondarynamenode": SecondaryNameNodeTraffic,
    "datanode": DataNodeTraffic,
    "resourcemanager": ResourceManagerTraffic,
    "nodemanager": NodeManagerTraffic,
    "historyserver": JobHistoryServerTraffic,
}
RESTART_FIXABLE = ("restart", "expiry")


class NodeRuntime:
    """Log generation for one node with generated logs."""

    def __init__(self, identity: NodeIdentity, layout: NodeLayout, config: DemoClusterConfig,
                 ctx: ClusterContext, rng: random.Random) -> None:
        self.identity = identity
        self.layout = layout
        self.config = config
        self.ctx = ctx
        self.rng = rng
        self.store = StateStore(layout.state_path, layout.state_lock_path)
        paths = NodePaths(layout.hadoop_home, layout.datanode_dir, layout.name_dir, layout.nm_local_dir,
                          layout.log_dir)
        self.models = {daemon: TRAFFIC_MODELS[daemon](ctx, identity, paths, rng) for daemon in identity.daemons}
        self.fault_context = FaultContext(ctx, identity, layout, rng, self.models)
        self.writers: dict[str, LogWriter] = {}
        self.running = dict.fromkeys(identity.daemons, False)
        self.generation = dict.fromkeys(identity.daemons, 0)
        self.safemode_reason: str | None = None
        self._state: dict = {}
        self._next_repeat: dict[str, float] = {}
        self._tasks: list[asyncio.Task] = []

    @property
    def name(self) -> str:
        return self.identity.name

    # Log files

    def log_types(self) -> list[str]:
        types = list(self.identity.daemons)
        if "namenode" in types:
            types.append("audit")
        return types

    def writer(self, log_type: str) -> LogWriter:
        if log_type not in self.writers:
            if log_type == "audit":
                file_name, style = audit_log_file_name(), "rename"
            else:
                file_name = log_file_name(log_type, self.ctx.user, self.name)
                style = rotation_style(self.config.rotation, log_type)
            self.writers[log_type] = LogWriter(self.layout.log_dir / file_name, self.config.max_log_bytes,
                                               self.config.max_backup_index, style)
        return self.writers[log_type]

    def emit(self, daemon: str, records: list[Record]) -> None:
        for record in records:
            target = "audit" if record.logger == AUDIT_LOGGER and daemon == "namenode" else daemon
            self.writer(target).write(format_record(record))

    def append_lines(self, log_type: str, lines: list[str]) -> Path:
        """Append exact lines to one log (a daemon name or ``audit``) and return the file path."""
        if log_type not in self.log_types():
            raise ValueError(f"node {self.name} has no log type {log_type!r}; use one of {self.log_types()}")
        writer = self.writer(log_type)
        writer.write("".join(line if line.endswith("\n") else f"{line}\n" for line in lines))
        return writer.path

    # Life cycle

    async def start(self) -> None:
        self._state = self.store.read()
        for daemon in self.identity.daemons:
            entry = self._state["daemons"][daemon]
            self.generation[daemon] = entry["generation"]
            if entry["running"]:
                self._start_daemon(daemon)

        self._tasks = [asyncio.create_task(self._traffic_loop(daemon), name=f"traffic-{self.name}-{daemon}")
                       for daemon in self.identity.daemons]
        self._tasks.append(asyncio.create_task(self._sync_loop(), name=f"sync-{self.name}"))
        logger.info("node %s generating logs for %s", self.name, ", ".join(self.identity.daemons))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

        for daemon, running in self.running.items():
            if running:
                self._write_shutdown(daemon)
                self.running[daemon] = False
        for writer in self.writers.values():
            writer.close()

    def _start_daemon(self, daemon: str) -> None:
        spec = daemon_spec(daemon)
        out_path = self.layout.log_dir / log_file_name(daemon, self.ctx.user, self.name, ".out")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        rotate_out_files(out_path)
        out_path.write_text(out_file_text(self.ctx.user), encoding="utf-8")

        banner = startup_banner(spec, self.name, self.identity.address, self.ctx.user, str(self.layout.hadoop_home))
        self.emit(daemon, [banner, signal_handlers_record(spec)])

        if daemon == "datanode" and not self._datanode_storage_loads():
            return

        self.models[daemon].reset()
        self.emit(daemon, self.models[daemon].startup_records())
        self.running[daemon] = True
        logger.info("node %s: %s started (generation %d)", self.name, daemon, self.generation[daemon])

    def _datanode_storage_loads(self) -> bool:
        """Check the DataNode storage at start. While the incompatible-cluster-ids fault is in
        place, write the failure and stop the DataNode again."""
        if IncompatibleClusterIds.name not in self._state.get("faults", {}):
            return True

        version_path = self.layout.datanode_version_path
        found = read_version_cluster_id(version_path)
        if found is not None and found != self.ctx.cluster_id:
            scenario = SCENARIOS[IncompatibleClusterIds.name]
            self._emit_all(scenario.start_failure(self.fault_context, found))
            self._write_shutdown("datanode", signalled=False)
            self.running["datanode"] = False
            self._set_stopped("datanode", IncompatibleClusterIds.name)
            logger.info("node %s: datanode exits at start, storage has cluster id %s", self.name, found)
            return False

        # A missing VERSION means the storage was wiped, so the DataNode formats it for this cluster.
        write_datanode_version(version_path, self.ctx.cluster_id, self.ctx)
        self._clear_fault(IncompatibleClusterIds.name, "datanode_dir_fixed")
        return True

    def _write_shutdown(self, daemon: str, signalled: bool = True) -> None:
        """Write the shutdown of a daemon: SIGTERM (unless it exits by itself) and SHUTDOWN_MSG."""
        spec = daemon_spec(daemon)
        records = [sigterm_record(spec)] if signalled else []
        records.append(shutdown_banner(spec, self.name, self.identity.address))
        self.emit(daemon, records)
        logger.info("node %s: %s stopped", self.name, daemon)

    def _set_stopped(self, daemon: str, reason: str) -> None:
        def change(state: dict) -> dict:
            state["daemons"][daemon].update(running=False, changed_at=utc_now_iso(), stop_reason=reason)
            return state

        self._state = self.store.update(change)

    def _emit_all(self, emissions) -> None:
        for daemon, record in emissions:
            self.emit(daemon, [record])

    # Loops

    async def _traffic_loop(self, daemon: str) -> None:
        model = self.models[daemon]
        rate = self.config.lines_per_second * model.rate_factor
        while True:
            await asyncio.sleep(self.rng.expovariate(rate))
            if not self.running[daemon] or self._traffic_suppressed(daemon):
                continue
            try:
                self.emit(daemon, model.next_records())
            except Exception:
                # A failed write or a generator bug must not end the demo's traffic silently.
                logger.exception("node %s: writing the %s log failed; retrying in 5 s", self.name, daemon)
                await asyncio.sleep(5)

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.state_poll_interval)
            try:
                self.sync()
            except Exception:
                # A damaged state file (edited by hand, say) must not end the reactions for good.
                logger.exception("node %s: state sync failed; retrying in 5 s", self.name)
                await asyncio.sleep(5)

    def _traffic_suppressed(self, daemon: str) -> bool:
        for name, fault in self._state.get("faults", {}).items():
            if fault["daemon"] == daemon and SCENARIOS[name].suppresses_traffic:
                return True
        return False

    # State reconciliation

    def sync(self) -> None:
        """Bring the logs in line with the state file once. The sync task calls this every poll."""
        self._state = self.store.read()
        self._reconcile_daemons()
        self._reconcile_safemode()
        self._check_fault_fixes()
        self._write_fault_repeats()

    def _reconcile_daemons(self) -> None:
        for daemon in self.identity.daemons:
            desired = self._state["daemons"][daemon]
            if desired["generation"] != self.generation[daemon]:
                if self.running[daemon]:
                    self._write_shutdown(daemon)
                    self.running[daemon] = False
                self.generation[daemon] = desired["generation"]
                self._clear_faults_on_restart(daemon)
                if desired["running"]:
                    self._start_daemon(daemon)
            elif self.running[daemon] and not desired["running"]:
                self._write_shutdown(daemon)
                self.running[daemon] = False
            elif not self.running[daemon] and desired["running"]:
                self._start_daemon(daemon)

    def _clear_faults_on_restart(self, daemon: str) -> None:
        for name, fault in list(self._state.get("faults", {}).items()):
            if fault["daemon"] == daemon and SCENARIOS[name].fixed_by in RESTART_FIXABLE:
                self._clear_fault(name, "restart")

        if daemon == "namenode" and self._state.get("safemode"):
            # A new NameNode process leaves safe mode once the block reports are in.
            def leave(state: dict) -> dict:
                state["safemode"] = False
                state["safemode_reason"] = None
                record_fault_cleared(state, "safe_mode", "restart")
                return state

            self._state = self.store.update(leave)
            self.safemode_reason = None

    def _reconcile_safemode(self) -> None:
        if "namenode" not in self.identity.daemons:
            return
        reason = None
        if self._state.get("safemode"):
            reason = self._state.get("safemode_reason") or "manual"
        if reason == self.safemode_reason:
            return

        state_change = "org.apache.hadoop.hdfs.StateChange"
        if self.running["namenode"]:
            if reason is None:
                self.emit("namenode", [Record("INFO", state_change, "STATE* Safe mode is OFF"),
                                       Record("INFO", state_change, "STATE* Leaving safe mode after 0 secs")])
            elif self.safemode_reason is None:
                tip = SAFE_MODE_RESOURCES_TIP if reason == "resources" else SAFE_MODE_MANUAL_TIP
                self.emit("namenode", [Record("INFO", state_change, "STATE* Safe mode is ON.", (tip,))])
        self.safemode_reason = reason

    def _check_fault_fixes(self) -> None:
        now = time.time()
        for name, fault in list(self._state.get("faults", {}).items()):
            scenario = SCENARIOS[name]
            details = fault.get("details", {})
            cleared_by = None
            if scenario.fixed_by == "temp_dir_cleaned":
                if not any(Path(path).exists() for path in details.get("filler_files", [])):
                    cleared_by = "temp_dir_cleaned"
            elif scenario.fixed_by == "safemode_leave":
                if not self._state.get("safemode"):
                    cleared_by = "safemode_leave"
            elif scenario.fixed_by == "expiry" and now - fault["since_epoch"] >= (scenario.duration or 0):
                cleared_by = "expiry"

            if cleared_by is not None:
                self._clear_fault(name, cleared_by)

    def _write_fault_repeats(self) -> None:
        now = time.monotonic()
        for name, fault in self._state.get("faults", {}).items():
            daemon = fault["daemon"]
            if not self.running.get(daemon) or now < self._next_repeat.get(name, 0.0):
                continue
            scenario = SCENARIOS[name]
            self._emit_all(scenario.repeat(self.fault_context, daemon))
            self._next_repeat[name] = now + scenario.repeat_seconds * self.rng.uniform(0.7, 1.3)

    def _clear_fault(self, name: str, cleared_by: str) -> None:
        cleared = self.store.update(lambda state: record_fault_cleared(state, name, cleared_by))
        self._state = self.store.read()
        self._next_repeat.pop(name, None)
        if not cleared:
            return

        scenario = SCENARIOS[name]
        daemon = scenario.target_daemon(self.identity.daemons)
        if daemon is not None:
            self._emit_all(scenario.recovery(self.fault_context, daemon))
        logger.info("node %s: fault %s cleared by %s", self.name, name, cleared_by)

    # Fault injection

    def active_faults(self) -> dict[str, dict]:
        return dict(self._state.get("faults", {}))

    def applicable_scenarios(self) -> list[str]:
        """Scenarios that could start now: target daemon running and scenario not active."""
        names = []
        for name, scenario in SCENARIOS.items():
            daemon = scenario.target_daemon(self.identity.daemons)
            if daemon is not None and self.running[daemon] and name not in self._state.get("faults", {}):
                names.append(name)
        return names

    def inject(self, name: str) -> dict:
        """Start a fault scenario now. Raises KeyError or ValueError when it cannot start here."""
        scenario = scenario_by_name(name)
        daemon = scenario.target_daemon(self.identity.daemons)
        if daemon is None:
            raise ValueError(f"fault {name} needs one of {scenario.target_daemons}, which node {self.name} "
                             f"does not run (it runs {', '.join(self.identity.daemons)})")
        if not self.running[daemon]:
            raise ValueError(f"fault {name} targets {daemon} on node {self.name}, which is stopped; start it first")
        if name in self._state.get("faults", {}):
            raise ValueError(f"fault {name} is already active on node {self.name}")

        details = scenario.prepare(self.fault_context)
        fault = {"daemon": daemon, "since": utc_now_iso(), "since_epoch": time.time(),
                 "generation": self.generation[daemon], "details": details}

        def change(state: dict) -> dict:
            state["faults"][name] = fault
            if name == "safe_mode":
                state["safemode"] = True
                state["safemode_reason"] = "resources"
            if scenario.stops_daemon:
                state["daemons"][daemon].update(running=False, changed_at=utc_now_iso(), stop_reason=name)
            return state

        self._state = self.store.update(change)
        if name == "safe_mode":
            self.safemode_reason = "resources"

        if name == IncompatibleClusterIds.name:
            self._inject_storage_failure(details["datanode_cluster_id"])
        else:
            self._emit_all(scenario.onset(self.fault_context, daemon))
        if scenario.stops_daemon:
            self.running[daemon] = False

        self._next_repeat[name] = time.monotonic() + scenario.repeat_seconds
        logger.info("node %s: fault %s injected on %s", self.name, name, daemon)
        return fault

    def _inject_storage_failure(self, datanode_cluster_id: str) -> None:
        """Write an operator's restart of the DataNode that fails to load its re-formatted storage."""
        spec = daemon_spec("datanode")
        self._write_shutdown("datanode")
        banner = startup_banner(spec, self.name, self.identity.address, self.ctx.user, str(self.layout.hadoop_home))
        self.emit("datanode", [banner, signal_handlers_record(spec)])
        scenario = SCENARIOS[IncompatibleClusterIds.name]
        self._emit_all(scenario.start_failure(self.fault_context, datanode_cluster_id))
        self._write_shutdown("datanode", signalled=False)
