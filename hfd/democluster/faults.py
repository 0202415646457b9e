"""Fault scenarios the generator weaves into the logs, and what ends each one.

A scenario targets one daemon on one node. When injected it writes its onset records (and may
change files or the node state), then repeats records while active. It ends in one of these
ways, named by ``fixed_by``:

- ``restart``: the target daemon is started again through a simulated command;
- ``safemode_leave``: ``hdfs dfsadmin -safemode leave`` turned safe mode off;
- ``temp_dir_cleaned``: the filler files created in the node's temp dir are gone;
- ``datanode_dir_fixed``: the DataNode's ``current/VERSION`` is gone or carries the cluster id,
  and the DataNode is started again;
- ``expiry``: the scenario passes after ``duration`` seconds (a restart also ends it).
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hfd.democluster import javatraces
from hfd.democluster.context import DATANODE_XFER_PORT, ClusterContext, NodeIdentity
from hfd.democluster.daemons import daemon_spec
from hfd.democluster.layout import NodeLayout
from hfd.democluster.records import Record
from hfd.democluster.traffic import TrafficModel

# (daemon whose log receives the record, record)
Emission = tuple[str, Record]

NM = "org.apache.hadoop.yarn.server.nodemanager"
DATANODE = "org.apache.hadoop.hdfs.server.datanode.DataNode"
FILLER_FILE_BYTES = 256 * 1024


@dataclass
class FaultContext:
    """Node details a scenario acts on: shared ids, paths, random source and traffic models."""

    ctx: ClusterContext
    node: NodeIdentity
    layout: NodeLayout
    rng: random.Random
    traffic: dict[str, TrafficModel] = field(default_factory=dict)


class Scenario:
    """Base of the fault scenarios. Subclasses set the class attributes and the record builders."""

    name = ""
    target_daemons: tuple[str, ...] = ()
    fixed_by = "restart"
    repeat_seconds = 10.0
    duration: float | None = None
    suppresses_traffic = False
    stops_daemon = False
    # Relative chance of being picked by the fault schedule.
    weight = 1.0

    def target_daemon(self, daemons: tuple[str, ...] | list[str]) -> str | None:
        """Return the first target daemon the node runs, or None when the scenario does not apply."""
        return next((daemon for daemon in self.target_daemons if daemon in daemons), None)

    def prepare(self, fc: FaultContext) -> dict:
        """Change files on the node before the onset, and return details stored with the fault."""
        return {}

    def onset(self, fc: FaultContext, daemon: str) -> list[Emission]:
        raise NotImplementedError

    def repeat(self, fc: FaultContext, daemon: str) -> list[Emission]:
        return []

    def recovery(self, fc: FaultContext, daemon: str) -> list[Emission]:
        return []


class DiskFull(Scenario):
    name = "disk_full"
    target_daemons = ("datanode",)
    fixed_by = "temp_dir_cleaned"
    repeat_seconds = 8.0

    def prepare(self, fc: FaultContext) -> dict:
        spill_dir = fc.layout.temp_dir / "mapred" / "local"
        spill_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for _ in range(4):
            path = spill_dir / f"spill{fc.rng.randint(1000, 99999)}.out"
            path.write_bytes(b"\0" * FILLER_FILE_BYTES)
            files.append(str(path))
        return {"filler_files": files}

    def write_failure(self, fc: FaultContext) -> list[Emission]:
        block = f"{fc.ctx.block_pool_id}:{fc.ctx.next_block()}"
        source = f"/{fc.rng.choice(fc.ctx.datanodes or [fc.node]).address}:{fc.rng.randint(32768, 60999)}"
        stack = javatraces.no_space_left()
        return [
            ("datanode", Record("INFO", DATANODE, f"Exception for {block}", stack)),
            ("datanode", Record(
                "ERROR", DATANODE,
                f"{fc.node.name}:{DATANODE_XFER_PORT}:DataXceiver error processing WRITE_BLOCK operation  "
                f"src: {source} dst: /{fc.node.address}:{DATANODE_XFER_PORT}",
                stack,
            )),
        ]

    def onset(self, fc: FaultContext, daemon: str) -> list[Emission]:
        emissions = self.write_failure(fc)
        if "nodemanager" in fc.node.daemons:
            local_dir = fc.layout.nm_local_dir
            user_logs = fc.layout.log_dir / "userlogs"
            emissions += [
                ("nodemanager", Record(
                    "WARN", f"{NM}.DirectoryCollection",
                    f"Directory {local_dir} error, used space above threshold of 90.0%, removing from list of "
                    "valid directories",
                )),
                ("nodemanager", Record(
                    "ERROR", f"{NM}.LocalDirsHandlerService",
                    f"Most of the disks failed. 1/1 local-dirs usable space is below configured utilization "
                    f"percentage/no more usable space [ {local_dir} : used space above threshold of 90.0% ] ; "
                    f"1/1 log-dirs usable space is below configured utilization percentage/no more usable space "
                    f"[ {user_logs} : used space above threshold of 90.0% ] ",
                )),
            ]
        return emissions

    def repeat(self, fc: FaultContext, daemon: str) -> list[Emission]:
        return self.write_failure(fc)

    def recovery(self, fc: FaultContext, daemon: str) -> list[Emission]:
        if "nodemanager" not in fc.node.daemons:
            return []
        return [("nodemanager", Record(
            "INFO", f"{NM}.DirectoryCollection",
            f"Directory {fc.layout.nm_local_dir} passed disk check, adding to list of valid directories.",
        ))]


class SafeMode(Scenario):
    """The NameNode's resource checker finds its volume full and enters safe mode. The rejected
    writes are written by the NameNode and NodeManager traffic models while safe mode is on."""

    name = "safe_mode"
    target_daemons = ("namenode",)
    fixed_by = "safemode_leave"
    repeat_seconds = 30.0

    def onset(self, fc: FaultContext, daemon: str) -> list[Emission]:
        return [
            ("namenode", Record(
                "WARN", "org.apache.hadoop.hdfs.server.namenode.NameNodeResourceChecker",
                f"Space available on volume '{fc.layout.name_dir}' is 0, which is below the configured reserved "
                "amount 104857600",
            )),
            ("namenode", Record("WARN", "org.apache.hadoop.hdfs.server.namenode.FSNamesystem",
                                "NameNode low on available disk space. Entering safe mode.")),
            ("namenode", Record("INFO", "org.apache.hadoop.hdfs.StateChange", "STATE* Safe mode is ON.",
                                (javatraces.SAFE_MODE_RESOURCES_TIP,))),
        ]


class NameNodeUnreachable(Scenario):
    """The DataNode stops reaching the NameNode; its retries come from the DataNode traffic model."""

    name = "namenode_unreachable"
    target_daemons = ("datanode",)
    repeat_seconds = 1.0
    suppresses_traffic = True

    def onset(self, fc: FaultContext, daemon: str) -> list[Emission]:
        return self.repeat(fc, daemon)

    def repeat(self, fc: FaultContext, daemon: str) -> list[Emission]:
        model = fc.traffic.get("datanode")
        if model is None:
            return []
        return [("datanode", record) for record in model.unreachable_namenode_records()]


class ContainerOverMemory(Scenario):
    name = "container_memory"
    target_daemons = ("nodemanager",)
    fixed_by = "expiry"
    repeat_seconds = 20.0
    duration = 90.0
    weight = 1.5

    def onset(self, fc: FaultContext, daemon: str) -> list[Emission]:
        rng = fc.rng
        application = f"application_{fc.ctx.cluster_timestamp}_{rng.randint(1, 60):04d}"
        container = fc.ctx.container_id(application, 1, rng.randint(2, 40))
        attempt = f"attempt_{fc.ctx.cluster_timestamp}_{application[-4:]}_m_{rng.randint(0, 99):06d}_0"
        pid = rng.randint(2000, 60000)
        over = rng.randint(1_000_000, 300_000_000)
        java = "/usr/lib/jvm/java-8-openjdk-amd64/bin/java"
        dump = (
            f"Dump of the process-tree for {container} :",
            "\t|- PID PPID PGRPID SESSID CMD_NAME USER_MODE_TIME(MILLIS) SYSTEM_TIME(MILLIS) VMEM_USAGE(BYTES) "
            "RSSMEM_USAGE(PAGES) FULL_CMD_LINE",
            f"\t|- {pid} {pid - 2} {pid} {pid} (java) {rng.randint(2000, 90000)} {rng.randint(100, 4000)} "
            f"{rng.randint(2_200_000_000, 2_900_000_000)} {rng.randint(262_200, 300_000)} {java} "
            f"-Djava.net.preferIPv4Stack=true -Xmx820m org.apache.hadoop.mapred.YarnChild {fc.node.address} "
            f"{rng.randint(32768, 60999)} {attempt} 5 ",
            f"\t|- {pid - 2} {pid - 4} {pid - 2} {pid - 2} (bash) 0 0 115847168 352 /bin/bash -c {java} "
            f"-Xmx820m org.apache.hadoop.mapred.YarnChild {attempt} 5 1>stdout 2>stderr  ",
            "",
        )
        container_impl = f"{NM}.containermanager.container.ContainerImpl"
        return [
            ("nodemanager", Record(
                "WARN", f"{NM}.containermanager.monitor.ContainersMonitorImpl",
                f"Container [pid={pid},containerID={container}] is running {over}B beyond the 'PHYSICAL' memory "
                f"limit. Current usage: 1.{rng.randint(0, 4)} GB of 1 GB physical memory used; "
                f"{rng.uniform(2.2, 2.9):.1f} GB of 2.1 GB virtual memory used. Killing container.",
                dump,
            )),
            ("nodemanager", Record("INFO", container_impl,
                                   f"Container {container} transitioned from RUNNING to KILLING")),
            ("nodemanager", Record("INFO", f"{NM}.containermanager.launcher.ContainerLaunch",
                                   f"Cleaning up container {container}")),
            ("nodemanager", Record("WARN", f"{NM}.DefaultContainerExecutor",
                                   f"Exit code from container {container} is : 143")),
            ("nodemanager", Record("INFO", container_impl,
                                   f"Container {container} transitioned from KILLING to "
                                   "CONTAINER_CLEANEDUP_AFTER_KILL")),
        ]

    def repeat(self, fc: FaultContext, daemon: str) -> list[Emission]:
        return self.onset(fc, daemon)


class OutOfMemory(Scenario):
    """The JVM runs out of heap; YARN's uncaught exception handler halts it, so no SHUTDOWN_MSG follows."""

    name = "out_of_memory"
    target_daemons = ("nodemanager", "resourcemanager")
    stops_daemon = True
    weight = 0.7

    def onset(self, fc: FaultContext, daemon: str) -> list[Emission]:
        thread = "ContainersLauncher #3" if daemon == "nodemanager" else "SchedulerEventDispatcher:Event Processor"
        return [
            (daemon, Record(
                "WARN", "org.apache.hadoop.util.JvmPauseMonitor",
                "Detected pause in JVM or host machine (eg GC): pause of approximately "
                f"{fc.rng.randint(9000, 30000)}ms",
                (f"GC pool 'PS MarkSweep' had collection(s): count={fc.rng.randint(3, 9)} "
                 f"time={fc.rng.randint(9000, 30000)}ms",),
            )),
            (daemon, Record(
                "FATAL", "org.apache.hadoop.yarn.YarnUncaughtExceptionHandler",
                f"Thread Thread[{thread},5,main] threw an Error.  Shutting down now...",
                javatraces.out_of_memory(),
            )),
            (daemon, Record("INFO", "org.apache.hadoop.util.ExitUtil", "Halt with status -1: HaltException")),
        ]


class TooManyOpenFiles(Scenario):
    name = "too_many_open_files"
    target_daemons = ("datanode",)
    repeat_seconds = 3.0

    def onset(self, fc: FaultContext, daemon: str) -> list[Emission]:
        return [("datanode", Record("WARN", DATANODE, f"{fc.node.name}:{DATANODE_XFER_PORT}:DataXceiverServer: ",
                                    javatraces.too_many_open_files()))]

    def repeat(self, fc: FaultContext, daemon: str) -> list[Emission]:
        return self.onset(fc, daemon)


class IncompatibleClusterIds(Scenario):
    """The DataNode's storage was formatted for another cluster, so it exits at start.

    Injection rewrites ``current/VERSION`` with a foreign cluster id and restarts the DataNode,
    which fails. Every later start fails the same way until VERSION is removed or fixed.
    """

    name = "incompatible_cluster_ids"
    target_daemons = ("datanode",)
    fixed_by = "datanode_dir_fixed"
    stops_daemon = True
    weight = 0.5

    def prepare(self, fc: FaultContext) -> dict:
        foreign = f"CID-{fc.ctx.random_uuid()}"
        write_datanode_version(fc.layout.datanode_version_path, foreign, fc.ctx)
        return {"datanode_cluster_id": foreign}

    def onset(self, fc: FaultContext, daemon: str) -> list[Emission]:
        # The generator writes the restart around these records (see NodeRuntime.inject).
        return []

    def start_failure(self, fc: FaultContext, datanode_cluster_id: str) -> list[Emission]:
        spec = daemon_spec("datanode")
        data_dir = str(fc.layout.datanode_dir)
        actor = (f"Block pool <registering> (Datanode Uuid {fc.ctx.random_uuid()}) service to "
                 f"{fc.ctx.namenode_endpoint()}")
        return [
            ("datanode", Record(
                "WARN", "org.apache.hadoop.hdfs.server.common.Storage",
                f"Failed to add storage directory [DISK]file:{data_dir}",
                javatraces.incompatible_cluster_ids(data_dir, fc.ctx.cluster_id, datanode_cluster_id),
            )),
            ("datanode", Record("ERROR", spec.main_class, f"Initialization failed for {actor}. Exiting. ",
                                javatraces.all_directories_failed())),
            ("datanode", Record("WARN", spec.main_class, f"Ending block pool service for: {actor}")),
            ("datanode", Record("INFO", spec.main_class,
                                "Removed Block pool <registering> (Datanode Uuid unassigned)")),
            ("datanode", Record("WARN", spec.main_class, "Exiting Datanode")),
        ]


class JvmPause(Scenario):
    name = "jvm_pause"
    target_daemons = ("namenode", "resourcemanager", "datanode", "nodemanager")
    fixed_by = "expiry"
    repeat_seconds = 15.0
    duration = 60.0
    weight = 1.5

    def onset(self, fc: FaultContext, daemon: str) -> list[Emission]:
        pause = fc.rng.randint(6000, 40000)
        return [(daemon, Record(
            "WARN", "org.apache.hadoop.util.JvmPauseMonitor",
            f"Detected pause in JVM or host machine (eg GC): pause of approximately {pause}ms",
            (f"GC pool 'ConcurrentMarkSweep' had collection(s): count=1 time={pause - fc.rng.randint(50, 400)}ms",
             f"GC pool 'ParNew' had collection(s): count=1 time={fc.rng.randint(20, 300)}ms"),
        ))]

    def repeat(self, fc: FaultContext, daemon: str) -> list[Emission]:
        return self.onset(fc, daemon)


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        DiskFull(), SafeMode(), NameNodeUnreachable(), ContainerOverMemory(), OutOfMemory(),
        TooManyOpenFiles(), IncompatibleClusterIds(), JvmPause(),
    )
}


def scenario_by_name(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown fault scenario {name!r}; known scenarios: {', '.join(sorted(SCENARIOS))}") from None


def write_datanode_version(path: Path, cluster_id: str, ctx: ClusterContext) -> None:
    """Write a DataNode storage VERSION file in the Java properties layout Hadoop uses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        datetime.now(UTC).strftime("#%a %b %d %H:%M:%S UTC %Y"),
        f"storageID=DS-{ctx.random_uuid()}",
        f"clusterID={cluster_id}",
        "cTime=0",
        f"datanodeUuid={ctx.random_uuid()}",
        "storageType=DATA_NODE",
        "layoutVersion=-57",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_version_cluster_id(path: Path) -> str | None:
    """Return the clusterID of a VERSION file, or None when the file is missing or has none."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    for line in text.splitlines():
        if line.startswith("clusterID="):
            return line.removeprefix("clusterID=").strip()
    return None
