"""Repairs that a person approves or requests hold the cluster's repair lock through the gateway.

The test holds the cluster's ``CLUSTER_REPAIRS`` lock itself with ``AdvisoryLocks``, as an
unattended run in another replica would. The AI process of this module waits at most
``LOCK_WAIT_SECONDS`` for it (``HFD_AI_REPAIR_LOCK_TIMEOUT_SECONDS``), so a timed-out request
returns within seconds.
"""

import asyncio
import json
import uuid

import httpx
import pytest

from services.ai.locks import AdvisoryLocks, LockKind
from tests.ai.conftest import stack_env
from tests.ai.helpers import wait_until
from tests.conftest import start_stack
from tests.fakes.anthropic_server import API_KEY, text_turn

pytestmark = pytest.mark.timeout(180)

NODE = "demo-dn2"
LOCK_WAIT_SECONDS = 3
# Shorter than the AI's wait, so an approval is still waiting when the test releases the lock.
HELD_SECONDS = 1.0
MESSAGES = {
    "zh": "该集群正有另一项修复在执行,本次修复未执行,仍为待批准状态,请稍后重试",
    "en": "Another repair of this cluster is running, so this one did not run and stays pending; try again later",
}


@pytest.fixture(scope="module", autouse=True)
def short_lock_wait(infra, stack, demo, fake_llm):
    """An AI process that waits LOCK_WAIT_SECONDS for repair locks, in place of the package stack's one."""
    env = stack_env(demo, fake_llm, api_key=API_KEY, HFD_AI_REPAIR_LOCK_TIMEOUT_SECONDS=str(LOCK_WAIT_SECONDS))
    stack.stop_service("ai")
    replica = None
    try:
        replica = start_stack(infra, "ai", **env)
        yield replica
    finally:
        if replica is not None:
            replica.stop()
        stack.start_service("ai")
        stack.wait_ready()


@pytest.fixture(scope="module")
def incident(api, admin, cluster):
    """An incident reported by hand on NODE, whose offline diagnosis leaves its repairs pending."""
    body = {
        "type": "namenode_unreachable",
        "level": "error",
        "title": "NameNode unreachable",
        "cluster": cluster["uuid"],
        "node": NODE,
    }
    response = api.client.post("/faults", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    incident_id = response.json()["id"]
    found = wait_until(
        lambda: api.client.get(f"/incidents/{incident_id}/diagnosis", headers=admin.headers).status_code == 200
    )
    assert found, "no diagnosis stored for the reported incident"
    return incident_id


@pytest.fixture
async def client(api):
    async with httpx.AsyncClient(base_url=f"{api.base_url}/api/v1", timeout=120) as async_client:
        yield async_client


@pytest.fixture
def locks(infra) -> AdvisoryLocks:
    return AdvisoryLocks(infra.database_url)


async def cluster_repairs(client: httpx.AsyncClient, admin, cluster) -> dict[str, dict]:
    response = await client.get("/repairs", params={"cluster": cluster["uuid"]}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


async def incident_repair(client: httpx.AsyncClient, admin, cluster, incident_id: str, action_id: str) -> dict:
    items = (await cluster_repairs(client, admin, cluster)).values()
    [repair] = [item for item in items if item["incident_id"] == incident_id and item["action_id"] == action_id]
    return repair


async def approve(client: httpx.AsyncClient, admin, repair_id: str, lang: str = "zh") -> httpx.Response:
    headers = {**admin.headers, "Accept-Language": "en" if lang == "en" else "zh-CN"}
    return await client.post(f"/repairs/{repair_id}/approve", headers=headers)


def model_answer(action_id: str) -> dict:
    text = {"zh": "需要检查进程", "en": "Check the processes"}
    body = {
        "summary": text,
        "what_happened": text,
        "why": text,
        "what_to_do": text,
        "proposed_actions": [{"action_id": action_id, "params": {}}],
    }
    return text_turn(json.dumps(body, ensure_ascii=False))


async def test_approve_waits_for_cluster_lock(client, locks, admin, cluster, incident):
    repair = await incident_repair(client, admin, cluster, incident, "run_diagnostic:jps")
    assert repair["status"] == "pending"

    async with locks.hold(LockKind.CLUSTER_REPAIRS, cluster["uuid"]):
        approval = asyncio.create_task(approve(client, admin, repair["id"]))
        await asyncio.sleep(HELD_SECONDS)
        assert not approval.done(), "the approval did not wait for the cluster's lock"
        waiting = await incident_repair(client, admin, cluster, incident, "run_diagnostic:jps")
        assert waiting["status"] == "pending"

    response = await approval
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"


async def test_approve_lock_timeout_conflict(client, locks, admin, cluster, incident):
    repair = await incident_repair(client, admin, cluster, incident, "run_diagnostic:hdfs_report")

    async with locks.hold(LockKind.CLUSTER_REPAIRS, cluster["uuid"]):
        for lang, text in MESSAGES.items():
            response = await approve(client, admin, repair["id"], lang)
            assert response.status_code == 409, response.text
            assert response.json()["detail"] == "cluster_repair_running"
            assert response.json()["message"] == text
            assert response.json()["repairIds"] == [repair["id"]]
        unclaimed = await incident_repair(client, admin, cluster, incident, "run_diagnostic:hdfs_report")
        assert unclaimed["status"] == "pending"
        assert unclaimed["decided_by"] is None

    again = await approve(client, admin, repair["id"])
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "succeeded"


async def test_requested_repair_lock_timeout(client, locks, admin, cluster, fake_llm):
    fake_llm.script(model_answer("run_diagnostic:jps"))
    before = await cluster_repairs(client, admin, cluster)
    # Keywords that match no incident, so the diagnosis is of the node and proposes unknown_error's jps.
    body = {"cluster": cluster["uuid"], "node": NODE, "keywords": f"lock-{uuid.uuid4().hex}", "auto": True}

    async with locks.hold(LockKind.CLUSTER_REPAIRS, cluster["uuid"]):
        response = await client.post("/ai/diagnose-repair", json=body, headers=admin.headers)
        assert response.status_code == 409, response.text
        assert response.json()["detail"] == "cluster_repair_running"

    after = await cluster_repairs(client, admin, cluster)
    new = [key for key, item in after.items() if key not in before and item["incident_id"] is None]
    [new_id] = new
    assert after[new_id]["action_id"] == "run_diagnostic:jps"
    assert after[new_id]["status"] == "pending"
    assert response.json()["repairIds"] == [new_id]
    assert response.json()["diagnosisId"]

    approved = await approve(client, admin, new_id)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "succeeded"
