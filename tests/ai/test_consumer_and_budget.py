"""The FAULTS consumer's idempotency and triggers, and the per-cluster model budget."""

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import nats

from libs.common.db import Database
from libs.common.events import FaultEvent
from libs.common.names import Names, subject_token
from libs.common.rpc import Principal
from libs.common.timeutil import utcnow
from services.ai.config import AiSettings
from services.ai.diagnosing import DiagnosisRunner
from services.ai.diagnosis.base import DiagnosisContext, IncidentInfo
from services.ai.diagnosis.llm import make_client
from services.ai.models import DiagnosisRecord
from tests.ai.helpers import wait_until


def fault_event(cluster: str, incident_id: str, *, event: str = "detected", count: int = 1, **fields) -> FaultEvent:
    now = utcnow()
    return FaultEvent(
        event=event,
        incident_id=incident_id,
        cluster=cluster,
        node="demo-dn2",
        kind="too_many_open_files",
        severity="error",
        status="resolved" if event == "resolved" else "active",
        title_zh="打开的文件过多",
        title_en="Too many open files",
        count=count,
        first_seen=now,
        last_seen=now,
        evidence=["java.io.IOException: Too many open files"],
        **fields,
    )


async def publish(infra, events: list[FaultEvent]) -> None:
    names = Names(infra.prefix)
    nc = await nats.connect(infra.nats_url)
    try:
        js = nc.jetstream()
        for item in events:
            subject = names.faults(subject_token(item.cluster), item.kind)
            # A fresh message id each time, so JetStream keeps both copies, as after a redelivery.
            await js.publish(subject, item.model_dump_json().encode(), headers={"Nats-Msg-Id": uuid.uuid4().hex})
    finally:
        await nc.close()


def diagnosis_count(infra, incident_id: str) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(infra.database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return await connection.fetchval("SELECT count(*) FROM ai.diagnoses WHERE incident_id = $1", incident_id)
        finally:
            await connection.close()

    return asyncio.run(count())


def test_redelivered_event_diagnosed_once(infra, stack, cluster):
    incident_id = f"test-{uuid.uuid4().hex[:12]}"
    event = fault_event(cluster["uuid"], incident_id)
    asyncio.run(publish(infra, [event, event]))

    assert wait_until(lambda: diagnosis_count(infra, incident_id) >= 1)
    asyncio.run(publish(infra, [fault_event(cluster["uuid"], incident_id, event="updated", count=2)]))
    asyncio.run(asyncio.sleep(1.0))
    assert diagnosis_count(infra, incident_id) == 1


def test_grown_incident_diagnosed_again(infra, stack, cluster):
    incident_id = f"test-{uuid.uuid4().hex[:12]}"
    asyncio.run(publish(infra, [fault_event(cluster["uuid"], incident_id)]))
    assert wait_until(lambda: diagnosis_count(infra, incident_id) == 1)

    asyncio.run(publish(infra, [fault_event(cluster["uuid"], incident_id, event="updated", count=50)]))
    assert wait_until(lambda: diagnosis_count(infra, incident_id) == 2)


def test_reopened_incident_diagnosed_again(infra, stack, cluster):
    incident_id = f"test-{uuid.uuid4().hex[:12]}"
    asyncio.run(publish(infra, [fault_event(cluster["uuid"], incident_id)]))
    assert wait_until(lambda: diagnosis_count(infra, incident_id) == 1)

    asyncio.run(
        publish(
            infra,
            [
                fault_event(cluster["uuid"], incident_id, event="resolved"),
                fault_event(cluster["uuid"], incident_id, event="updated", count=2),
            ],
        )
    )
    assert wait_until(lambda: diagnosis_count(infra, incident_id) == 2)


async def test_budget_sends_cluster_offline(infra, stack, fake_llm):
    settings = AiSettings(
        anthropic_api_key="test-key", anthropic_base_url=fake_llm.base_url, max_diagnoses_per_cluster_per_hour=2
    )
    database = Database(infra.database_url, pool_size=2)
    cluster = f"budget-{uuid.uuid4().hex[:8]}"
    runner = DiagnosisRunner(database, settings, make_client(settings))
    try:
        assert await runner.budget_refusal(cluster) is None
        async with database.session() as session:
            for _ in range(2):
                session.add(_model_record(cluster, tokens=10))

        assert await runner.budget_refusal(cluster) == "hourly_budget"
        incident = IncidentInfo(incident_id="i-1", cluster=cluster, node="n1", kind="disk_full", evidence=["x"])
        context = DiagnosisContext(
            cluster=cluster, incident=incident, principal=Principal(user_id=1, username="a", role="admin")
        )
        diagnosis = await runner.diagnose(context, upstream=None, lang="zh", max_steps=3)
        assert diagnosis.diagnoser == "offline"
        assert "2 diagnoses per hour" in diagnosis.fallback_reason.en
        assert fake_llm.requests == [] or all(cluster not in request.text() for request in fake_llm.requests)
    finally:
        await database.dispose()


async def test_token_budget(infra, stack):
    settings = AiSettings(anthropic_api_key="test-key", max_tokens_per_cluster_per_day=1000)
    database = Database(infra.database_url, pool_size=2)
    cluster = f"tokens-{uuid.uuid4().hex[:8]}"
    runner = DiagnosisRunner(database, settings, make_client(settings))
    try:
        async with database.session() as session:
            session.add(_model_record(cluster, tokens=600, age=timedelta(hours=20)))
            session.add(_model_record(cluster, tokens=600, age=timedelta(hours=30)))
        assert await runner.budget_refusal(cluster) is None
        async with database.session() as session:
            session.add(_model_record(cluster, tokens=600))
        assert await runner.budget_refusal(cluster) == "token_budget"
    finally:
        await database.dispose()


def _model_record(cluster: str, *, tokens: int, age: timedelta = timedelta(0)) -> DiagnosisRecord:
    summary = {"zh": "x", "en": "x"}
    return DiagnosisRecord(
        id=uuid.uuid4().hex,
        cluster=cluster,
        node="n1",
        trigger="on_demand",
        diagnoser="claude",
        tokens_used=tokens,
        content={"summary": summary},
        created_at=utcnow() - age,
        published=False,
        incident_count=0,
    )
