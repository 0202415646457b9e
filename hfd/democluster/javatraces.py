"""Java exceptions and stack traces of the faults the demo cluster writes.

The messages follow Hadoop 3.3 wording. Stack frames name real Hadoop and JDK 8 methods,
but their line numbers are plausible values, not those of a particular release.
"""

from hfd.democluster.records import exception_lines

SAFE_MODE_MANUAL_TIP = 'It was turned on manually. Use "hdfs dfsadmin -safemode leave" to turn safe mode off.'
SAFE_MODE_RESOURCES_TIP = (
    "Resources are low on NN. Please add or free up more resources then turn off safe mode manually. "
    "NOTE:  If you turn off safe mode before adding resources, the NN will immediately return to safe mode. "
    'Use "hdfs dfsadmin -safemode leave" to turn safe mode off.'
)

IPC_CLIENT_FRAMES = [
    "org.apache.hadoop.ipc.Client.getRpcResponse(Client.java:1584)",
    "org.apache.hadoop.ipc.Client.call(Client.java:1529)",
    "org.apache.hadoop.ipc.Client.call(Client.java:1426)",
    "org.apache.hadoop.ipc.ProtobufRpcEngine2$Invoker.invoke(ProtobufRpcEngine2.java:258)",
    "org.apache.hadoop.ipc.ProtobufRpcEngine2$Invoker.invoke(ProtobufRpcEngine2.java:139)",
]


def connection_refused(local: str, local_address: str, remote_host: str, port: int, call: str) -> tuple[str, ...]:
    """Stack of an IPC call that found nothing listening, as NetUtils.wrapException words it.

    ``call`` is the client-side frame that made the call, for example the DataNode heartbeat.
    """
    header = (
        f"java.net.ConnectException: Call From {local}/{local_address} to {remote_host}:{port} failed on "
        "connection exception: java.net.ConnectException: Connection refused; For more details see:  "
        "http://wiki.apache.org/hadoop/ConnectionRefused"
    )
    frames = [
        "sun.reflect.NativeConstructorAccessorImpl.newInstance0(Native Method)",
        "sun.reflect.NativeConstructorAccessorImpl.newInstance(NativeConstructorAccessorImpl.java:62)",
        "sun.reflect.DelegatingConstructorAccessorImpl.newInstance(DelegatingConstructorAccessorImpl.java:45)",
        "java.lang.reflect.Constructor.newInstance(Constructor.java:423)",
        "org.apache.hadoop.net.NetUtils.wrapWithMessage(NetUtils.java:930)",
        "org.apache.hadoop.net.NetUtils.wrapException(NetUtils.java:845)",
        *IPC_CLIENT_FRAMES,
        call,
        "java.lang.Thread.run(Thread.java:750)",
    ]
    cause_frames = [
        "sun.nio.ch.SocketChannelImpl.checkConnect(Native Method)",
        "sun.nio.ch.SocketChannelImpl.finishConnect(SocketChannelImpl.java:716)",
        "org.apache.hadoop.net.SocketIOWithTimeout.connect(SocketIOWithTimeout.java:205)",
        "org.apache.hadoop.net.NetUtils.connect(NetUtils.java:586)",
        "org.apache.hadoop.ipc.Client$Connection.setupConnection(Client.java:711)",
        "org.apache.hadoop.ipc.Client$Connection.setupIOstreams(Client.java:833)",
        "org.apache.hadoop.ipc.Client.getConnection(Client.java:1677)",
        "org.apache.hadoop.ipc.Client.call(Client.java:1502)",
    ]
    return exception_lines(header, frames, ("java.net.ConnectException: Connection refused", cause_frames), 6)


def retry_message(endpoint: str, attempt: int) -> str:
    """Message of org.apache.hadoop.ipc.Client while it retries a connection."""
    return (
        f"Retrying connect to server: {endpoint}. Already tried {attempt} time(s); retry policy is "
        "RetryUpToMaximumCountWithFixedSleep(maxRetries=10, sleepTime=1000 MILLISECONDS)"
    )


def no_space_left() -> tuple[str, ...]:
    """Stack of a DataNode block write that hit a full disk."""
    return exception_lines(
        "java.io.IOException: No space left on device",
        [
            "java.io.FileOutputStream.writeBytes(Native Method)",
            "java.io.FileOutputStream.write(FileOutputStream.java:326)",
            "org.apache.hadoop.hdfs.server.datanode.BlockReceiver.receivePacket(BlockReceiver.java:734)",
            "org.apache.hadoop.hdfs.server.datanode.BlockReceiver.receiveBlock(BlockReceiver.java:1011)",
            "org.apache.hadoop.hdfs.server.datanode.DataXceiver.writeBlock(DataXceiver.java:906)",
            "org.apache.hadoop.hdfs.protocol.datatransfer.Receiver.opWriteBlock(Receiver.java:176)",
            "org.apache.hadoop.hdfs.protocol.datatransfer.Receiver.processOp(Receiver.java:110)",
            "org.apache.hadoop.hdfs.server.datanode.DataXceiver.run(DataXceiver.java:304)",
            "java.lang.Thread.run(Thread.java:750)",
        ],
    )


def too_many_open_files() -> tuple[str, ...]:
    """Stack of the DataNode's accept loop when the process has no file descriptors left."""
    return exception_lines(
        "java.io.IOException: Too many open files",
        [
            "sun.nio.ch.ServerSocketChannelImpl.accept0(Native Method)",
            "sun.nio.ch.ServerSocketChannelImpl.accept(ServerSocketChannelImpl.java:421)",
            "sun.nio.ch.ServerSocketChannelImpl.accept(ServerSocketChannelImpl.java:249)",
            "org.apache.hadoop.hdfs.net.TcpPeerServer.accept(TcpPeerServer.java:85)",
            "org.apache.hadoop.hdfs.server.datanode.DataXceiverServer.run(DataXceiverServer.java:145)",
            "java.lang.Thread.run(Thread.java:750)",
        ],
    )


def safe_mode_remote(path: str, tip: str) -> tuple[str, ...]:
    """Stack a client sees when the NameNode rejects a mkdirs in safe mode.

    A RemoteException carries the server-side frames inside its message, so they come first
    and the client-side frames follow them directly.
    """
    header = (
        "org.apache.hadoop.ipc.RemoteException(org.apache.hadoop.hdfs.server.namenode.SafeModeException): "
        f"Cannot create directory {path}. Name node is in safe mode."
    )
    frames = [
        "org.apache.hadoop.hdfs.server.namenode.FSNamesystem.checkNameNodeSafeMode(FSNamesystem.java:1570)",
        "org.apache.hadoop.hdfs.server.namenode.FSNamesystem.mkdirs(FSNamesystem.java:3386)",
        "org.apache.hadoop.hdfs.server.namenode.NameNodeRpcServer.mkdirs(NameNodeRpcServer.java:1161)",
        "org.apache.hadoop.ipc.Server$RpcCall.run(Server.java:1094)",
        "org.apache.hadoop.ipc.Server$Handler.run(Server.java:3061)",
        *IPC_CLIENT_FRAMES,
        "com.sun.proxy.$Proxy24.mkdirs(Unknown Source)",
        "org.apache.hadoop.hdfs.DFSClient.primitiveMkdir(DFSClient.java:2505)",
        "org.apache.hadoop.hdfs.DistributedFileSystem.mkdirsInternal(DistributedFileSystem.java:1496)",
        "org.apache.hadoop.yarn.server.nodemanager.containermanager.logaggregation."
        "LogAggregationService.createAppDir(LogAggregationService.java:278)",
        "java.lang.Thread.run(Thread.java:750)",
    ]
    lines = list(exception_lines(header, frames))
    lines.insert(1, tip)
    return tuple(lines)


def out_of_memory() -> tuple[str, ...]:
    return exception_lines(
        "java.lang.OutOfMemoryError: Java heap space",
        [
            "java.util.Arrays.copyOf(Arrays.java:3332)",
            "java.lang.AbstractStringBuilder.ensureCapacityInternal(AbstractStringBuilder.java:124)",
            "java.lang.AbstractStringBuilder.append(AbstractStringBuilder.java:448)",
            "java.lang.StringBuilder.append(StringBuilder.java:136)",
            "org.apache.hadoop.util.Shell$1.run(Shell.java:1007)",
        ],
    )


def incompatible_cluster_ids(data_dir: str, namenode_id: str, datanode_id: str) -> tuple[str, ...]:
    tail = [
        "org.apache.hadoop.hdfs.server.datanode.DataNode.initStorage(DataNode.java:1753)",
        "org.apache.hadoop.hdfs.server.datanode.DataNode.initBlockPool(DataNode.java:1689)",
        "org.apache.hadoop.hdfs.server.datanode.BPOfferService.verifyAndSetNamespaceInfo(BPOfferService.java:394)",
        "org.apache.hadoop.hdfs.server.datanode.BPServiceActor.connectToNNAndHandshake(BPServiceActor.java:295)",
        "org.apache.hadoop.hdfs.server.datanode.BPServiceActor.run(BPServiceActor.java:854)",
        "java.lang.Thread.run(Thread.java:750)",
    ]
    return exception_lines(
        f"java.io.IOException: Incompatible clusterIDs in {data_dir}: namenode clusterID = {namenode_id}; "
        f"datanode clusterID = {datanode_id}",
        [
            "org.apache.hadoop.hdfs.server.datanode.DataStorage.doTransition(DataStorage.java:746)",
            "org.apache.hadoop.hdfs.server.datanode.DataStorage.loadStorageDirectory(DataStorage.java:296)",
            "org.apache.hadoop.hdfs.server.datanode.DataStorage.loadDataStorage(DataStorage.java:409)",
            "org.apache.hadoop.hdfs.server.datanode.DataStorage.addStorageLocations(DataStorage.java:389)",
            "org.apache.hadoop.hdfs.server.datanode.DataStorage.recoverTransitionRead(DataStorage.java:561)",
            *tail,
        ],
    )


def all_directories_failed() -> tuple[str, ...]:
    return exception_lines(
        "java.io.IOException: All specified directories have failed to load.",
        [
            "org.apache.hadoop.hdfs.server.datanode.DataStorage.recoverTransitionRead(DataStorage.java:562)",
            "org.apache.hadoop.hdfs.server.datanode.DataNode.initStorage(DataNode.java:1753)",
            "org.apache.hadoop.hdfs.server.datanode.DataNode.initBlockPool(DataNode.java:1689)",
            "org.apache.hadoop.hdfs.server.datanode.BPOfferService.verifyAndSetNamespaceInfo(BPOfferService.java:394)",
            "org.apache.hadoop.hdfs.server.datanode.BPServiceActor.connectToNNAndHandshake(BPServiceActor.java:295)",
            "org.apache.hadoop.hdfs.server.datanode.BPServiceActor.run(BPServiceActor.java:854)",
            "java.lang.Thread.run(Thread.java:750)",
        ],
    )
