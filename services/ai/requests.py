"""Diagnoses that a person requests (``POST /ai/diagnose-repair``) and the repairs they may run."""

import logging

from libs.common.errors import Forbidden, ServiceError
from libs.common.rpc import Principal, RpcRequest
from services.ai import service
from services.ai.context import ContextBuilder, node_from_reply
from services.ai.diagnosis.base import Diagnosis, DiagnosisContext, IncidentInfo, NodeRef
from services.ai.flows import FaultFlows, diagnosis_record, repair_records
from services.ai.models import DiagnosisRecord, RepairRecord
from services.ai.repairs.actions import ACTION_CLASSES, action_title
from services.ai.repairs.attended import cluster_lock_id, hold_repair_locks
from services.ai.repairs.policy import RepairPolicy, decide_requested, normalise_policy
from services.ai.schemas import DiagnoseRepairRequest, DiagnoseRepairResponse, ProposedActionOut, RepairOut, StepOut
from services.ai.upstream import Upstream

logger = logging.getLogger(__name__)

SEVERITY_RANK = {"critical": 3, "error": 2, "warning": 1, "info": 0}


def _matches(item: dict, keywords: str | None) -> bool:
    if not keywords:
        return True
    haystack = " ".join(
        [str(item.get("title_zh", "")), str(item.get("title_en", "")), str(item.get("kind", ""))]
        + [str(entry.get("text", entry) if isinstance(entry, dict) else entry) for entry in item.get("evidence", [])]
    ).lower()
    return all(word in haystack for word in keywords.lower().split())


def _pick(items: list[dict], body: DiagnoseRepairRequest) -> dict | None:
    """Choose the incident to diagnose: matching the keywords and time, most severe, then latest."""
    candidates = [item for item in items if _matches(item, body.keywords)]
    if body.time_from is not None:
        since = body.time_from.isoformat()
        candidates = [item for item in candidates if str(item.get("last_seen", "")) >= since]
    if not candidates:
        return None
    return max(candidates, key=lambda item: (SEVERITY_RANK.get(item.get("severity", ""), 0), item.get("last_seen", "")))


class RequestFlows:
    """The on-demand diagnosis and repair of ``POST /ai/diagnose-repair``."""

    def __init__(self, flows: FaultFlows) -> None:
        self.flows = flows
        self.settings = flows.settings

    async def diagnose_repair(self, request: RpcRequest, body: DiagnoseRepairRequest) -> DiagnoseRepairResponse:
        principal = request.principal
        if principal is None:
            raise Forbidden()
        upstream = self.flows.upstream(request.request_id, request.lang)
        node, cluster = await self._target(upstream, principal, body)
        incident = await self._incident(upstream, principal, body, node, cluster)

        builder = ContextBuilder(upstream, self.settings)
        if incident is not None:
            context = await builder.for_incident(incident, principal)
        else:
            context = DiagnosisContext(cluster=cluster or "*", node=node, principal=principal)
            await builder.add_nodes(context)
        context.keywords = body.keywords
        context.time_from = body.time_from

        diagnosis = await self.flows.runner.diagnose(context, upstream, lang=request.lang, max_steps=body.max_steps)
        policy = await self._policy(upstream, principal, context)
        record, rows, to_run = await self._store(diagnosis, context, principal, policy, body.auto)
        await self.flows._publish_once(record)

        outcome = await self._run(rows, to_run, principal)
        return await self._response(record, diagnosis, rows, outcome, request.lang, policy, body.auto)

    async def _target(
        self, upstream: Upstream, principal: Principal, body: DiagnoseRepairRequest
    ) -> tuple[NodeRef | None, str | None]:
        if body.node:
            node = node_from_reply(await upstream.resolve_node(principal, body.node, body.cluster))
            return node, node.cluster_uuid
        if body.cluster:
            cluster = await upstream.get_cluster(principal, body.cluster)
            return None, str(cluster.get("uuid") or body.cluster)
        return None, None

    async def _incident(
        self,
        upstream: Upstream,
        principal: Principal,
        body: DiagnoseRepairRequest,
        node: NodeRef | None,
        cluster: str | None,
    ) -> IncidentInfo | None:
        items = await upstream.list_incidents(
            principal, cluster=cluster, node=node.name if node else None, state="open", limit=100
        )
        chosen = _pick(items, body)
        if chosen is None:
            return None
        builder = ContextBuilder(upstream, self.settings)
        return await builder.load_incident(str(chosen.get("incident_id")), principal)

    async def _policy(self, upstream: Upstream, principal: Principal, context: DiagnosisContext) -> RepairPolicy:
        cluster = context.node.cluster_uuid if context.node else context.cluster
        if cluster == "*":
            return "suggest"
        try:
            return normalise_policy((await upstream.get_cluster(principal, cluster)).get("repair_policy"))
        except ServiceError as error:
            logger.warning("repair policy unknown, using suggest cluster=%s code=%s", cluster, error.code)
            return "suggest"

    async def _store(
        self, diagnosis: Diagnosis, context: DiagnosisContext, principal: Principal, policy: RepairPolicy, auto: bool
    ):
        record = diagnosis_record(diagnosis, context, trigger="on_demand", requested_by=principal.user_id)

        def decide(action_class, safe: bool) -> str:
            return decide_requested(policy, principal.role, auto, action_class, safe)

        rows = repair_records(record, diagnosis, context, decide)
        to_run = [row.id for row in rows if decide(ACTION_CLASSES[row.action], row.safe) == "run"]
        record.repair_status = "pending" if any(row.status == "pending" for row in rows) else None
        async with self.flows.db.session() as session:
            await service.create_diagnosis(session, record=record)
            for row in rows:
                await service.create_repair(session, record=row)
        return record, rows, to_run

    async def _run(self, rows: list[RepairRecord], to_run: list[str], principal: Principal) -> RepairOut | None:
        """Run ``to_run`` under the repair locks; raise RepairLockBusy, leaving them pending, if the wait times out."""
        if not to_run:
            return None
        # Every repair of one diagnosis names the same incident and cluster.
        async with hold_repair_locks(
            self.flows.locks,
            incident_id=rows[0].incident_id,
            cluster=cluster_lock_id(rows[0]),
            timeout=self.settings.repair_lock_timeout_seconds,
            repair_ids=to_run,
            diagnosis_id=rows[0].diagnosis_id,
        ):
            await self.flows.unattended.run(to_run, principal)
        async with self.flows.db.session() as session:
            stored = [await service.get_repair(session, repair_id=repair_id) for repair_id in to_run]
        ran = [row for row in stored if row is not None and row.status in ("succeeded", "failed")]
        details = "; ".join(f"{row.action_id}: {row.status}: {row.details}" for row in ran)
        success = bool(ran) and all(row.status == "succeeded" for row in ran)
        return RepairOut(success=success, details=details or "no repair ran")

    async def _response(
        self,
        record: DiagnosisRecord,
        diagnosis: Diagnosis,
        rows: list[RepairRecord],
        outcome: RepairOut | None,
        lang: str,
        policy: RepairPolicy,
        auto: bool,
    ) -> DiagnoseRepairResponse:
        async with self.flows.db.session() as session:
            current = {row.id: await service.get_repair(session, repair_id=row.id) for row in rows}
        notes = {item.action_id: item.node_note.get(lang) for item in diagnosis.proposed_actions if item.node_note}
        proposals = [
            ProposedActionOut(
                repairId=row.id,
                actionId=row.action_id,
                action=row.action,
                params=row.params,
                safe=row.safe,
                title=action_title(row.action, row.params, lang),
                status=(current[row.id] or row).status,
                node=row.node,
                nodeNote=notes.get(row.action_id),
            )
            for row in rows
        ]
        if outcome is None:
            outcome = RepairOut(success=False, details=_no_repair_reason(policy, auto, bool(rows), lang))
        summary = "\n\n".join(text.get(lang) for text in (diagnosis.what_happened, diagnosis.why, diagnosis.what_to_do))
        if diagnosis.fallback_reason is not None:
            summary = f"{diagnosis.fallback_reason.get(lang)}\n\n{summary}"
        return DiagnoseRepairResponse(
            result=diagnosis.summary.get(lang),
            summary=summary,
            steps=[StepOut(**step.model_dump()) for step in diagnosis.steps],
            repair=outcome,
            diagnosisId=record.id,
            incidentId=record.incident_id,
            diagnoser=diagnosis.diagnoser,
            proposedActions=proposals,
        )


def _no_repair_reason(policy: RepairPolicy, auto: bool, proposed: bool, lang: str) -> str:
    if not proposed:
        return "没有可执行的修复操作" if lang == "zh" else "No repair action applies"
    if policy == "off":
        return (
            "集群的修复策略为 off，不执行任何修复"
            if lang == "zh"
            else "The cluster's repair policy is off; nothing runs"
        )
    if not auto:
        return (
            "未请求自动修复，修复建议等待批准"
            if lang == "zh"
            else "Automatic repair was not requested; proposals wait for approval"
        )
    return (
        "你的角色不能直接执行这些修复，修复建议等待批准"
        if lang == "zh"
        else "Your role cannot run these repairs directly; proposals wait for approval"
    )
