"""Conversion of rows to the API's shapes: percent texts, ages, time buckets and their labels."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from libs.common.timeutil import humanize_age, utcnow
from services.inventory.models import Cluster, Node
from services.inventory.schemas import ClusterItem, NodeDetail, NodeItem, NodeMetrics, NodeRef

NO_VALUE = "-"


def percent_text(value: float | None) -> str:
    """Format a usage as ``25%``, or ``-`` when no sample has arrived."""
    return NO_VALUE if value is None else f"{value:.0f}%"


def cluster_item(cluster: Cluster, node_count: int) -> ClusterItem:
    """Build a ``GET /clusters`` item.

    ``count`` is the number of registered nodes, or the count the client declared at
    registration while the cluster has no nodes.
    """
    count = node_count if node_count or cluster.declared_node_count is None else cluster.declared_node_count
    return ClusterItem(
        uuid=str(cluster.uuid),
        host=cluster.host,
        ip=cluster.ip,
        count=count,
        health=cluster.health_status,
        name=cluster.name,
        node_count=node_count,
        health_status=cluster.health_status,
        type=cluster.type,
        description=cluster.description,
        repair_policy=cluster.repair_policy,
        created_at=cluster.created_at,
    )


def cluster_detail(cluster: Cluster, node_count: int) -> dict:
    """Build the internal ``clusters.get`` reply: the list item plus configuration and times."""
    return {
        **cluster_item(cluster, node_count).model_dump(mode="json"),
        "cluster_uuid": str(cluster.uuid),
        "config_info": cluster.config_info,
        "updated_at": cluster.updated_at.isoformat(),
    }


def node_item(node: Node, lang: str, now: datetime) -> NodeItem:
    return NodeItem(
        name=node.name,
        ip=node.ip,
        status=node.status,
        cpu=percent_text(node.cpu_usage),
        mem=percent_text(node.memory_usage),
        updated=humanize_age(node.last_heartbeat, lang, now=now),
        uuid=str(node.uuid),
        disk=percent_text(node.disk_usage),
        roles=list(node.roles),
        source=node.source,
    )


def node_detail(node: Node, cluster: Cluster) -> NodeDetail:
    return NodeDetail(
        name=node.name,
        metrics=NodeMetrics(
            cpu=percent_text(node.cpu_usage),
            mem=percent_text(node.memory_usage),
            disk=percent_text(node.disk_usage),
            status=node.status,
            ip=node.ip,
            lastHeartbeat=node.last_heartbeat.isoformat() if node.last_heartbeat else None,
        ),
        uuid=str(node.uuid),
        cluster=str(cluster.uuid),
        cluster_name=cluster.name,
        roles=list(node.roles),
        source=node.source,
        log_dirs=list(node.log_dirs),
    )


def node_ref(node: Node, cluster: Cluster) -> NodeRef:
    return NodeRef(
        node_uuid=str(node.uuid),
        name=node.name,
        address=node.ip,
        port=node.ssh_port,
        cluster_uuid=str(cluster.uuid),
        cluster_name=cluster.name,
        log_dirs=list(node.log_dirs),
        ssh_user=node.ssh_user,
        roles=list(node.roles),
        source=node.source,
        credentials_from_node=str(node.credentials_from) if node.credentials_from else None,
        status=node.status,
        cpu_percent=node.cpu_usage,
        memory_percent=node.memory_usage,
        disk_percent=node.disk_usage,
        last_heartbeat=node.last_heartbeat,
    )


@dataclass(frozen=True)
class Buckets:
    """Consecutive time buckets ending with the one that contains ``now``."""

    start: datetime
    seconds: int
    count: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds * self.count)

    def starts(self) -> list[datetime]:
        return [self.start + timedelta(seconds=self.seconds * index) for index in range(self.count)]


def make_buckets(window_seconds: int, bucket_seconds: int, now: datetime | None = None) -> Buckets:
    """Cover the last ``window_seconds`` with buckets aligned to multiples of ``bucket_seconds`` since the epoch."""
    moment = (now or utcnow()).timestamp()
    current = math.floor(moment / bucket_seconds) * bucket_seconds
    count = math.ceil(window_seconds / bucket_seconds)
    start = datetime.fromtimestamp(current - (count - 1) * bucket_seconds, UTC)
    return Buckets(start=start, seconds=bucket_seconds, count=count)


def time_labels(starts: list[datetime], zone: ZoneInfo) -> list[str]:
    """Format bucket starts as ``HH:MM`` in ``zone``."""
    return [moment.astimezone(zone).strftime("%H:%M") for moment in starts]


def round_percent(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
