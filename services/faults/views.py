"""Conversion of incident and log record rows into the response models."""

from libs.common.catalog import Catalog
from services.faults.models import Incident, LogRecordRow
from services.faults.ownership import ClusterScope
from services.faults.schemas import FaultDetail, FaultItem, LogItem


def incident_title(incident: Incident, lang: str) -> str:
    """Return the title a person set, or the kind's title in ``lang``."""
    if incident.title_custom:
        return incident.title_custom
    return incident.title_en if lang == "en" else incident.title_zh


def fault_item(incident: Incident, scope: ClusterScope, lang: str) -> FaultItem:
    return FaultItem(**_item_fields(incident, scope, lang))


def fault_detail(incident: Incident, scope: ClusterScope, lang: str) -> FaultDetail:
    return FaultDetail(
        **_item_fields(incident, scope, lang),
        evidence_records=[*incident.evidence_first, *incident.evidence_recent],
        source_files=list(incident.source_files),
        template_id=incident.template_id,
    )


def _item_fields(incident: Incident, scope: ClusterScope, lang: str) -> dict:
    return {
        "id": incident.id,
        "type": incident.kind,
        "level": incident.severity,
        "status": incident.status,
        "title": incident_title(incident, lang),
        "cluster": incident.cluster,
        "node": incident.node,
        "created": incident.created_at,
        "cluster_name": scope.display_name(incident.cluster),
        "count": incident.count,
        "first_seen": incident.first_seen,
        "last_seen": incident.last_seen,
        "updated": incident.updated_at,
        "resolved_at": incident.resolved_at,
        "evidence": [item["text"] for item in (*incident.evidence_first, *incident.evidence_recent)],
        "title_zh": incident.title_zh,
        "title_en": incident.title_en,
        "origin": incident.origin,
        "history": list(incident.history),
    }


def incident_record(incident: Incident, catalog: Catalog) -> dict:
    """Return the incident as internal callers (the AI service) read it, with the kind's description."""
    kind = catalog.kinds.get(incident.kind)
    return {
        "incident_id": incident.id,
        "cluster": incident.cluster,
        "node": incident.node,
        "kind": incident.kind,
        "severity": incident.severity,
        "status": incident.status,
        "origin": incident.origin,
        "title_zh": incident.title_custom or incident.title_zh,
        "title_en": incident.title_custom or incident.title_en,
        "description_zh": kind.description.zh if kind else None,
        "description_en": kind.description.en if kind else None,
        "count": incident.count,
        "first_seen": incident.first_seen.isoformat(),
        "last_seen": incident.last_seen.isoformat(),
        "last_received_at": incident.last_received_at.isoformat(),
        "created_at": incident.created_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "template_id": incident.template_id,
        "evidence": [*incident.evidence_first, *incident.evidence_recent],
        "source_files": list(incident.source_files),
        "history": list(incident.history),
    }


def log_item(row: LogRecordRow, scope: ClusterScope) -> LogItem:
    return LogItem(
        log_id=row.log_id,
        id=row.log_id,
        log_time=row.log_time,
        level=row.level,
        node_host=row.node_host,
        cluster_name=scope.display_name(row.cluster),
        cluster=row.cluster,
        title=row.title,
        info=row.info,
        log_type=row.log_type,
        source_file=row.source_file,
    )
