"""Paths inside a demo cluster folder.

A cluster folder contains ``cluster.json`` (the manifest), ``keys/`` (host keys, the
collector's client key pair and ``known_hosts``) and ``nodes/<name>/``, the home folder of
each node. Standard library only, because the simulated Hadoop commands import it.
"""

from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "cluster.json"


@dataclass(frozen=True)
class ClusterLayout:
    """Folders and files of one cluster folder."""

    root: Path

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def client_key_path(self) -> Path:
        return self.keys_dir / "client_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.keys_dir / "known_hosts"

    def host_key_path(self, node: str) -> Path:
        return self.keys_dir / f"{node}_ssh_host_ed25519_key"

    def node(self, name: str) -> "NodeLayout":
        return NodeLayout(name=name, home=self.root / "nodes" / name)


@dataclass(frozen=True)
class NodeLayout:
    """Folders and files of one node, all under its home folder.

    The names follow a tarball install of Hadoop: ``hadoop/bin`` contains the simulated
    commands, ``hadoop/etc/hadoop`` the configuration, ``logs`` is HADOOP_LOG_DIR,
    ``run`` is HADOOP_PID_DIR and also contains the simulated daemon state.
    """

    name: str
    home: Path

    @property
    def hadoop_home(self) -> Path:
        return self.home / "hadoop"

    @property
    def bin_dir(self) -> Path:
        return self.hadoop_home / "bin"

    @property
    def conf_dir(self) -> Path:
        return self.hadoop_home / "etc" / "hadoop"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def temp_dir(self) -> Path:
        """hadoop.tmp.dir. Removing the files a disk-full fault puts here ends that fault."""
        return self.home / "tmp"

    @property
    def name_dir(self) -> Path:
        return self.home / "data" / "dfs" / "name"

    @property
    def datanode_dir(self) -> Path:
        return self.home / "data" / "dfs" / "data"

    @property
    def datanode_version_path(self) -> Path:
        return self.datanode_dir / "current" / "VERSION"

    @property
    def nm_local_dir(self) -> Path:
        return self.temp_dir / "nm-local-dir"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def state_path(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def state_lock_path(self) -> Path:
        return self.run_dir / "state.lock"

    def pid_path(self, user: str, daemon: str) -> Path:
        """Return the pid file path that Hadoop 3's daemon scripts use."""
        return self.run_dir / f"hadoop-{user}-{daemon}.pid"
