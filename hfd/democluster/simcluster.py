"""Cluster view of the simulated commands: the manifest's node list and the state files.

Standard library only (the manifest is read as plain JSON), because every simulated command
imports this module.
"""

import json
import os
from functools import cached_property
from typing import Any

from hfd.democluster.layout import ClusterLayout, NodeLayout
from hfd.democluster.state import StateStore


class SimCluster:
    """Read access to the whole cluster, and write access to the local node's state."""

    def __init__(self, layout: ClusterLayout, node_name: str) -> None:
        self.layout = layout
        self.node_name = node_name

    @cached_property
    def manifest(self) -> dict[str, Any]:
        try:
            with self.layout.manifest_path.open(encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {"nodes": []}

    @property
    def hadoop_user(self) -> str:
        return self.manifest.get("hadoop_user") or os.environ.get("HADOOP_IDENT_STRING", "hadoop")

    def nodes(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("nodes", []))

    def local_node(self) -> dict[str, Any]:
        for node in self.nodes():
            if node["name"] == self.node_name:
                return node
        return {"name": self.node_name, "address": "127.0.0.1", "roles": []}

    def node_with(self, daemon: str) -> dict[str, Any] | None:
        return next((node for node in self.nodes() if daemon in node.get("roles", [])), None)

    def nodes_with(self, daemon: str) -> list[dict[str, Any]]:
        return [node for node in self.nodes() if daemon in node.get("roles", [])]

    def node_layout(self, name: str) -> NodeLayout:
        return self.layout.node(name)

    def local_layout(self) -> NodeLayout:
        return self.layout.node(self.node_name)

    def store(self, name: str) -> StateStore:
        node = self.node_layout(name)
        return StateStore(node.state_path, node.state_lock_path)

    def local_store(self) -> StateStore:
        return self.store(self.node_name)

    def local_state(self) -> dict[str, Any]:
        return self.local_store().read()

    def state_of(self, name: str) -> dict[str, Any] | None:
        try:
            return self.store(name).read()
        except FileNotFoundError:
            return None

    def daemon_running(self, node: dict[str, Any] | None, daemon: str) -> bool:
        if node is None:
            return False
        state = self.state_of(node["name"])
        return bool(state and state["daemons"].get(daemon, {}).get("running"))


def connection_refused_message(cluster: SimCluster, operation: str, remote: dict[str, Any] | None, port: int) -> str:
    """Return the message a Hadoop client prints when nothing listens at the remote's port."""
    local = cluster.local_node()
    remote_name = remote["name"] if remote else "localhost"
    return (
        f"{operation}: Call From {local['name']}/{local['address']} to {remote_name}:{port} failed on connection "
        "exception: java.net.ConnectException: Connection refused; For more details see:  "
        "http://wiki.apache.org/hadoop/ConnectionRefused"
    )
