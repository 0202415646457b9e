"""Gathering what a diagnosis starts from: the incident, recent logs, the cluster's nodes and
roles, metrics, related incidents, and jps on the nodes of daemons a proposal would restart.

Each source is optional: when one fails (a service down, a node unreachable), the context
records a note (a failed jps, a check without a result) and the diagnosis goes on with what
it has.
"""

import logging
from typing import Any

from libs.common.errors import ServiceError
from libs.common.rpc import Principal
from services.ai.config import AiSettings
from services.ai.diagnosis.base import ClusterNode, DaemonCheck, DiagnosisContext, IncidentInfo, Localized, NodeRef
from services.ai.playbook import find_kind
from services.ai.repairs.actions import COMMAND_JPS, jps_lists
from services.ai.repairs.placement import remote_daemons
from services.ai.upstream import Upstream

logger = logging.getLogger(__name__)

MAX_RELATED = 10
_RELATED_FIELDS = ("id", "incident_id", "kind", "type", "node", "status", "severity", "level", "count", "last_seen")


def _evidence_lines(raw: Any) -> list[str]:
    lines = []
    for item in raw or []:
        if isinstance(item, str):
            lines.append(item)
        elif isinstance(item, dict):
            lines.append(str(item.get("text") or item.get("line") or item.get("message") or ""))
    return [line for line in lines if line]


def incident_from_reply(body: dict[str, Any]) -> IncidentInfo:
    """Map the faults service's incident body onto ``IncidentInfo``, accepting its field aliases."""
    return IncidentInfo(
        incident_id=str(body.get("incident_id") or body.get("id")),
        cluster=str(body.get("cluster") or body.get("cluster_uuid") or ""),
        node=str(body.get("node") or body.get("node_host") or ""),
        kind=str(body.get("kind") or body.get("type") or "unknown_error"),
        severity=str(body.get("severity") or body.get("level") or "error"),
        status=str(body.get("status") or "active"),
        title_zh=str(body.get("title_zh") or body.get("title") or ""),
        title_en=str(body.get("title_en") or body.get("title") or ""),
        count=int(body.get("count") or 1),
        first_seen=body.get("first_seen") or body.get("created"),
        last_seen=body.get("last_seen"),
        evidence=_evidence_lines(body.get("evidence")),
        source_files=[str(name) for name in body.get("source_files") or []],
    )


def cluster_node_from_reply(body: dict[str, Any]) -> ClusterNode:
    return ClusterNode(
        name=str(body.get("name", "")),
        node_uuid=str(body.get("node_uuid", "")),
        address=body.get("address"),
        roles=sorted({str(role).lower() for role in body.get("roles") or []}),
    )


def node_from_reply(body: dict[str, Any]) -> NodeRef:
    return NodeRef(
        node_uuid=str(body["node_uuid"]),
        name=str(body.get("name", "")),
        cluster_uuid=str(body.get("cluster_uuid", "")),
        cluster_name=str(body.get("cluster_name", "")),
        address=body.get("address"),
        log_dirs=list(body.get("log_dirs") or []),
    )


class ContextBuilder:
    """Builds diagnosis contexts through the other services' internal operations."""

    def __init__(self, upstream: Upstream, settings: AiSettings) -> None:
        self.upstream = upstream
        self.settings = settings

    async def for_incident(self, incident: IncidentInfo, principal: Principal | None) -> DiagnosisContext:
        """Complete the context of a known incident with its node, logs, metrics and related incidents."""
        context = DiagnosisContext(cluster=incident.cluster, incident=incident, principal=principal)
        context.node = await self._node(context, incident.node, incident.cluster)
        await self._add_logs(context)
        await self.add_nodes(context)
        await self._add_related(context)
        await self._check_daemons(context)
        return context

    async def load_incident(self, incident_id: str, principal: Principal | None) -> IncidentInfo:
        return incident_from_reply(await self.upstream.get_incident(principal, incident_id))

    async def _node(self, context: DiagnosisContext, name: str, cluster: str | None) -> NodeRef | None:
        if not name:
            return None
        try:
            return node_from_reply(await self.upstream.resolve_node(context.principal, name, cluster))
        except ServiceError as error:
            self._note(context, "节点信息", "node details", error)
            return None

    async def _add_logs(self, context: DiagnosisContext) -> None:
        if context.node is None or self.settings.context_log_lines == 0:
            return
        source = context.incident.source_files[0] if context.incident and context.incident.source_files else None
        log_type = find_kind(context.kind).daemons[0]
        if source is None and (log_type in {"any", "client"} or not log_type.isalpha()):
            return
        try:
            context.recent_logs = await self.upstream.tail_log(
                context.principal,
                context.node.node_uuid,
                lines=self.settings.context_log_lines,
                path=source,
                log_type=None if source else log_type,
                timeout=self.settings.tool_timeout_seconds,
            )
        except ServiceError as error:
            self._note(context, "节点最近日志", "recent log records", error)

    async def add_nodes(self, context: DiagnosisContext) -> None:
        """Read the cluster's nodes with their roles, and the latest metrics of the context's node."""
        cluster = context.node.cluster_uuid if context.node else context.cluster
        if not cluster or cluster == "*":
            return
        try:
            nodes = await self.upstream.list_nodes(context.principal, cluster)
        except ServiceError as error:
            self._note(context, "集群节点和最新指标", "cluster's nodes and latest metrics", error)
            return
        context.cluster_nodes = [cluster_node_from_reply(node) for node in nodes if node.get("node_uuid")]
        if context.node is None:
            return
        for node in nodes:
            if node.get("node_uuid") == context.node.node_uuid or node.get("name") == context.node.name:
                keys = ("status", "cpu_percent", "memory_percent", "disk_percent", "last_heartbeat")
                context.metrics = {key: node.get(key) for key in keys if key in node}

    async def _add_related(self, context: DiagnosisContext) -> None:
        try:
            items = await self.upstream.list_incidents(context.principal, cluster=context.cluster, state="open")
        except ServiceError as error:
            self._note(context, "相关故障", "related incidents", error)
            return
        own_id = context.incident.incident_id if context.incident else None
        related = [item for item in items if str(item.get("incident_id") or item.get("id")) != own_id]
        context.related_incidents = [
            {key: item[key] for key in _RELATED_FIELDS if key in item} for item in related[:MAX_RELATED]
        ]

    async def _check_daemons(self, context: DiagnosisContext) -> None:
        """Run jps on each node where a proposal would restart a daemon that the reporting node does not run."""
        if context.incident is None or context.cluster_nodes is None:
            return
        nodes = {node.name: node for node in context.cluster_nodes}
        outputs: dict[str, str | DaemonCheck] = {}
        for daemon, name in remote_daemons(find_kind(context.kind), context):
            if name not in outputs:
                outputs[name] = await self._jps(context, nodes[name], context.incident.incident_id)
            output = outputs[name]
            if isinstance(output, DaemonCheck):
                context.daemon_checks.append(output.model_copy(update={"daemon": daemon}))
            else:
                context.daemon_checks.append(DaemonCheck(daemon=daemon, node=name, running=jps_lists(output, daemon)))

    async def _jps(self, context: DiagnosisContext, node: ClusterNode, incident_id: str) -> str | DaemonCheck:
        """Return the output of jps on ``node``, or a check without a result, with the reason jps failed."""
        try:
            result = await self.upstream.run_command(
                context.principal,
                node.node_uuid,
                COMMAND_JPS,
                timeout=self.settings.tool_timeout_seconds,
                description=f"diagnosis: jps on {node.name} before proposing a restart there",
                fault_id=incident_id,
            )
        except ServiceError as error:
            logger.info("daemon check failed cluster=%s node=%s code=%s", context.cluster, node.name, error.code)
            return DaemonCheck(daemon="", node=node.name, running=None, detail=error.code)
        exit_code = result.get("exit_code")
        if exit_code != 0:
            logger.info("daemon check failed cluster=%s node=%s exit_code=%s", context.cluster, node.name, exit_code)
            return DaemonCheck(daemon="", node=node.name, running=None, detail=f"exit code {exit_code}")
        return str(result.get("stdout", ""))

    @staticmethod
    def _note(context: DiagnosisContext, what_zh: str, what_en: str, error: ServiceError) -> None:
        logger.info("context source failed cluster=%s what=%s code=%s", context.cluster, what_en, error.code)
        context.notes.append(
            Localized(zh=f"未能获取{what_zh}（{error.code}）", en=f"Could not read the {what_en} ({error.code})")
        )
