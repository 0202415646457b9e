"""NATS request/reply endpoints of the faults service.

Gateway-routed: ``faults.list``, ``faults.get``, ``faults.create``, ``faults.update``,
``faults.delete`` and ``logs.list``. Internal, for the AI service: ``incidents.get``,
``incidents.list``, ``incidents.since`` (also served as ``incidents.resolve_check``) and
``incidents.resolve``. Every endpoint checks the role and the cluster ownership again,
whatever the gateway did. An internal request without a principal is a service acting for
itself, which may use every cluster.
"""

import logging
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from libs.common.catalog import Catalog
from libs.common.db import Database
from libs.common.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unavailable,
    UnknownReference,
    ValidationFailed,
    field_error,
)
from libs.common.names import Names
from libs.common.rpc import RpcClient, RpcRequest
from libs.common.timeutil import utcnow
from services.faults import events, incidents, service, views
from services.faults.config import FaultsSettings
from services.faults.events import OutboxRelay
from services.faults.models import OPEN_STATUSES, Incident
from services.faults.ownership import ClusterScope, node_exists, resolve_cluster, scope_for
from services.faults.schemas import (
    FAULT_ID_PATTERN,
    MANUAL_KIND,
    FaultCreate,
    FaultList,
    FaultQuery,
    FaultUpdate,
    IncidentGet,
    IncidentListQuery,
    IncidentResolve,
    IncidentSince,
    LogList,
    LogQuery,
    OkReply,
)

logger = logging.getLogger(__name__)

WRITER_ROLES = frozenset({"admin", "operator"})


@dataclass
class FaultHandlers:
    """The endpoints, with the connections and settings they share."""

    db: Database
    client: RpcClient
    catalog: Catalog
    settings: FaultsSettings
    names: Names
    relay: OutboxRelay

    def register(self, rpc) -> None:
        rpc.add("health", self.health)
        rpc.add("faults.list", self.list_faults)
        rpc.add("faults.get", self.get_fault)
        rpc.add("faults.create", self.create_fault)
        rpc.add("faults.update", self.update_fault)
        rpc.add("faults.delete", self.delete_fault)
        rpc.add("logs.list", self.list_logs)
        rpc.add("incidents.get", self.get_incident)
        rpc.add("incidents.list", self.list_incidents)
        rpc.add("incidents.since", self.incident_since)
        rpc.add("incidents.resolve_check", self.incident_since)
        rpc.add("incidents.resolve", self.resolve_incident)

    def _context(self) -> incidents.IncidentContext:
        return incidents.IncidentContext(settings=self.settings, names=self.names, now=utcnow())

    async def health(self, request: RpcRequest) -> dict:
        """Report the service and its database, as the gateway's health endpoint shows them."""
        return {"status": "ok", "database": await self.db.ping()}

    # Gateway-routed endpoints.

    async def list_faults(self, request: RpcRequest) -> FaultList:
        """List incidents of the caller's clusters, newest first, with the contract's filters."""
        query: FaultQuery = request.parse_params(FaultQuery)
        scope = await scope_for(self.client, request)
        clusters = _filter_clusters(scope, query.cluster, request.lang)
        async with self.db.session() as session:
            rows, total = await service.list_incidents(
                session,
                clusters=clusters,
                node=query.node,
                seen_from=query.time_from,
                statuses=[query.status] if query.status else None,
                kind=query.type,
                offset=query.offset,
                limit=query.size,
            )
        return FaultList(items=[views.fault_item(row, scope, request.lang) for row in rows], total=total)

    async def get_fault(self, request: RpcRequest):
        incident_id = _fault_id(request)
        scope = await scope_for(self.client, request)
        async with self.db.session() as session:
            incident = await service.get_or_raise(session, incident_id=incident_id)
        _check_scope(scope, incident)
        return views.fault_detail(incident, scope, request.lang)

    async def create_fault(self, request: RpcRequest) -> OkReply:
        """Store a fault reported by an admin or operator and publish it as ``detected``."""
        principal = _require_writer(request)
        body: FaultCreate = request.parse_body(FaultCreate)
        titles = self._kind_titles(body.type, body.title, request.lang)
        cluster = await self._owned_cluster(request, body.cluster, body.node)

        now = utcnow()
        incident = incidents.create_manual(
            cluster=cluster,
            node=body.node,
            kind=body.type,
            severity=body.level,
            status=body.status,
            title=body.title,
            titles=titles,
            created=body.created or now,
            actor=principal.username,
            user_id=principal.user_id,
            incident_id=body.id,
            now=now,
        )

        id_taken = ValidationFailed([field_error("id", "fault_id_taken", request.lang)], status_code=409)
        try:
            async with self.db.session() as session:
                if body.id and await service.get(session, incident_id=body.id) is not None:
                    raise id_taken
                session.add(incident)
                event = "resolved" if body.status == "resolved" else "detected"
                await events.queue_event(session, incident, event, self.names, now)
        except IntegrityError:
            raise id_taken from None

        self.relay.wake()
        logger.info("fault reported incident=%s cluster=%s node=%s kind=%s by=%s",
                    incident.id, cluster, body.node, body.type, principal.username)
        return OkReply(id=incident.id)

    async def update_fault(self, request: RpcRequest) -> OkReply:
        """Change the status or title of an incident, recording who did it."""
        principal = _require_writer(request)
        incident_id = _fault_id(request)
        body: FaultUpdate = request.parse_body(FaultUpdate)
        if body.status is None and body.title is None:
            raise ValidationFailed([field_error("body", "nothing_to_update", request.lang)])
        scope = await scope_for(self.client, request)
        ctx = self._context()

        async with self.db.session() as session:
            incident = await service.get_or_raise(session, incident_id=incident_id, for_update=True)
            _check_scope(scope, incident)
            if body.status and body.status not in (incident.status, *incidents.TRANSITIONS[incident.status]):
                raise ValidationFailed([
                    field_error("status", "invalid_transition", request.lang, old=incident.status, new=body.status)
                ])
            changed = False
            if body.title is not None and body.title != incident.title_custom:
                incident.title_custom = body.title
                incident.updated_at = ctx.now
                changed = True
            moved = False
            if body.status:
                moved = await incidents.transition(
                    session, incident, body.status, ctx,
                    actor=principal.username, reason="manual", user_id=principal.user_id,
                )
            if changed and not moved:
                await events.queue_event(session, incident, "updated", self.names, ctx.now)

        self.relay.wake()
        if changed:
            logger.info("fault retitled incident=%s by=%s", incident_id, principal.username)
        return OkReply(id=incident_id)

    async def delete_fault(self, request: RpcRequest) -> OkReply:
        """Delete an incident; an open one is announced as ``resolved`` so subscribers stop tracking it."""
        principal = _require_writer(request)
        incident_id = _fault_id(request)
        scope = await scope_for(self.client, request)
        ctx = self._context()
        async with self.db.session() as session:
            incident = await service.get_or_raise(session, incident_id=incident_id, for_update=True)
            _check_scope(scope, incident)
            if incident.status in OPEN_STATUSES:
                await incidents.transition(
                    session, incident, "resolved", ctx,
                    actor=principal.username, reason="deleted", user_id=principal.user_id,
                )
            await service.delete_incident(session, incident=incident)
        self.relay.wake()
        logger.info("fault deleted incident=%s by=%s", incident_id, principal.username)
        return OkReply(id=incident_id)

    async def list_logs(self, request: RpcRequest) -> LogList:
        """List stored WARN, ERROR and FATAL records of the caller's clusters, newest first."""
        query: LogQuery = request.parse_params(LogQuery)
        scope = await scope_for(self.client, request)
        clusters = _filter_clusters(scope, query.cluster, request.lang)
        async with self.db.session() as session:
            rows, total = await service.list_log_records(
                session,
                clusters=clusters,
                node=query.node,
                level=query.level,
                time_from=query.time_from,
                offset=query.offset,
                limit=query.size,
            )
        return LogList(items=[views.log_item(row, scope) for row in rows], total=total)

    # Internal endpoints.

    async def get_incident(self, request: RpcRequest) -> dict:
        body: IncidentGet = request.parse_body(IncidentGet)
        scope = await scope_for(self.client, request)
        async with self.db.session() as session:
            incident = await service.get_or_raise(session, incident_id=body.incident_id)
        _check_scope(scope, incident)
        return views.incident_record(incident, self.catalog)

    async def list_incidents(self, request: RpcRequest) -> dict:
        body: IncidentListQuery = request.parse_body(IncidentListQuery)
        scope = await scope_for(self.client, request)
        clusters = _query_clusters(scope, body.cluster)
        statuses: list[str] | None = None
        if body.state == "open":
            statuses = list(OPEN_STATUSES)
        elif body.state:
            statuses = [body.state]
        async with self.db.session() as session:
            rows, total = await service.list_incidents(
                session, clusters=clusters, node=body.node, statuses=statuses, kind=body.kind, limit=body.limit
            )
        return {"incidents": [views.incident_record(row, self.catalog) for row in rows], "total": total}

    async def incident_since(self, request: RpcRequest) -> dict:
        """Tell whether the incident counted occurrences after ``since`` (the AI's repair check)."""
        body: IncidentSince = request.parse_body(IncidentSince)
        scope = await scope_for(self.client, request)
        async with self.db.session() as session:
            incident = await service.get_or_raise(session, incident_id=body.incident_id)
            newer = await _newer_incident(session, incident)
        _check_scope(scope, incident)
        arrived = incident.last_received_at > body.since or newer is not None
        return {
            "incident_id": incident.id,
            "new_occurrences": arrived,
            "status": incident.status,
            "count": incident.count,
            "last_received_at": incident.last_received_at.isoformat(),
            "newer_incident_id": newer.id if newer else None,
        }

    async def resolve_incident(self, request: RpcRequest) -> dict:
        """Resolve an incident that the AI service repaired, with ``hfd-ai`` as the actor.

        Resolving an incident that is already resolved changes nothing. With ``since``, an
        incident that counted occurrences after that time stays open, and the reply is 409
        ``new_occurrences``, because the fault came back after the caller's check.
        """
        body: IncidentResolve = request.parse_body(IncidentResolve)
        scope = await scope_for(self.client, request)
        ctx = self._context()
        async with self.db.session() as session:
            incident = await service.get_or_raise(session, incident_id=body.incident_id, for_update=True)
            _check_scope(scope, incident)
            if body.since is not None and incident.status != "resolved" and incident.last_received_at > body.since:
                logger.info("incident left open: occurrences after since incident=%s since=%s last_received=%s",
                            incident.id, body.since.isoformat(), incident.last_received_at.isoformat())
                raise Conflict("new_occurrences")
            changed = await incidents.transition(
                session, incident, "resolved", ctx, actor=incidents.AI_ACTOR, reason=body.reason
            )

        if changed:
            self.relay.wake()
        return {"incident_id": incident.id, "status": incident.status, "changed": changed}

    # Helpers.

    def _kind_titles(self, kind: str, title: str, lang: str) -> tuple[str, str]:
        if kind == MANUAL_KIND:
            return title, title
        if kind not in self.catalog:
            raise ValidationFailed([field_error("type", "invalid_fault_type", lang)])
        catalog_kind = self.catalog.get(kind)
        return catalog_kind.title.zh, catalog_kind.title.en

    async def _owned_cluster(self, request: RpcRequest, value: str, node: str) -> str:
        """Return the uuid of cluster ``value`` (uuid or name) when the caller owns it.

        Raises the same field error for a cluster that is unknown or someone else's, and a field
        error for a node that the cluster does not have.
        """
        scope = await scope_for(self.client, request)
        known = [cluster for cluster in scope.resolve(value) if cluster in scope.cluster_names]
        if len(known) > 1:
            raise ValidationFailed([field_error("cluster", "ambiguous_cluster", request.lang)])

        try:
            cluster = known[0] if known else await resolve_cluster(self.client, request, value)
            if cluster is None:
                raise ValidationFailed([field_error("cluster", "unknown_cluster", request.lang)])
            if node and not await node_exists(self.client, request, cluster, node):
                raise ValidationFailed([field_error("node", "unknown_node", request.lang)])
        except Unavailable:
            if not scope.unrestricted:
                raise
            logger.warning("inventory unavailable; admin fault report keeps cluster=%s node=%s unchecked",
                           value, node)
            return value
        return cluster


async def _newer_incident(session, incident: Incident) -> Incident | None:
    """Return the incident opened for the same fingerprint after ``incident`` was resolved, if any."""
    if incident.status != "resolved":
        return None
    query = (
        select(Incident)
        .where(Incident.fingerprint == incident.fingerprint, Incident.created_at > incident.created_at)
        .order_by(Incident.created_at)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


def _require_writer(request: RpcRequest):
    principal = request.principal
    if principal is None or principal.role not in WRITER_ROLES:
        raise Forbidden()
    return principal


def _fault_id(request: RpcRequest) -> str:
    value = str(request.params.get("fid") or "")
    if not re.fullmatch(FAULT_ID_PATTERN, value):
        raise NotFound()
    return value


def _check_scope(scope: ClusterScope, incident: Incident) -> None:
    """Raise ``NotFound`` for an incident of a cluster the caller may not see, as for an unknown id."""
    if not scope.allows(incident.cluster):
        raise NotFound()


def _query_clusters(scope: ClusterScope, value: str | None) -> list[str] | None:
    """Return the cluster ids a query is limited to: the filter within the caller's scope."""
    visible = scope.visible_clusters()
    if not value:
        return visible
    return scope.resolve(value)


def _filter_clusters(scope: ClusterScope, value: str | None, lang: str) -> list[str] | None:
    """Like ``_query_clusters``, for a list endpoint of the API: a filter naming no visible cluster is 404.

    Unknown, deleted and other users' clusters get the same response, which reveals nothing about them.
    """
    clusters = _query_clusters(scope, value)
    if value and not clusters:
        raise UnknownReference("cluster", "cluster_not_found", lang)
    return clusters
