"""Two AI replicas as real processes share the FAULTS consumer and diagnose each incident once.

Both replicas fetch one event at a time (``HFD_AI_CONSUMER_BATCH=1``), so the ``detected``
and the ``updated`` event of one incident, published back to back, usually reach different
replicas at the same moment. Without a lock across replicas, both read no track of the
incident and both store a first diagnosis.
"""

import asyncio
import re
import uuid

import asyncpg
import httpx
import nats
import pytest

from libs.common.names import Names
from services.ai.main import CONSUMER_NAME
from tests.ai.conftest import stack_env
from tests.ai.helpers import wait_until
from tests.ai.test_consumer_and_budget import fault_event, publish
from tests.conftest import start_stack
from tests.fakes.anthropic_server import API_KEY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

INCIDENTS = 12
ROUNDS = 3


@pytest.fixture(scope="module")
def two_replicas(infra, stack, demo, fake_llm):
    """Two AI processes in place of the package stack's one; that one starts again afterwards."""
    env = stack_env(demo, fake_llm, api_key=API_KEY, HFD_AI_CONSUMER_BATCH="1")
    stack.stop_service("ai")
    replicas = []
    try:
        for _ in range(2):
            replicas.append(start_stack(infra, "ai", **env))
        # Either replica may reply to a ping, so each replica's own log shows when it consumes.
        for replica in replicas:
            assert wait_until(lambda replica=replica: "consumer started" in replica.log("ai"), timeout=60)
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()
        stack.start_service("ai")
        stack.wait_ready()


def consumer_idle(infra) -> bool:
    """Return whether the AI's FAULTS consumer has no event left to deliver or to acknowledge."""

    async def check() -> bool:
        names = Names(infra.prefix)
        nc = await nats.connect(infra.nats_url)
        try:
            info = await nc.jetstream().consumer_info(names.stream("FAULTS"), names.durable(CONSUMER_NAME))
        finally:
            await nc.close()
        return info.num_pending == 0 and info.num_ack_pending == 0

    return asyncio.run(check())


def detected_counts(infra, incident_ids: list[str]) -> dict[str, int]:
    """Count the stored ``detected`` diagnoses of each incident that has any."""

    async def fetch() -> dict[str, int]:
        connection = await asyncpg.connect(infra.database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            rows = await connection.fetch(
                "SELECT incident_id, count(*) AS diagnoses FROM ai.diagnoses"
                " WHERE incident_id = ANY($1::text[]) AND trigger = 'detected' GROUP BY incident_id",
                incident_ids,
            )
        finally:
            await connection.close()
        return {row["incident_id"]: row["diagnoses"] for row in rows}

    return asyncio.run(fetch())


def consumed_events(log: str, durable: str) -> float:
    """Read from a replica's ``/metrics`` how many FAULTS events it handled; its log names the port."""
    port = re.search(r"metrics endpoint listening address=127.0.0.1 port=(\d+)", log).group(1)
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    pattern = rf'hfd_events_consumed_total{{consumer="{durable}",outcome="ok"}} (\S+)'
    match = re.search(pattern, metrics)
    return float(match.group(1)) if match else 0.0


def lock_waits(log: str, incident_ids: list[str]) -> int:
    found = re.findall(r"fault event waits for its incident's lock incident=(\S+)", log)
    return sum(1 for incident_id in found if incident_id in incident_ids)


def test_two_replicas_diagnose_incident_once(infra, two_replicas, cluster):
    incident_ids = [f"replica-{uuid.uuid4().hex[:12]}" for _ in range(INCIDENTS)]
    events = []
    for _ in range(ROUNDS):
        for incident_id in incident_ids:
            events.append(fault_event(cluster["uuid"], incident_id))
            events.append(fault_event(cluster["uuid"], incident_id, event="updated", count=2))

    asyncio.run(publish(infra, events))

    assert wait_until(lambda: len(detected_counts(infra, incident_ids)) == INCIDENTS, timeout=120)
    assert wait_until(lambda: consumer_idle(infra), timeout=120)
    assert detected_counts(infra, incident_ids) == dict.fromkeys(incident_ids, 1)

    durable = Names(infra.prefix).durable(CONSUMER_NAME)
    first, second = (consumed_events(replica.log("ai"), durable) for replica in two_replicas)
    waits = sum(lock_waits(replica.log("ai"), incident_ids) for replica in two_replicas)
    print(f"events handled per replica: {first:.0f} and {second:.0f}; waits for an incident's lock: {waits}")
    assert first > 0, "the first replica handled no event"
    assert second > 0, "the second replica handled no event"
