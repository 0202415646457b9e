"""Publishing ``DiagnosisEvent`` on the DIAGNOSES stream."""

import logging

from nats.js import JetStreamContext

from libs.common import metrics
from libs.common.events import DiagnosisEvent
from libs.common.names import Names, subject_token
from libs.common.rpc import dumps
from services.ai.models import DiagnosisRecord

logger = logging.getLogger(__name__)


def diagnosis_event(record: DiagnosisRecord) -> DiagnosisEvent:
    summary = record.content.get("summary", {})
    return DiagnosisEvent(
        diagnosis_id=record.id,
        incident_id=record.incident_id or "",
        cluster=record.cluster,
        node=record.node,
        kind=record.kind or "",
        diagnoser=record.diagnoser,  # type: ignore[arg-type]
        summary_zh=summary.get("zh", ""),
        summary_en=summary.get("en", ""),
        repair_status=record.repair_status,
        created_at=record.created_at,
    )


async def publish_diagnosis(js: JetStreamContext, names: Names, record: DiagnosisRecord, *, msg_id: str) -> None:
    """Publish the diagnosis to ``diagnoses.<cluster>``; ``msg_id`` makes a retried publish a duplicate.

    The first publish of a diagnosis uses the diagnosis id; a later update (a repair's
    outcome) uses the diagnosis id with a suffix naming the change, so it is not dropped.
    """
    subject = names.diagnoses(subject_token(record.cluster))
    await js.publish(subject, dumps(diagnosis_event(record)), headers={"Nats-Msg-Id": msg_id})
    metrics.EVENTS_PUBLISHED.labels("DIAGNOSES").inc()
    logger.info(
        "diagnosis published diagnosis=%s incident=%s cluster=%s repair_status=%s",
        record.id,
        record.incident_id,
        record.cluster,
        record.repair_status,
    )
