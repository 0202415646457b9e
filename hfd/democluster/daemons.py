"""Catalogue of the Hadoop daemons a demo node can run, and their log file names.

This module imports only the standard library because the simulated ``jps`` and
``hdfs`` commands import it on every call.
"""

from dataclasses import dataclass

HADOOP_VERSION = "3.3.6"
JAVA_VERSION = "1.8.0_392"


@dataclass(frozen=True)
class DaemonSpec:
    """One Hadoop daemon: its command name, main class and log file naming."""

    name: str
    main_class: str
    display_name: str
    log_prefix: str
    file_token: str
    control_command: str

    @property
    def short_class(self) -> str:
        return self.main_class.rsplit(".", 1)[-1]


DAEMONS: dict[str, DaemonSpec] = {
    spec.name: spec
    for spec in (
        DaemonSpec(
            "namenode", "org.apache.hadoop.hdfs.server.namenode.NameNode", "NameNode",
            "hadoop", "namenode", "hdfs",
        ),
        DaemonSpec(
            "secondarynamenode", "org.apache.hadoop.hdfs.server.namenode.SecondaryNameNode",
            "SecondaryNameNode", "hadoop", "secondarynamenode", "hdfs",
        ),
        DaemonSpec(
            "datanode", "org.apache.hadoop.hdfs.server.datanode.DataNode", "DataNode",
            "hadoop", "datanode", "hdfs",
        ),
        DaemonSpec(
            "resourcemanager", "org.apache.hadoop.yarn.server.resourcemanager.ResourceManager",
            "ResourceManager", "yarn", "resourcemanager", "yarn",
        ),
        DaemonSpec(
            "nodemanager", "org.apache.hadoop.yarn.server.nodemanager.NodeManager", "NodeManager",
            "yarn", "nodemanager", "yarn",
        ),
        DaemonSpec(
            "historyserver", "org.apache.hadoop.mapreduce.v2.hs.JobHistoryServer", "JobHistoryServer",
            "mapred", "historyserver", "mapred",
        ),
        DaemonSpec(
            "zookeeper", "org.apache.zookeeper.server.quorum.QuorumPeerMain", "QuorumPeerMain",
            "zookeeper", "server", "zkServer.sh",
        ),
    )
}

HDFS_DAEMONS = ("namenode", "secondarynamenode", "datanode")
YARN_DAEMONS = ("resourcemanager", "nodemanager")
MAPRED_DAEMONS = ("historyserver",)


def daemon_spec(name: str) -> DaemonSpec:
    """Return the spec of a daemon, or raise KeyError naming the known daemons."""
    try:
        return DAEMONS[name]
    except KeyError:
        known = ", ".join(sorted(DAEMONS))
        raise KeyError(f"unknown daemon {name!r}; known daemons: {known}") from None


def log_file_name(daemon: str, user: str, host: str, suffix: str = ".log") -> str:
    """Return the file name Hadoop's daemon scripts give a daemon's log, e.g.
    ``hadoop-hadoop-namenode-demo-nn1.log`` (``suffix=".out"`` for the stdout file)."""
    spec = daemon_spec(daemon)
    return f"{spec.log_prefix}-{user}-{spec.file_token}-{host}{suffix}"


def audit_log_file_name() -> str:
    """Return the file name of the HDFS audit log (the RFAAUDIT appender of Hadoop's log4j.properties)."""
    return "hdfs-audit.log"
