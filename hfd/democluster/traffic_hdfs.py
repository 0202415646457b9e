"""Normal log traffic of the HDFS daemons: NameNode, DataNode and SecondaryNameNode.

Heartbeats are logged at DEBUG level by real DataNodes and NameNodes, so the INFO-level
traffic here shows block writes, reads, block reports and deletions instead.
"""

from hfd.democluster.context import DATANODE_XFER_PORT, NAMENODE_HTTP_PORT, NAMENODE_RPC_PORT
from hfd.democluster.javatraces import (
    SAFE_MODE_MANUAL_TIP,
    SAFE_MODE_RESOURCES_TIP,
    connection_refused,
    retry_message,
)
from hfd.democluster.records import Record
from hfd.democluster.traffic import TrafficModel

STATE_CHANGE = "org.apache.hadoop.hdfs.StateChange"
BLOCK_STATE_CHANGE = "BlockStateChange"
FS_NAMESYSTEM = "org.apache.hadoop.hdfs.server.namenode.FSNamesystem"
AUDIT_LOGGER = "FSNamesystem.audit"
CLIENT_TRACE = "org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace"
IPC_CLIENT = "org.apache.hadoop.ipc.Client"
BLOCK_SIZE = 134217728

FILE_NAMES = ("part-r-00000", "part-m-00001", "events.avro", "access.log.gz", "job.xml", "job.jar")
# HDFS paths that appear in messages (not local files).
FOLDERS = ("/user/hadoop/input", "/user/hadoop/output", "/tmp/hadoop-yarn/staging/hadoop/.staging",  # noqa: S108
           "/data/raw/2026/12", "/user/hive/warehouse/sales")


def dfs_client(rng) -> str:
    return f"DFSClient_NONMAPREDUCE_{rng.randint(-2_000_000_000, 2_000_000_000)}_1"


class NameNodeTraffic(TrafficModel):
    daemon = "namenode"

    def startup_records(self) -> list[Record]:
        name = self.node.name
        datanodes = len(self.ctx.datanodes)
        return [
            self.record(f"fs.defaultFS is hdfs://{name}:{NAMENODE_RPC_PORT}"),
            self.record(f"Clients should use {name}:{NAMENODE_RPC_PORT} to access this namenode/service."),
            self.record(f"Finished loading FSImage in {self.rng.randint(80, 400)} msecs", FS_NAMESYSTEM),
            self.record(f"NameNode RPC up at: {name}/{self.node.address}:{NAMENODE_RPC_PORT}"),
            self.record("STATE* Leaving safe mode after 0 secs", STATE_CHANGE),
            self.record(f"STATE* Network topology has 1 racks and {datanodes} datanodes", STATE_CHANGE),
            self.record("STATE* UnderReplicatedBlocks has 0 blocks", STATE_CHANGE),
        ]

    def condition_records(self) -> list[Record] | None:
        reason = self.ctx.safemode_reason()
        if reason is None or self.rng.random() > 0.5:
            return None
        tip = SAFE_MODE_RESOURCES_TIP if reason == "resources" else SAFE_MODE_MANUAL_TIP
        return [self.safe_mode_rejection(tip)]

    def safe_mode_rejection(self, tip: str) -> Record:
        """Build the IPC server's line for a create call rejected in safe mode. It has no stack
        because Hadoop logs SafeModeException as a terse exception."""
        path = f"{self.rng.choice(FOLDERS)}/{self.rng.choice(FILE_NAMES)}._COPYING_"
        client = self.rng.choice(self.ctx.datanodes or [self.node])
        handler = self.rng.randint(0, 9)
        message = (
            f"IPC Server handler {handler} on default port {NAMENODE_RPC_PORT}, call Call#{self.rng.randint(10, 9999)} "
            f"Retry#0 org.apache.hadoop.hdfs.protocol.ClientProtocol.create from {client.address}:"
            f"{self.client_port()}: org.apache.hadoop.hdfs.server.namenode.SafeModeException: "
            f"Cannot create file{path}. Name node is in safe mode."
        )
        return self.record(message, "org.apache.hadoop.ipc.Server", detail=(tip,))

    def workflows(self):
        return [
            (5.0, self.write_file),
            (3.0, self.read_file),
            (1.0, self.process_report),
            (1.0, self.delete_file),
            (0.5, self.roll_edit_log),
            (0.5, self.cache_rescan),
        ]

    def audit(self, command: str, path: str, client: str, dst: str = "null", perm: str = "null") -> Record:
        message = (
            f"allowed=true\tugi={self.ctx.user} (auth:SIMPLE)\tip=/{client}\tcmd={command}\tsrc={path}"
            f"\tdst={dst}\tperm={perm}\tproto=rpc"
        )
        return Record("INFO", AUDIT_LOGGER, message)

    def write_file(self) -> list[Record]:
        rng = self.rng
        path = f"{rng.choice(FOLDERS)}/{rng.choice(FILE_NAMES)}"
        temporary = f"{path}._COPYING_"
        client = rng.choice(self.ctx.datanodes or [self.node]).address
        block = self.ctx.next_block()
        replicas = rng.sample(self.ctx.datanodes, k=min(2, len(self.ctx.datanodes))) or [self.node]
        replica_list = ", ".join(f"{node.address}:{DATANODE_XFER_PORT}" for node in replicas)
        size = rng.randint(1024, BLOCK_SIZE)
        records = [
            self.audit("create", temporary, client, perm=f"{self.ctx.user}:supergroup:rw-r--r--"),
            self.record(f"BLOCK* allocate {block}, replicas={replica_list} for {temporary}", STATE_CHANGE),
        ]
        for node in replicas:
            records.append(self.record(
                f"BLOCK* addStoredBlock: {node.address}:{DATANODE_XFER_PORT} is added to {block} (size={size})",
                BLOCK_STATE_CHANGE,
            ))
        records.append(self.record(f"DIR* completeFile: {temporary} is closed by {dfs_client(rng)}", STATE_CHANGE))
        records.append(self.audit("rename", temporary, client, dst=path,
                                  perm=f"{self.ctx.user}:supergroup:rw-r--r--"))
        return records

    def read_file(self) -> list[Record]:
        path = f"{self.rng.choice(FOLDERS)}/{self.rng.choice(FILE_NAMES)}"
        client = self.rng.choice(self.ctx.datanodes or [self.node]).address
        command = self.rng.choice(["open", "getfileinfo", "listStatus"])
        return [self.audit(command, path, client)]

    def delete_file(self) -> list[Record]:
        path = f"{self.rng.choice(FOLDERS)}/{self.rng.choice(FILE_NAMES)}"
        client = self.rng.choice(self.ctx.datanodes or [self.node]).address
        block = self.ctx.next_block()
        holders = " ".join(f"{node.address}:{DATANODE_XFER_PORT}" for node in self.ctx.datanodes[:2])
        return [
            self.audit("delete", path, client),
            self.record(f"BLOCK* addToInvalidates: {block} {holders}", BLOCK_STATE_CHANGE),
        ]

    def process_report(self) -> list[Record]:
        if not self.ctx.datanodes:
            return [self.record("Roll Edit Log from " + self.node.address, FS_NAMESYSTEM)]
        node = self.rng.choice(self.ctx.datanodes)
        storage = f"DS-{self.ctx.random_uuid()}"
        registration = (
            f"DatanodeRegistration({node.address}:{DATANODE_XFER_PORT}, datanodeUuid={self.ctx.random_uuid()}, "
            f"infoPort=9864, infoSecurePort=0, ipcPort=9867, storageInfo=lv=-57;cid={self.ctx.cluster_id};"
            f"nsid={self.ctx.namespace_id};c={self.ctx.cluster_timestamp})"
        )
        message = (
            f"BLOCK* processReport {self.hex_id()}: from storage {storage} node {registration}, "
            f"blocks: {self.rng.randint(5, 400)}, hasStaleStorage: false, processing time: "
            f"{self.rng.randint(0, 4)} msecs, invalidatedBlocks: 0"
        )
        return [self.record(message, BLOCK_STATE_CHANGE)]

    def roll_edit_log(self) -> list[Record]:
        start = self.rng.randint(1000, 90000)
        return [
            self.record(f"Roll Edit Log from {self.node.address}", FS_NAMESYSTEM),
            self.record("Rolling edit logs", "org.apache.hadoop.hdfs.server.namenode.FSEditLog"),
            self.record(f"Ending log segment {start}, {start + self.rng.randint(2, 60)}",
                        "org.apache.hadoop.hdfs.server.namenode.FSEditLog"),
        ]

    def cache_rescan(self) -> list[Record]:
        monitor = "org.apache.hadoop.hdfs.server.blockmanagement.CacheReplicationMonitor"
        return [
            self.record("Rescanning after 30000 milliseconds", monitor),
            self.record("Scanned 0 directive(s) and 0 block(s) in 1 millisecond(s).", monitor),
        ]


class DataNodeTraffic(TrafficModel):
    daemon = "datanode"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.datanode_uuid = self.ctx.random_uuid()
        self.retry_attempt = 0
        self.block_count = self.rng.randint(20, 400)

    def startup_records(self) -> list[Record]:
        data_dir = self.paths.datanode_dir
        return [
            self.record(f"Configured hostname is {self.node.name}"),
            self.record("Starting DataNode with maxLockedMemory = 0"),
            self.record(f"Opened streaming server at /{self.node.address}:{DATANODE_XFER_PORT}"),
            self.record(f"Lock on {data_dir}/in_use.lock acquired by nodename {self.rng.randint(2000, 60000)}"
                        f"@{self.node.name}", "org.apache.hadoop.hdfs.server.common.Storage"),
            self.record(f"Block pool {self.ctx.block_pool_id} (Datanode Uuid {self.datanode_uuid}) service to "
                        f"{self.ctx.namenode_endpoint()} successfully registered with NN"),
        ]

    def condition_records(self) -> list[Record] | None:
        if self.ctx.namenode_up():
            self.retry_attempt = 0
            return None
        return self.unreachable_namenode_records()

    def unreachable_namenode_records(self) -> list[Record]:
        """Return one retry line per tick. After ten retries the BPServiceActor gives up with a stack."""
        if self.retry_attempt < 10:
            record = self.record(retry_message(self.ctx.namenode_endpoint(), self.retry_attempt), IPC_CLIENT)
            self.retry_attempt += 1
            return [record]

        self.retry_attempt = 0
        namenode = self.ctx.namenode
        stack = connection_refused(
            self.node.name, self.node.address, namenode.name if namenode else "localhost", NAMENODE_RPC_PORT,
            "org.apache.hadoop.hdfs.server.datanode.BPServiceActor.offerService(BPServiceActor.java:710)",
        )
        return [self.record("IOException in offerService", level="WARN", detail=stack)]

    def workflows(self):
        return [
            (5.0, self.receive_block),
            (3.0, self.serve_block),
            (0.2, self.block_report),
            (0.8, self.delete_block),
        ]

    def block_ref(self) -> str:
        return f"{self.ctx.block_pool_id}:{self.ctx.next_block()}"

    def receive_block(self) -> list[Record]:
        rng = self.rng
        block = self.block_ref()
        source = f"/{rng.choice(self.ctx.datanodes or [self.node]).address}:{self.client_port()}"
        dest = f"/{self.node.address}:{DATANODE_XFER_PORT}"
        size = rng.randint(1024, BLOCK_SIZE)
        trace = (
            f"src: {source}, dest: {dest}, bytes: {size}, op: HDFS_WRITE, cliID: {dfs_client(rng)}, offset: 0, "
            f"srvID: {self.datanode_uuid}, blockid: {block}, duration(ns): {rng.randint(2_000_000, 4_000_000_000)}"
        )
        pipeline_end = rng.choice(["LAST_IN_PIPELINE", "HAS_DOWNSTREAM_IN_PIPELINE"])
        self.block_count += 1
        return [
            self.record(f"Receiving {block} src: {source} dest: {dest}"),
            self.record(trace, CLIENT_TRACE),
            self.record(f"PacketResponder: {block}, type={pipeline_end} terminating"),
        ]

    def serve_block(self) -> list[Record]:
        rng = self.rng
        block = self.block_ref()
        reader = rng.choice(self.ctx.datanodes or [self.node]).address
        trace = (
            f"src: /{self.node.address}:{DATANODE_XFER_PORT}, dest: /{reader}:{self.client_port()}, "
            f"bytes: {rng.randint(1024, BLOCK_SIZE + 1_048_576)}, op: HDFS_READ, cliID: {dfs_client(rng)}, "
            f"offset: 0, srvID: {self.datanode_uuid}, blockid: {block}, "
            f"duration(ns): {rng.randint(500_000, 900_000_000)}"
        )
        return [self.record(trace, CLIENT_TRACE)]

    def block_report(self) -> list[Record]:
        blocks = self.block_count
        message = (
            f"Successfully sent block report {self.hex_id()},  containing 1 storage report(s), of which we sent 1. "
            f"The reports had {blocks} total blocks and used 1 RPC(s). This took {self.rng.randint(0, 3)} msec to "
            f"generate and {self.rng.randint(3, 40)} msecs for RPC and NN processing. "
            "Got back one command: FinalizeCommand/5."
        )
        return [self.record(message)]

    def delete_block(self) -> list[Record]:
        pool = self.ctx.block_pool_id
        block = self.ctx.next_block()
        block_name = block.rsplit("_", 1)[0]
        self.block_count = max(self.block_count - 1, 0)
        block_file = f"{self.paths.datanode_dir}/current/{pool}/current/finalized/subdir0/subdir0/{block_name}"
        return [self.record(
            f"Deleted {pool} {block} URI file:{block_file}",
            "org.apache.hadoop.hdfs.server.datanode.fsdataset.impl.FsDatasetAsyncDiskService",
        )]


class SecondaryNameNodeTraffic(TrafficModel):
    daemon = "secondarynamenode"
    rate_factor = 0.2

    def workflows(self):
        return [(1.0, self.checkpoint), (2.0, self.unchanged)]

    def unchanged(self) -> list[Record]:
        return [self.record("Image has not changed. Will not download image.")]

    def checkpoint(self) -> list[Record]:
        transfer = "org.apache.hadoop.hdfs.server.namenode.TransferFsImage"
        namenode = self.ctx.namenode.name if self.ctx.namenode else "localhost"
        start = self.rng.randint(1000, 90000)
        end = start + self.rng.randint(2, 80)
        checkpoint_dir = f"{self.paths.name_dir.parent}/namesecondary/current"
        return [
            self.record(
                f"Opening connection to http://{namenode}:{NAMENODE_HTTP_PORT}/imagetransfer?getedit=1&"
                f"startTxId={start}&endTxId={end}&storageInfo=-64:{self.ctx.namespace_id}:"
                f"{self.ctx.cluster_timestamp}:{self.ctx.cluster_id}",
                transfer,
            ),
            self.record(f"Downloaded file edits_tmp_{start:019d}-{end:019d}_{self.rng.randint(10**12, 10**13)} "
                        f"size {self.rng.randint(42, 1_048_576)} bytes.", transfer),
            self.record(f"Saving image file {checkpoint_dir}/fsimage.ckpt_{end:019d} using no compression",
                        "org.apache.hadoop.hdfs.server.namenode.FSImageFormatProtobuf"),
            self.record(f"Image file {checkpoint_dir}/fsimage.ckpt_{end:019d} of size "
                        f"{self.rng.randint(400, 90000)} bytes saved in 0 seconds .",
                        "org.apache.hadoop.hdfs.server.namenode.FSImageFormatProtobuf"),
        ]
