"""Repairs and checks of an incident run on the node that runs the daemon they concern.

On the demo cluster demo-nn1 runs the NameNode, and demo-dn1 and demo-dn2 run a DataNode
each. A DataNode that cannot reach the NameNode reports ``namenode_unreachable`` on its
own node. The demo models two causes: the NameNode is stopped (every DataNode retries until
it starts again), or one DataNode lost its connection while the NameNode runs (its own
restart clears it). The first tests choose nodes without a cluster; the last ones run the
whole stack on the demo cluster.
"""

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest

from libs.common.db import Database
from services.ai import service
from services.ai.diagnosis.base import ClusterNode, DaemonCheck, DiagnosisContext, IncidentInfo
from services.ai.diagnosis.claude import _Choice, choose_actions
from services.ai.diagnosis.offline import OfflineDiagnoser
from services.ai.incident_playbook import incident_playbook
from services.ai.models import DiagnosisRecord, RepairRecord
from services.ai.playbook import find_kind
from services.ai.repairs.placement import remote_daemons
from services.ai.repairs.targets import Need, check_requested, choose_node, needed_role
from tests.ai.helpers import exec_logs, resolve_open_incidents, wait_until
from tests.democluster.helpers import run
from tests.fakes.anthropic_server import text_turn

pytestmark = pytest.mark.timeout(240)

NAMENODE = "demo-nn1"
DATANODE = "demo-dn2"
KIND = "namenode_unreachable"
DEMO_NODES = [
    ClusterNode(name="demo-nn1", node_uuid="u-nn1", address="127.0.0.40", roles=["namenode", "resourcemanager"]),
    ClusterNode(name="demo-dn1", node_uuid="u-dn1", address="127.0.0.41", roles=["datanode", "nodemanager"]),
    ClusterNode(name="demo-dn2", node_uuid="u-dn2", address="127.0.0.42", roles=["datanode", "nodemanager"]),
]
EVIDENCE = "INFO org.apache.hadoop.ipc.Client: Retrying connect to server: demo-nn1/127.0.0.40:8020. Already tried 1"


def need_of(kind: str, action_id: str) -> Need:
    found = find_kind(kind)
    return needed_role(found, incident_playbook(found, None).by_id()[action_id])


def incident_context(
    node: str = DATANODE, checks: list[DaemonCheck] | None = None, nodes: list[ClusterNode] | None = DEMO_NODES
) -> DiagnosisContext:
    incident = IncidentInfo(incident_id="i-1", cluster="c-1", node=node, kind=KIND, evidence=[EVIDENCE])
    return DiagnosisContext(cluster="c-1", incident=incident, cluster_nodes=nodes, daemon_checks=checks or [])


def namenode_check(running: bool | None) -> DaemonCheck:
    return DaemonCheck(daemon="namenode", node=NAMENODE, running=running)


def test_restart_of_remote_daemon_on_its_node():
    target = choose_node(need_of(KIND, "restart_daemon:namenode"), DATANODE, DEMO_NODES, set())
    assert target.node == NAMENODE
    assert "not on demo-dn2" in target.note.en


def test_own_daemon_stays_on_reporting_node():
    target = choose_node(need_of(KIND, "restart_daemon:datanode"), DATANODE, DEMO_NODES, set())
    assert target.node == DATANODE
    assert target.note is None


def test_own_daemon_missing_on_reporting_node():
    target = choose_node(need_of(KIND, "restart_daemon:datanode"), NAMENODE, DEMO_NODES, set())
    assert target.node is None
    assert "demo-nn1 does not run datanode" in target.note.en


def test_catalog_node_role_moves_jps():
    target = choose_node(need_of(KIND, "run_diagnostic:jps"), DATANODE, DEMO_NODES, set())
    assert target.node == NAMENODE


def test_hdfs_report_asks_namenode_node():
    target = choose_node(need_of(KIND, "run_diagnostic:hdfs_report"), DATANODE, DEMO_NODES, set())
    assert target.node == NAMENODE


def test_several_nodes_evidence_named_wins():
    need = need_of("node_lost", "restart_daemon:datanode")
    target = choose_node(need, NAMENODE, DEMO_NODES, {"127.0.0.42"})
    assert target.node == DATANODE
    assert "evidence names" in target.note.en


def test_several_nodes_first_by_name():
    need = need_of("node_lost", "restart_daemon:datanode")
    target = choose_node(need, NAMENODE, DEMO_NODES, set())
    assert target.node == "demo-dn1"
    assert "first by name" in target.note.en
    assert "第一个" in target.note.zh


def test_no_node_with_role_dropped():
    target = choose_node(Need("journalnode"), DATANODE, DEMO_NODES, set())
    assert target.node is None
    assert "No node of the cluster has the journalnode role" in target.note.en


def test_unrecorded_roles_keep_reporting_node():
    nodes = [ClusterNode(name="manual-1", node_uuid="u-m1"), ClusterNode(name="manual-2", node_uuid="u-m2")]
    target = choose_node(Need("namenode"), "manual-2", nodes, set())
    assert target.node == "manual-2"
    assert "no roles recorded" in target.note.en


def test_unread_inventory_keeps_reporting_node():
    target = choose_node(Need("namenode"), DATANODE, None, set())
    assert target.node == DATANODE
    assert "could not be read" in target.note.en


def test_model_node_without_daemon_moved():
    target = check_requested(need_of(KIND, "restart_daemon:namenode"), DATANODE, DATANODE, DEMO_NODES, set())
    assert target.node == NAMENODE
    assert "The model named demo-dn2" in target.note.en
    assert "datanode, nodemanager" in target.note.en


def test_model_node_outside_cluster_rejected():
    target = check_requested(need_of(KIND, "restart_daemon:namenode"), "elsewhere", DATANODE, DEMO_NODES, set())
    assert target.node is None
    assert "not a node of this cluster" in target.note.en


def test_model_node_with_daemon_kept():
    target = check_requested(need_of(KIND, "restart_daemon:namenode"), NAMENODE, DATANODE, DEMO_NODES, set())
    assert target.node == NAMENODE
    assert target.note is None


def test_remote_daemons_of_datanode_incident():
    assert remote_daemons(find_kind(KIND), incident_context()) == [("namenode", NAMENODE)]


def test_claude_choice_retargeted():
    choices = [_Choice(action_id="restart_daemon:namenode", node=DATANODE)]
    accepted, rejected = choose_actions(KIND, choices, "en", context=incident_context())
    assert rejected == []
    assert accepted[0].node == NAMENODE
    assert "The model named demo-dn2" in accepted[0].node_note.en


def test_claude_choice_unknown_node_rejected():
    choices = [_Choice(action_id="restart_daemon:namenode", node="elsewhere")]
    accepted, rejected = choose_actions(KIND, choices, "en", context=incident_context())
    assert accepted == []
    assert "not a node of this cluster" in rejected[0].result


def test_offline_running_namenode_restarted_last():
    diagnosis = OfflineDiagnoser().diagnose_now(incident_context(checks=[namenode_check(True)]), "en")
    order = [proposal.action_id for proposal in diagnosis.proposed_actions]
    assert order.index("restart_daemon:datanode") < order.index("restart_daemon:namenode")
    assert "NameNode runs on demo-nn1" in diagnosis.summary.en
    restart = diagnosis.proposed_actions[order.index("restart_daemon:namenode")]
    assert "jps on demo-nn1 lists NameNode" in restart.node_note.en
    assert "comes last" in restart.node_note.en


def test_offline_stopped_namenode_started_first():
    diagnosis = OfflineDiagnoser().diagnose_now(incident_context(checks=[namenode_check(False)]), "zh")
    order = [proposal.action_id for proposal in diagnosis.proposed_actions]
    assert order.index("restart_daemon:namenode") < order.index("restart_daemon:datanode")
    assert "NameNode 未运行" in diagnosis.summary.zh
    assert "在 demo-nn1 上运行 jps" in diagnosis.steps[-1].result


def test_offline_drops_proposal_without_node():
    diagnosis = OfflineDiagnoser().diagnose_now(incident_context(node=NAMENODE), "en")
    assert "restart_daemon:datanode" not in {proposal.action_id for proposal in diagnosis.proposed_actions}
    assert diagnosis.steps[-1].content == "restart_daemon:datanode"


@pytest.fixture(scope="module", autouse=True)
def resolve_afterwards(api, admin, cluster):
    """Leave no incident of KIND open, so later modules diagnose their nodes without them."""
    yield
    resolve_open_incidents(api, admin, cluster, KIND)


def open_incident(api, admin, cluster, node: str) -> str | None:
    params = {"cluster": cluster["uuid"], "type": KIND, "node": node, "status": "active", "size": 10}
    items = api.client.get("/faults", params=params, headers=admin.headers).json()["items"]
    return items[0]["id"] if items else None


def diagnosed_repairs(api, admin, incident_id: str, since: datetime) -> dict[str, dict]:
    """Wait for a diagnosis of the incident made after ``since``; return its proposals by action id.

    A fault on a node whose incident was resolved moments ago reopens that incident, whose
    latest diagnosis is then the old one until the reopening is diagnosed.
    """

    def proposals() -> dict[str, dict] | None:
        response = api.client.get(f"/incidents/{incident_id}/diagnosis", headers=admin.headers)
        if response.status_code != 200 or datetime.fromisoformat(response.json()["created_at"]) < since:
            return None
        return {item["action_id"]: item for item in response.json()["proposed_actions"]}

    found = wait_until(proposals, timeout=60)
    assert found, f"no diagnosis stored for incident {incident_id}"
    return found


def approve(api, admin, repair: dict) -> dict:
    response = api.client.post(f"/repairs/{repair['id']}/approve", headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()


def namenode_running(demo) -> bool:
    return demo.call(demo.demo.node_state, NAMENODE)["daemons"]["namenode"]["running"]


def test_datanode_fault_restarts_own_datanode(api, admin, cluster, demo):
    resolve_open_incidents(api, admin, cluster, KIND)
    injected_at = datetime.now(UTC)
    demo.call(demo.demo.inject_fault, DATANODE, KIND)

    incident_id = wait_until(lambda: open_incident(api, admin, cluster, DATANODE), timeout=60)
    assert incident_id, "the injected fault opened no incident"
    repairs = diagnosed_repairs(api, admin, incident_id, injected_at)

    assert repairs["run_diagnostic:jps"]["node"] == NAMENODE
    assert repairs["run_diagnostic:hdfs_report"]["node"] == NAMENODE
    assert repairs["restart_daemon:namenode"]["node"] == NAMENODE
    assert repairs["restart_daemon:datanode"]["node"] == DATANODE
    checks = [item for item in exec_logs(api, admin) if item.get("fault_id") == incident_id]
    assert any(item["command_type"] == "jps" and item["node"] == NAMENODE for item in checks)

    outcome = approve(api, admin, repairs["restart_daemon:datanode"])

    assert outcome["status"] == "succeeded", outcome
    assert KIND not in demo.call(demo.demo.node_state, DATANODE)["faults"]


def test_stopped_namenode_restarted_on_its_node(api, admin, cluster, demo):
    resolve_open_incidents(api, admin, cluster, KIND)
    stopped_at = datetime.now(UTC)
    stopped = asyncio.run(run(demo.manifest, NAMENODE, "hdfs --daemon stop namenode"))
    assert stopped.exit_status == 0, stopped.stderr
    try:
        incident_id = wait_until(lambda: open_incident(api, admin, cluster, DATANODE), timeout=60)
        assert incident_id, "the stopped NameNode opened no incident on the DataNode"
        repairs = diagnosed_repairs(api, admin, incident_id, stopped_at)
        restart = repairs["restart_daemon:namenode"]

        assert restart["node"] == NAMENODE
        assert "NameNode" in restart["node_note"]

        outcome = approve(api, admin, restart)

        assert outcome["status"] == "succeeded", outcome
        assert namenode_running(demo)
    finally:
        if not namenode_running(demo):
            asyncio.run(run(demo.manifest, NAMENODE, "hdfs --daemon start namenode"))


def test_model_restart_moved_to_namenode_node(api, admin, cluster, fake_llm):
    resolve_open_incidents(api, admin, cluster, KIND)
    body = {
        "type": KIND,
        "level": "error",
        "title": "NameNode unreachable",
        "cluster": cluster["uuid"],
        "node": DATANODE,
    }
    created = api.client.post("/faults", json=body, headers=admin.headers)
    assert created.status_code == 200, created.text
    text = {"zh": "DataNode 连不上 NameNode", "en": "The DataNode cannot reach the NameNode"}
    proposed = [{"action_id": "restart_daemon:namenode", "params": {}, "node": DATANODE}]
    answer = {"summary": text, "what_happened": text, "why": text, "what_to_do": text, "proposed_actions": proposed}
    fake_llm.script(text_turn(json.dumps(answer, ensure_ascii=False)))

    request = {"cluster": cluster["uuid"], "node": DATANODE, "keywords": KIND, "auto": False, "maxSteps": 1}
    response = api.client.post("/ai/diagnose-repair", json=request, headers=admin.headers)

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["diagnoser"] == "claude"
    [restart] = [item for item in result["proposedActions"] if item["actionId"] == "restart_daemon:namenode"]
    assert restart["node"] == NAMENODE
    assert "模型指定了 demo-dn2" in restart["nodeNote"]
    prompt = fake_llm.requests[0].text()
    assert '"name": "demo-nn1", "roles": ["historyserver", "namenode", "resourcemanager"]' in prompt
    assert "jps on demo-nn1 lists NameNode." in prompt
    listed = api.client.get("/repairs", params={"cluster": cluster["uuid"]}, headers=admin.headers).json()["items"]
    [stored] = [item for item in listed if item["id"] == restart["repairId"]]
    assert "The model named demo-dn2" in stored["details"]


def test_stale_restart_on_wrong_node_not_sent(infra, api, admin, cluster, demo):
    listed = api.client.get("/nodes", params={"cluster": cluster["uuid"]}, headers=admin.headers).json()["nodes"]
    node_uuid = next(item["uuid"] for item in listed if item["name"] == DATANODE)
    repair_id = asyncio.run(store_stale_restart(infra, cluster, node_uuid))
    history = len(demo.history.commands)

    outcome = approve(api, admin, {"id": repair_id})

    assert outcome["status"] == "failed"
    assert outcome["exec_ids"] == []
    assert "namenode does not run on demo-dn2" in outcome["details"]
    assert "It runs on demo-nn1" in outcome["details"]
    assert not any("--daemon" in command for command in demo.history.commands[history:])


async def store_stale_restart(infra, cluster, node_uuid: str) -> str:
    """Store a pending NameNode restart on the DataNode's node, as diagnoses before role targeting did."""
    database = Database(infra.database_url, pool_size=1)
    diagnosis = DiagnosisRecord(
        id=uuid.uuid4().hex,
        incident_id=None,
        cluster=cluster["uuid"],
        node=DATANODE,
        trigger="on_demand",
        diagnoser="offline",
        content={"summary": {"zh": "x", "en": "x"}},
    )
    repair = RepairRecord(
        id=uuid.uuid4().hex,
        diagnosis_id=diagnosis.id,
        cluster=cluster["uuid"],
        cluster_uuid=cluster["uuid"],
        node=DATANODE,
        node_uuid=node_uuid,
        action_id="restart_daemon:namenode",
        action="restart_daemon",
        params={"daemon": "namenode"},
        safe=False,
        status="pending",
    )
    try:
        async with database.session() as session:
            await service.create_diagnosis(session, record=diagnosis)
            await service.create_repair(session, record=repair)
    finally:
        await database.dispose()
    return repair.id
