"""NATS request/reply endpoints of the AI service.

Gateway-routed: ``diagnose_repair`` (``POST /ai/diagnose-repair``), ``chat`` (``POST /ai/chat``),
``history`` (``GET /ai/history``), ``incidents.diagnosis`` (``GET /incidents/{id}/diagnosis``),
``repairs.list`` (``GET /repairs``), ``repairs.approve`` and ``repairs.reject``
(``POST /repairs/{id}/approve|reject``). Every endpoint checks the role and the cluster
ownership again with the principal of the envelope.
"""

import logging
from dataclasses import dataclass

from libs.common.errors import Conflict, Forbidden, NotFound, ServiceError, UnknownReference
from libs.common.rpc import Principal, RpcRequest
from services.ai import service
from services.ai.chat import ChatFlows
from services.ai.flows import FaultFlows
from services.ai.models import DiagnosisRecord, RepairRecord
from services.ai.repairs.actions import ACTION_CLASSES, action_title
from services.ai.repairs.attended import cluster_lock_id, hold_repair_locks
from services.ai.repairs.policy import may_run
from services.ai.requests import RequestFlows
from services.ai.schemas import (
    ChatRequest,
    DiagnoseRepairRequest,
    HistoryQuery,
    IdParams,
    RepairDecisionBody,
    RepairsQuery,
)

logger = logging.getLogger(__name__)

REPAIR_ROLES = frozenset({"admin", "operator"})


def _principal(request: RpcRequest) -> Principal:
    if request.principal is None:
        raise Forbidden()
    return request.principal


def repair_view(row: RepairRecord, lang: str, node_note: str | None = None) -> dict:
    """Describe a repair. ``node_note`` is the reason it runs on its node, when the diagnosis gave one."""
    title = action_title(row.action, row.params, lang)
    return {
        "id": row.id,
        "diagnosis_id": row.diagnosis_id,
        "incident_id": row.incident_id,
        "cluster": row.cluster,
        "cluster_uuid": row.cluster_uuid,
        "node": row.node,
        "node_note": node_note,
        "action_id": row.action_id,
        "action": row.action,
        "params": row.params,
        "title": title,
        "safe": row.safe,
        "person_only": ACTION_CLASSES[row.action].person_only,
        "status": row.status,
        "details": row.details,
        "exec_ids": row.exec_ids,
        "decided_by": row.decided_by,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def diagnosis_view(record: DiagnosisRecord, repairs: list[RepairRecord], lang: str) -> dict:
    content = record.content
    fallback = content.get("fallback_reason")
    notes = {
        proposal["action_id"]: proposal["node_note"][lang]
        for proposal in content.get("proposed_actions", [])
        if proposal.get("node_note")
    }
    return {
        "diagnosis_id": record.id,
        "incident_id": record.incident_id,
        "cluster": record.cluster,
        "node": record.node,
        "kind": record.kind,
        "diagnoser": record.diagnoser,
        "trigger": record.trigger,
        "created_at": record.created_at.isoformat(),
        "summary": content["summary"][lang],
        "what_happened": content["what_happened"][lang],
        "evidence": content.get("evidence", []),
        "why": content["why"][lang],
        "what_to_do": content["what_to_do"][lang],
        "steps": content.get("steps", []),
        "fallback_reason": fallback[lang] if fallback else None,
        "repair_status": record.repair_status,
        "proposed_actions": [repair_view(row, lang, notes.get(row.action_id)) for row in repairs],
    }


@dataclass
class AiHandlers:
    """The endpoints, with the flows they call."""

    flows: FaultFlows
    requests: RequestFlows
    chat_flows: ChatFlows

    def register(self, rpc) -> None:
        rpc.add("diagnose_repair", self.diagnose_repair)
        rpc.add("chat", self.chat)
        rpc.add("history", self.history)
        rpc.add("incidents.diagnosis", self.incident_diagnosis)
        rpc.add("repairs.list", self.list_repairs)
        rpc.add("repairs.approve", self.approve_repair)
        rpc.add("repairs.reject", self.reject_repair)

    async def diagnose_repair(self, request: RpcRequest):
        """Diagnose the caller's cluster or node and run the repairs the policy and the role allow."""
        _principal(request)
        body: DiagnoseRepairRequest = request.parse_body(DiagnoseRepairRequest)
        return await self.requests.diagnose_repair(request, body)

    async def chat(self, request: RpcRequest) -> dict:
        """Reply to a chat message about the caller's clusters."""
        principal = _principal(request)
        body: ChatRequest = request.parse_body(ChatRequest)
        upstream = self.flows.upstream(request.request_id, request.lang)
        return await self.chat_flows.reply(body, principal, upstream)

    async def history(self, request: RpcRequest) -> dict:
        principal = _principal(request)
        query: HistoryQuery = request.parse_params(HistoryQuery)
        return await self.chat_flows.history(query.sessionId, principal)

    async def incident_diagnosis(self, request: RpcRequest) -> dict:
        """Return the newest diagnosis of an incident, in the request's language."""
        principal = _principal(request)
        params: IdParams = request.parse_params(IdParams)
        async with self.flows.db.session() as session:
            record = await service.latest_for_incident(session, incident_id=params.id)
            repairs = await service.repairs_for_diagnosis(session, diagnosis_id=record.id) if record else []
        if record is None:
            raise NotFound()
        await self._check_cluster(request, principal, record.cluster)
        return diagnosis_view(record, repairs, request.lang)

    async def list_repairs(self, request: RpcRequest) -> dict:
        """List pending and past repairs of the caller's clusters, newest first."""
        principal = _principal(request)
        query: RepairsQuery = request.parse_params(RepairsQuery)
        clusters = await self._visible_clusters(request, principal, query.cluster)
        async with self.flows.db.session() as session:
            rows = await service.list_repairs(session, clusters=clusters, status=query.status, limit=query.limit)
        return {"items": [repair_view(row, request.lang) for row in rows], "total": len(rows)}

    async def approve_repair(self, request: RpcRequest) -> dict:
        """Run a pending repair through the guarded path, if the caller's role allows the action.

        The run holds the repair locks of its incident and cluster (``repairs/attended.py``). When
        another run keeps them past ``repair_lock_timeout_seconds``, the approval fails with 409
        ``cluster_repair_running`` and the repair stays pending.
        """
        principal, row = await self._decidable(request)
        if not may_run(principal.role, row.safe):
            raise Forbidden()
        upstream = self.flows.upstream(request.request_id, request.lang)
        async with hold_repair_locks(
            self.flows.locks,
            incident_id=row.incident_id,
            cluster=cluster_lock_id(row),
            timeout=self.flows.settings.repair_lock_timeout_seconds,
            repair_ids=[row.id],
        ):
            outcome = await self.flows.repairs.run(row.id, upstream, principal, decided_by=principal.username)
        async with self.flows.db.session() as session:
            finished = await service.get_repair(session, repair_id=row.id)
        status = finished.status if finished is not None else "failed"
        logger.info("repair approved repair=%s by=%s status=%s", row.id, principal.username, status)
        return {"id": row.id, "status": status, **vars(outcome)}

    async def reject_repair(self, request: RpcRequest) -> dict:
        principal, row = await self._decidable(request)
        body: RepairDecisionBody = request.parse_body(RepairDecisionBody)
        async with self.flows.db.session() as session:
            current = await service.get_repair(session, repair_id=row.id, lock=True)
            if current is None or current.status != "pending":
                raise Conflict("repair_not_pending")
            await service.update_repair(
                session, repair_id=row.id, status="rejected", decided_by=principal.username, details=body.reason or ""
            )
        logger.info("repair rejected repair=%s by=%s", row.id, principal.username)
        return {"id": row.id, "status": "rejected"}

    async def _decidable(self, request: RpcRequest) -> tuple[Principal, RepairRecord]:
        principal = _principal(request)
        if principal.role not in REPAIR_ROLES:
            raise Forbidden()
        params: IdParams = request.parse_params(IdParams)
        async with self.flows.db.session() as session:
            row = await service.get_repair(session, repair_id=params.id)
        if row is None:
            raise NotFound()
        await self._check_cluster(request, principal, row.cluster_uuid or row.cluster)
        if row.status != "pending":
            raise Conflict("repair_not_pending")
        return principal, row

    async def _check_cluster(self, request: RpcRequest, principal: Principal, cluster: str) -> None:
        """Raise ``NotFound`` unless the caller may see ``cluster``, so another's object reads as unknown."""
        if principal.is_admin:
            return
        upstream = self.flows.upstream(request.request_id, request.lang)
        try:
            await upstream.get_cluster(principal, cluster)
        except ServiceError as error:
            if error.status_code in (403, 404):
                raise NotFound() from None
            raise

    async def _visible_clusters(
        self, request: RpcRequest, principal: Principal, cluster: str | None
    ) -> list[str] | None:
        upstream = self.flows.upstream(request.request_id, request.lang)
        if cluster:
            try:
                body = await upstream.get_cluster(principal, cluster)
            except ServiceError as error:
                if error.status_code in (403, 404):
                    raise UnknownReference("cluster", "cluster_not_found", request.lang) from None
                raise
            return [value for value in (body.get("uuid"), body.get("name"), cluster) if value]
        if principal.is_admin:
            return None
        nodes = await upstream.list_nodes(principal, None)
        return sorted({str(node[key]) for node in nodes for key in ("cluster_uuid", "cluster_name") if node.get(key)})
