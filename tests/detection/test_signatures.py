"""Every catalog kind with signatures is found in a record written as Hadoop writes it.

Lines marked "real" are single lines from the real logs; the others are written in the exact
form of the Hadoop (2.x/3.x), ZooKeeper or shell message.
"""

from __future__ import annotations

import pytest

from libs.common.catalog import Catalog
from services.faults.detection.engine import DetectionEngine
from tests.detection.conftest import detect_text

T = "2019-05-06 10:11:12,345"

CASES: list[tuple[str, str]] = [
    ("cluster_id_mismatch",
     f"{T} WARN org.apache.hadoop.hdfs.server.common.Storage: Failed to add storage directory "
     "[DISK]file:/data/dfs/dn/\njava.io.IOException: Incompatible clusterIDs in /data/dfs/dn: namenode clusterID = "
     "CID-9a1b; datanode clusterID = CID-77c2"),
    ("namenode_safe_mode",
     f"{T} INFO org.apache.hadoop.ipc.Server: IPC Server handler 4 on 8020, call "
     "org.apache.hadoop.hdfs.protocol.ClientProtocol.mkdirs from 10.0.0.7:5123 Call#3 Retry#0: "
     "org.apache.hadoop.hdfs.server.namenode.SafeModeException: Cannot create directory /tmp/x. Name node is in "
     "safe mode."),
    ("storage_not_formatted",
     f"{T} ERROR org.apache.hadoop.hdfs.server.namenode.NameNode: Failed to start namenode.\n"
     "org.apache.hadoop.hdfs.server.common.InconsistentFSStateException: Directory /tmp/hadoop-hdfs/dfs/name is in "
     "an inconsistent state: storage directory does not exist or is not accessible."),
    ("metadata_load_failure",
     f"{T} ERROR org.apache.hadoop.hdfs.server.namenode.FSImage: Failed to load image from "
     "FSImageFile(file=/data/nn/current/fsimage_0000000000000001234, cpktTxId=0000000000000001234)"),
    ("port_in_use",
     f"{T} ERROR org.apache.hadoop.hdfs.server.namenode.NameNode: Failed to start namenode.\n"
     "java.net.BindException: Port in use: 0.0.0.0:50070\n"
     "Caused by: java.net.BindException: Address already in use"),
    ("host_resolution_failure",
     f"{T} ERROR org.apache.hadoop.hdfs.server.datanode.DataNode: Exception in secureMain\n"
     "java.net.UnknownHostException: worker-17.example.com: worker-17.example.com: Name or service not known"),
    ("namenode_unreachable",  # real
     "2018-11-14 08:44:04,381 WARN org.apache.hadoop.hdfs.server.datanode.DataNode: Problem connecting to server: "
     "Master/192.168.56.10:9000"),
    ("resourcemanager_unreachable",  # real
     "2015-10-18 18:06:01,840 ERROR [RMCommunicator Allocator] "
     "org.apache.hadoop.mapreduce.v2.app.rm.RMContainerAllocator: ERROR IN CONTACTING RM. "),
    ("network_unreachable",  # real
     "2015-10-18 18:05:37,539 INFO [communication thread] org.apache.hadoop.mapred.Task: Communication exception: "
     "java.net.NoRouteToHostException: No Route to Host from  MININT-FNANLI5/127.0.0.1 to 10.190.173.170:29630 "
     "failed on socket timeout exception: java.net.NoRouteToHostException: No route to host: "),
    ("node_lost",  # real
     "2015-10-17 18:27:18,888 INFO [AsyncDispatcher event handler] "
     "org.apache.hadoop.mapreduce.v2.app.job.impl.TaskAttemptImpl: Diagnostics report from "
     "attempt_1445076437777_0003_m_000007_0: Container released on a *lost* node"),
    ("no_datanodes_available",
     f"{T} WARN org.apache.hadoop.hdfs.DFSClient: DataStreamer Exception\n"
     "org.apache.hadoop.ipc.RemoteException(java.io.IOException): File /user/a/b.txt could only be replicated to 0 "
     "nodes instead of minReplication (=1).  There are 0 datanode(s) running and no node(s) are excluded in this "
     "operation."),
    ("disk_full",  # real
     "2015-10-19 14:26:43,544 FATAL [IPC Server handler 18 on 39673] org.apache.hadoop.mapred.TaskAttemptListenerImpl:"
     " Task: attempt_1445182159119_0004_m_000004_0 - exited : java.io.IOException: There is not enough space on the "
     "disk"),
    ("disk_failure",
     f"{T} WARN org.apache.hadoop.yarn.server.nodemanager.DirectoryCollection: Directory /data/yarn/local error, "
     "used space above threshold of 90.0%, removing from list of valid directories\n"
     f"{T} ERROR org.apache.hadoop.yarn.server.nodemanager.LocalDirsHandlerService: Most of the disks failed. "
     "1/1 local-dirs are bad: /data/yarn/local; "),
    ("storage_locked",
     f"{T} ERROR org.apache.hadoop.hdfs.server.common.Storage: It appears that another node  12345@dn1 has already "
     "locked the storage directory: /data/dfs/dn"),
    ("blocks_missing_or_corrupt",
     f"{T} WARN org.apache.hadoop.hdfs.DFSClient: DFS Read\n"
     "org.apache.hadoop.hdfs.BlockMissingException: Could not obtain block: "
     "BP-929597290-10.0.0.1-1441002348261:blk_1073741825_1001 file=/data/part-00000"),
    ("under_replicated",
     f"{T} WARN org.apache.hadoop.hdfs.server.blockmanagement.BlockPlacementPolicy: Failed to place enough "
     "replicas, still in need of 1 to reach 3 (unavailableStorages=[], storagePolicy=BlockStoragePolicy{HOT:7}, "
     "newBlock=true) For more information, please enable DEBUG log level on "
     "org.apache.hadoop.hdfs.server.blockmanagement.BlockPlacementPolicy\n"
     "Not able to place enough replicas"),
    ("permission_denied",
     f"{T} INFO org.apache.hadoop.ipc.Server: IPC Server handler 2 on 8020, call "
     "org.apache.hadoop.hdfs.protocol.ClientProtocol.create from 10.0.0.8:40412 Call#5 Retry#0\n"
     "org.apache.hadoop.security.AccessControlException: Permission denied: user=alice, access=WRITE, "
     "inode=\"/user/bob\":bob:supergroup:drwxr-xr-x"),
    ("kerberos_failure",
     f"{T} ERROR org.apache.hadoop.hdfs.server.namenode.NameNode: Failed to start namenode.\n"
     "java.io.IOException: Login failure for nn/nn1.example.com@EXAMPLE.COM from keytab "
     "/etc/security/keytabs/nn.service.keytab: javax.security.auth.login.LoginException: Clock skew too great"),
    ("security_misconfiguration",  # real
     "2018-03-05 19:50:12,267 FATAL org.apache.hadoop.hdfs.server.datanode.DataNode: Exception in secureMain\n"
     "java.lang.RuntimeException: Cannot start secure DataNode without configuring either privileged resources or "
     "SASL RPC data transfer protection and SSL for HTTP.  Using privileged resources in combination with SASL RPC "
     "data transfer protection is not supported."),
    ("config_error",
     f"{T} FATAL org.apache.hadoop.conf.Configuration: error parsing conf core-site.xml\n"
     "org.xml.sax.SAXParseException; systemId: file:/etc/hadoop/core-site.xml; lineNumber: 20; columnNumber: 3; "
     "The element type \"property\" must be terminated by the matching end-tag \"</property>\"."),
    ("start_script_ssh_failure",
     "worker3.example.com: Permission denied (publickey,gssapi-keyex,gssapi-with-mic,password)."),
    ("java_home_not_set", "worker2.example.com: Error: JAVA_HOME is not set and could not be found."),
    ("out_of_memory",
     f"{T} FATAL [main] org.apache.hadoop.mapred.YarnChild: Error running child : java.lang.OutOfMemoryError: "
     "Java heap space"),
    ("container_memory_exceeded",
     f"{T} INFO [AsyncDispatcher event handler] org.apache.hadoop.mapreduce.v2.app.job.impl.TaskAttemptImpl: "
     "Diagnostics report from attempt_1500000000000_0001_m_000000_0: Container "
     "[pid=4242,containerID=container_1500000000000_0001_01_000002] is running beyond physical memory limits. "
     "Current usage: 1.1 GB of 1 GB physical memory used; 2.9 GB of 2.1 GB virtual memory used. Killing container."),
    ("too_many_open_files",
     f"{T} ERROR org.apache.hadoop.hdfs.server.datanode.DataNode: dn1:50010:DataXceiverServer: \n"
     "java.io.IOException: Too many open files"),
    ("xceiver_limit_exceeded",
     f"{T} ERROR org.apache.hadoop.hdfs.server.datanode.DataNode: dn1:50010:DataXceiver error processing "
     "WRITE_BLOCK operation  src: /10.0.0.9:55012 dst: /10.0.0.4:50010\n"
     "java.io.IOException: Xceiver count 4097 exceeds the limit of concurrent xcievers: 4096"),
    ("long_gc_pause",
     f"{T} WARN org.apache.hadoop.util.JvmPauseMonitor: Detected pause in JVM or host machine (eg GC): pause of "
     "approximately 41234ms\nGC pool 'ConcurrentMarkSweep' had collection(s): count=1 time=41540ms"),
    ("zookeeper_session_lost",  # real
     "2015-07-30 17:55:26,200 - WARN  [WorkerSender[myid=1]:QuorumCnxManager@368] - Cannot open channel to 2 at "
     "election address /10.10.34.12:3888"),
    ("journal_quorum_failure",
     f"{T} FATAL org.apache.hadoop.hdfs.server.namenode.FSEditLog: Error: flush failed for required journal "
     "(JournalAndStream(mgr=QJM to [10.0.0.1:8485, 10.0.0.2:8485, 10.0.0.3:8485], stream=QuorumOutputStream))\n"
     "org.apache.hadoop.hdfs.qjournal.client.QuorumException: Got too many exceptions to achieve quorum size 2/3."),
    ("ha_failover_failure",
     f"{T} ERROR org.apache.hadoop.ha.NodeFencer: Unable to fence service by any configured method."),
    ("daemon_exited",
     f"{T} FATAL org.apache.hadoop.yarn.server.nodemanager.NodeManager: Error starting NodeManager\n"
     "org.apache.hadoop.yarn.exceptions.YarnRuntimeException: java.lang.ClassNotFoundException: "
     "org.apache.spark.network.yarn.YarnShuffleService"),
    ("task_failure",
     f"{T} INFO [AsyncDispatcher event handler] org.apache.hadoop.mapreduce.v2.app.job.impl.JobImpl: "
     "Job failed as tasks failed. failedMaps:1 failedReduces:0"),
]


def test_cases_cover_every_kind_with_patterns(catalog: Catalog) -> None:
    with_patterns = {kind.kind for kind in catalog if kind.patterns}
    assert with_patterns == {kind for kind, _ in CASES}


@pytest.mark.parametrize(("kind", "text"), CASES, ids=[kind for kind, _ in CASES])
def test_signature_detects_kind(engine: DetectionEngine, kind: str, text: str) -> None:
    kinds = [detection.kind for detection in detect_text(engine, text)]
    assert kinds, "no detection"
    assert kinds[0] == kind


ZH_LOCALE_CASES: list[tuple[str, str]] = [
    ("namenode_unreachable",  # real
     "2018-03-19 11:51:41,745 WARN org.apache.hadoop.hdfs.server.datanode.DataNode: IOException in offerService\n"
     "java.net.ConnectException: Call From singlenode.example.edu/192.168.1.117 to singlenode.example.edu:9000 "
     "failed on connection exception: java.net.ConnectException: 拒绝连接; For more details see:  "
     "http://wiki.apache.org/hadoop/ConnectionRefused"),
    ("port_in_use",
     "2018-05-02 11:22:25,288 FATAL org.apache.hadoop.yarn.server.resourcemanager.ResourceManager: Error starting "
     "ResourceManager\norg.apache.hadoop.yarn.exceptions.YarnRuntimeException: java.net.BindException: Problem "
     "binding to [resourcemanager.example.edu:8031] java.net.BindException: 无法指定被请求的地址; For more details "
     "see:  http://wiki.apache.org/hadoop/BindException"),
    ("network_unreachable",
     f"{T} WARN org.apache.hadoop.hdfs.DFSClient: Failed to connect to /10.0.0.4:50010 for block, add to deadNodes "
     "and continue. java.net.NoRouteToHostException: 没有到主机的路由"),
    ("disk_full",
     f"{T} ERROR org.apache.hadoop.hdfs.server.datanode.DataNode: dn1:50010:DataXceiver error processing "
     "WRITE_BLOCK operation\njava.io.IOException: 设备上没有空间"),
    ("too_many_open_files", f"{T} WARN org.apache.hadoop.ipc.Server: IPC Server listener on 8020: "
                            "java.io.IOException: 打开的文件过多"),
]


@pytest.mark.parametrize(("kind", "text"), ZH_LOCALE_CASES, ids=[kind for kind, _ in ZH_LOCALE_CASES])
def test_signature_detects_zh_locale_wording(engine: DetectionEngine, kind: str, text: str) -> None:
    kinds = [detection.kind for detection in detect_text(engine, text)]
    assert kinds[:1] == [kind]


SILENT_DATANODE_ACKS = [
    # real, Hadoop 2.x of 2015
    "2015-10-18 21:40:00,767 WARN [ResponseProcessor for block "
    "BP-1347369012-10.190.173.170-1444972147527:blk_1073743655_2878] org.apache.hadoop.hdfs.DFSClient: Slow "
    "ReadProcessor read fields took 48957ms (threshold=30000ms); ack: seqno: -2 status: SUCCESS status: ERROR "
    "downstreamAckTimeNanos: 0, targets: [172.22.149.145:50010, 10.86.169.121:50010]",
    # the reply field printed by name
    f"{T} WARN [ResponseProcessor for block BP-1-10.0.0.1-1:blk_7_7] org.apache.hadoop.hdfs.DFSClient: Slow "
    "ReadProcessor read fields took 65036ms (threshold=30000ms); ack: seqno: -2 reply: SUCCESS reply: SUCCESS "
    "reply: ERROR downstreamAckTimeNanos: 0 flag: 0 flag: 0 flag: 0, targets: [10.0.0.4:50010, 10.0.0.5:50010, "
    "10.0.0.6:50010]",
    # the reply field printed as a number
    f"{T} WARN [ResponseProcessor for block BP-1-10.0.0.1-1:blk_8_8] hdfs.DFSClient: Slow ReadProcessor read "
    "fields took 70070ms (threshold=30000ms); ack: seqno: -2 reply: 0 reply: 1 downstreamAckTimeNanos: 0, "
    "targets: [DatanodeInfoWithStorage[10.0.0.4:50010,DS-1,DISK], DatanodeInfoWithStorage[10.0.0.5:50010,DS-2,DISK]]",
]


@pytest.mark.parametrize("text", SILENT_DATANODE_ACKS, ids=["status-name", "reply-name", "reply-number"])
def test_silent_datanode_in_pipeline_is_node_lost(engine: DetectionEngine, text: str) -> None:
    assert [detection.kind for detection in detect_text(engine, text)] == ["node_lost"]


@pytest.mark.parametrize(
    "text",
    [
        # Routine records that mention alarming words.
        f"{T} INFO org.apache.hadoop.hdfs.server.common.Storage: Lock on /data/dn/in_use.lock acquired by nodename "
        "4242@dn1",
        f"{T} ERROR org.apache.hadoop.hdfs.server.datanode.DataNode: RECEIVED SIGNAL 15: SIGTERM",
        f"{T} INFO [AsyncDispatcher event handler] org.apache.hadoop.mapreduce.v2.app.job.impl.TaskAttemptImpl: "
        "Diagnostics report from attempt_1_0001_m_000001_0: Container killed by the ApplicationMaster.\n"
        "Container killed on request. Exit code is 137\nContainer exited with a non-zero exit code 137",
        f"{T} INFO org.apache.hadoop.util.JvmPauseMonitor: Detected pause in JVM or host machine (eg GC): pause of "
        "approximately 1901ms\nNo GCs detected",
        "2015-10-17 15:39:10,000 WARN [main] org.apache.hadoop.hdfs.DFSClient: DFSOutputStream ResponseProcessor "
        "exception  for block BP-1-10.0.0.1-1:blk_1_1\njava.io.IOException: Bad connect ack with firstBadLink as "
        "10.190.173.170:50010",
        # A failed DataNode reported with no slow acknowledgement before it, as in runs with no injected fault.
        "2015-10-17 22:33:31,920 WARN [ResponseProcessor for block BP-1-10.0.0.1-1:blk_2_2] "
        "org.apache.hadoop.hdfs.DFSClient: DFSOutputStream ResponseProcessor exception  for block "
        "BP-1-10.0.0.1-1:blk_2_2\njava.io.IOException: Bad response ERROR for block BP-1-10.0.0.1-1:blk_2_2 from "
        "datanode 10.86.169.121:50010",
        # A slow but successful acknowledgement: the pipeline was congested and every DataNode acknowledged.
        f"{T} WARN [ResponseProcessor for block BP-1-10.0.0.1-1:blk_3_3] org.apache.hadoop.hdfs.DFSClient: Slow "
        "ReadProcessor read fields took 54565ms (threshold=30000ms); ack: seqno: 144299 reply: SUCCESS reply: "
        "SUCCESS downstreamAckTimeNanos: 61280175650 flag: 0 flag: 0, targets: [10.0.0.4:50010, 10.0.0.5:50010]",
        # A failed DataNode reported under 30 s, with the slow-log threshold lowered to 10 s.
        f"{T} WARN [ResponseProcessor for block BP-1-10.0.0.1-1:blk_4_4] org.apache.hadoop.hdfs.DFSClient: Slow "
        "ReadProcessor read fields took 12004ms (threshold=10000ms); ack: seqno: -2 status: SUCCESS status: ERROR "
        "downstreamAckTimeNanos: 0, targets: [10.0.0.4:50010, 10.0.0.5:50010]",
    ],
)
def test_routine_records_are_not_faults(engine: DetectionEngine, text: str) -> None:
    assert detect_text(engine, text) == []
