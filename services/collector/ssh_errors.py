"""Errors of the collector's SSH pool: an unknown node, an unreachable node, a rejected host key."""

from services.collector.node_target import NodeTarget


class SshError(Exception):
    """Base of the collector's SSH errors."""


class UnknownNode(SshError):
    """The pool has no node with this uuid."""

    def __init__(self, node_uuid: str) -> None:
        super().__init__(f"unknown node {node_uuid}")
        self.node_uuid = node_uuid


class NodeUnreachable(SshError):
    """The node could not be reached over SSH; ``reason`` gives the cause in a few words."""

    def __init__(self, node: NodeTarget, reason: str) -> None:
        super().__init__(f"node {node.name} ({node.address}:{node.port}) unreachable: {reason}")
        self.node = node
        self.reason = reason


class HostKeyRejected(NodeUnreachable):
    """The node's host key is unknown (and trust on first use is off) or differs from the known one."""
