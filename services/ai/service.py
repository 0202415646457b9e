"""Database work of the AI service: diagnoses, repairs, incident tracks and chat messages."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.timeutil import utcnow
from services.ai.models import ChatMessage, DiagnosisRecord, IncidentTrack, RepairRecord

# diagnoses


async def get(session: AsyncSession, *, diagnosis_id: str) -> DiagnosisRecord | None:
    return await session.get(DiagnosisRecord, diagnosis_id)


async def get_by_source_event(session: AsyncSession, *, event_id: str) -> DiagnosisRecord | None:
    statement = select(DiagnosisRecord).where(DiagnosisRecord.source_event_id == event_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def latest_for_incident(session: AsyncSession, *, incident_id: str) -> DiagnosisRecord | None:
    statement = (
        select(DiagnosisRecord)
        .where(DiagnosisRecord.incident_id == incident_id)
        .order_by(DiagnosisRecord.created_at.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def create_diagnosis(session: AsyncSession, *, record: DiagnosisRecord) -> DiagnosisRecord:
    session.add(record)
    await session.flush()
    return record


async def mark_published(session: AsyncSession, *, diagnosis_id: str) -> None:
    await session.execute(update(DiagnosisRecord).where(DiagnosisRecord.id == diagnosis_id).values(published=True))


async def set_repair_status(session: AsyncSession, *, diagnosis_id: str, status: str) -> None:
    await session.execute(
        update(DiagnosisRecord).where(DiagnosisRecord.id == diagnosis_id).values(repair_status=status)
    )


async def count_model_diagnoses(session: AsyncSession, *, cluster: str, since: datetime) -> int:
    statement = select(func.count()).where(
        DiagnosisRecord.cluster == cluster,
        DiagnosisRecord.diagnoser == "claude",
        DiagnosisRecord.created_at >= since,
    )
    return int((await session.execute(statement)).scalar_one())


async def sum_tokens(session: AsyncSession, *, cluster: str, since: datetime) -> int:
    statement = select(func.coalesce(func.sum(DiagnosisRecord.tokens_used), 0)).where(
        DiagnosisRecord.cluster == cluster, DiagnosisRecord.created_at >= since
    )
    return int((await session.execute(statement)).scalar_one())


# incident tracks


async def get_track(session: AsyncSession, *, incident_id: str) -> IncidentTrack | None:
    return await session.get(IncidentTrack, incident_id, with_for_update=True)


async def save_track(
    session: AsyncSession, *, incident_id: str, cluster: str, diagnosed_count: int, resolved: bool
) -> None:
    values = {
        "incident_id": incident_id,
        "cluster": cluster,
        "diagnosed_count": diagnosed_count,
        "resolved_since_diagnosis": resolved,
        "updated_at": utcnow(),
    }
    statement = insert(IncidentTrack).values(**values)
    statement = statement.on_conflict_do_update(index_elements=[IncidentTrack.incident_id], set_=values)
    await session.execute(statement)


async def mark_track_resolved(session: AsyncSession, *, incident_id: str, cluster: str) -> None:
    track = await get_track(session, incident_id=incident_id)
    count = track.diagnosed_count if track else 0
    await save_track(session, incident_id=incident_id, cluster=cluster, diagnosed_count=count, resolved=True)


# repairs


async def get_repair(session: AsyncSession, *, repair_id: str, lock: bool = False) -> RepairRecord | None:
    return await session.get(RepairRecord, repair_id, with_for_update=lock)


async def create_repair(session: AsyncSession, *, record: RepairRecord) -> RepairRecord:
    session.add(record)
    await session.flush()
    return record


async def update_repair(session: AsyncSession, *, repair_id: str, **values: Any) -> None:
    values["updated_at"] = utcnow()
    await session.execute(update(RepairRecord).where(RepairRecord.id == repair_id).values(**values))


async def list_repairs(
    session: AsyncSession, *, clusters: list[str] | None, status: str | None = None, limit: int = 100
) -> list[RepairRecord]:
    statement = select(RepairRecord).order_by(RepairRecord.created_at.desc()).limit(limit)
    if clusters is not None:
        statement = statement.where(RepairRecord.cluster.in_(clusters) | RepairRecord.cluster_uuid.in_(clusters))
    if status is not None:
        statement = statement.where(RepairRecord.status == status)
    return list((await session.execute(statement)).scalars())


async def repairs_for_diagnosis(session: AsyncSession, *, diagnosis_id: str) -> list[RepairRecord]:
    statement = select(RepairRecord).where(RepairRecord.diagnosis_id == diagnosis_id).order_by(RepairRecord.created_at)
    return list((await session.execute(statement)).scalars())


async def pending_repairs_for_incident(session: AsyncSession, *, incident_id: str) -> list[RepairRecord]:
    statement = select(RepairRecord).where(RepairRecord.incident_id == incident_id, RepairRecord.status == "pending")
    return list((await session.execute(statement)).scalars())


# chat


async def add_chat_message(session: AsyncSession, *, session_id: str, user_id: int, role: str, content: str) -> None:
    session.add(ChatMessage(session_id=session_id, user_id=user_id, role=role, content=content))
    await session.flush()


async def list_chat_messages(
    session: AsyncSession, *, session_id: str, user_id: int, limit: int = 200
) -> list[ChatMessage]:
    statement = (
        select(ChatMessage)
        .where(ChatMessage.session_id == session_id, ChatMessage.user_id == user_id)
        .order_by(ChatMessage.id.desc())
        .limit(limit)
    )
    return list(reversed(list((await session.execute(statement)).scalars())))
