"""End to end on the demo cluster: a fault in a log, an incident, an offline diagnosis on
DIAGNOSES, and, under the ``auto`` policy, a safe repair that changes the node, shows in the
exec log and resolves the incident.

The stack diagnoses FAULTS events offline (``HFD_AI_MODEL_FOR_EVENTS=false``) and declares
``namenode_safe_mode:leave_safe_mode`` safe (``HFD_AI_EXTRA_SAFE_ACTIONS``), because the
fault catalog marks no state-changing action safe.

Safe mode shows on several nodes: in the NameNode's log, and as SafeModeException in the
clients' logs. One injected fault therefore opens an incident per node. The AI service
repairs one cluster at a time, and this test follows the first repair that clears the fault.
"""

import asyncio
import time

import nats

from libs.common.events import DiagnosisEvent, FaultEvent
from libs.common.names import Names
from tests.ai.helpers import exec_logs, wait_until

NAMENODE = "demo-nn1"
KIND = "namenode_safe_mode"
DIAGNOSIS_DEADLINE_SECONDS = 5.0


async def watch_fault_and_repair(infra, demo, timeout: float = 90.0) -> dict:
    """Inject safe mode on the NameNode; follow FAULTS and DIAGNOSES until a repair succeeds."""
    names = Names(infra.prefix)
    nc = await nats.connect(infra.nats_url)
    seen: dict = {"detected": {}, "diagnosed": {}, "repaired": None, "statuses": []}
    done = asyncio.Event()

    async def on_fault(msg) -> None:
        event = FaultEvent.model_validate_json(msg.data)
        if event.kind == KIND and event.event == "detected":
            seen["detected"].setdefault(event.incident_id, time.monotonic())

    async def on_diagnosis(msg) -> None:
        event = DiagnosisEvent.model_validate_json(msg.data)
        if event.kind != KIND:
            return
        seen["diagnosed"].setdefault(event.incident_id, (time.monotonic(), event))
        seen["statuses"].append((event.incident_id, event.repair_status))
        if event.repair_status == "succeeded":
            seen["repaired"] = event
            done.set()

    await nc.subscribe(names.subject("faults.>"), cb=on_fault)
    await nc.subscribe(names.subject("diagnoses.>"), cb=on_diagnosis)
    try:
        demo.call(demo.demo.inject_fault, NAMENODE, "safe_mode")
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        await nc.close()
    return seen


def test_fault_diagnosed_and_repaired(infra, api, admin, cluster, demo):
    response = api.client.patch(f"/clusters/{cluster['uuid']}", json={"repair_policy": "auto"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    try:
        seen = asyncio.run(watch_fault_and_repair(infra, demo))
    finally:
        api.client.patch(f"/clusters/{cluster['uuid']}", json={"repair_policy": "suggest"}, headers=admin.headers)

    first_incident, detected_at = min(seen["detected"].items(), key=lambda item: item[1])
    diagnosed_at, first_diagnosis = seen["diagnosed"][first_incident]
    latency = diagnosed_at - detected_at
    print(f"diagnosis published {latency:.3f}s after the detected event")
    assert latency < DIAGNOSIS_DEADLINE_SECONDS
    assert first_diagnosis.diagnoser == "offline"
    assert "安全模式" in first_diagnosis.summary_zh

    repaired = seen["repaired"]
    assert demo.call(demo.demo.node_state, NAMENODE)["safemode"] is False

    runs = [item for item in exec_logs(api, admin) if item.get("fault_id") == repaired.incident_id]
    assert "leave_safe_mode" in {item["command_type"] for item in runs}
    assert {item["username"] for item in runs} == {"hfd-ai"}

    fault_url = f"/faults/{repaired.incident_id}"
    resolved = wait_until(lambda: api.client.get(fault_url, headers=admin.headers).json().get("status") == "resolved")
    assert resolved
    resolution = api.client.get(fault_url, headers=admin.headers).json()["history"][-1]
    assert resolution["by"] == "hfd-ai"
    assert resolution["reason"] == "repair_succeeded"

    headers = {**admin.headers, "Accept-Language": "en"}
    diagnosis = api.client.get(f"/incidents/{repaired.incident_id}/diagnosis", headers=headers).json()
    assert "safe mode" in diagnosis["summary"].lower()

    # The incident may have grown and been diagnosed again while the repair ran. That newer
    # diagnosis has its repairs skipped, so the statuses come from the diagnosis that was repaired.
    query = {"cluster": cluster["uuid"], "limit": 500}
    listed = api.client.get("/repairs", params=query, headers=headers).json()["items"]
    repairs = {item["action_id"]: item["status"] for item in listed if item["diagnosis_id"] == repaired.diagnosis_id}
    assert repairs["leave_safe_mode"] == "succeeded"
