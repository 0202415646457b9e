"""The SSH target of one node: where and as whom the collector connects, and its log folders."""

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeTarget:
    """Address, port, SSH user and log folders of one node, with its cluster."""

    cluster_uuid: str
    cluster_name: str
    node_uuid: str
    name: str
    address: str
    port: int
    user: str
    log_dirs: tuple[str, ...] = ()
