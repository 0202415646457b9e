"""A node as the operations side uses it, and the directories that commands may touch on it."""

import logging
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticCustomError

from libs.common.log_dirs import allowed_log_dirs
from services.collector.node_target import NodeTarget
from services.collector.ops_settings import OpsSettings
from services.collector.remote_paths import NodeScope, normalise_path

logger = logging.getLogger(__name__)

# (node uuid, rejected folders) already logged by this process, so a request does not log them again.
_reported_rejections: set[tuple[str, tuple[str, ...]]] = set()


@dataclass(frozen=True)
class NodeInfo:
    """A node as the ops side uses it, from inventory (ownership checked) or the SSH pool."""

    node_uuid: str
    name: str
    address: str
    cluster_uuid: str
    cluster_name: str
    log_dirs: tuple[str, ...]
    ssh_user: str
    roles: tuple[str, ...] = ()

    @classmethod
    def from_inventory(cls, data: dict[str, Any]) -> "NodeInfo":
        return cls(
            node_uuid=str(data["node_uuid"]),
            name=data["name"],
            address=data.get("address", ""),
            cluster_uuid=str(data["cluster_uuid"]),
            cluster_name=data["cluster_name"],
            log_dirs=tuple(data.get("log_dirs") or ()),
            ssh_user=data.get("ssh_user", ""),
            roles=tuple(data.get("roles") or ()),
        )

    @classmethod
    def from_target(cls, target: NodeTarget) -> "NodeInfo":
        """Build the node from the SSH pool's target, for callers that skip the inventory lookup."""
        return cls(
            node_uuid=target.node_uuid,
            name=target.name,
            address=target.address,
            cluster_uuid=target.cluster_uuid,
            cluster_name=target.cluster_name,
            log_dirs=tuple(target.log_dirs),
            ssh_user=target.user,
        )


def node_scope(node: NodeInfo, settings: OpsSettings) -> NodeScope:
    """Return the node's log directories and temporary roots in normal form; invalid entries are dropped.

    A stored log folder that breaks ``check_log_dir`` (stored before the rule forbade system
    folders, for example) is dropped too, so read-log and the commands cannot reach files under it.
    """
    log_dirs = _valid_paths(permitted_log_dirs(node), node)
    templates = [part.strip() for part in settings.temp_roots.split(",") if part.strip()]
    expanded = [template.replace("{node}", node.name).replace("{user}", node.ssh_user) for template in templates]
    temp_roots = [root for root in _valid_paths(expanded, node) if root != "/"]
    return NodeScope(log_dirs=tuple(log_dirs), temp_roots=tuple(temp_roots))


def permitted_log_dirs(node: NodeInfo) -> list[str]:
    """Return the node's log folders that pass ``check_log_dir``, and warn once per node about the others."""
    allowed, rejected = allowed_log_dirs(node.log_dirs)
    key = (node.node_uuid, tuple(rejected))
    if rejected and key not in _reported_rejections:
        _reported_rejections.add(key)
        logger.warning(
            "stored log folders ignored: they break the log folder rule node=%s cluster=%s folders=%s",
            node.name,
            node.cluster_uuid,
            ",".join(repr(folder)[:200] for folder in rejected),
        )
    return allowed


def _valid_paths(paths: Any, node: NodeInfo) -> list[str]:
    valid = []
    for path in paths:
        try:
            valid.append(normalise_path(str(path)))
        except PydanticCustomError:
            logger.warning("invalid directory ignored node=%s cluster=%s", node.name, node.cluster_name)
    return valid
