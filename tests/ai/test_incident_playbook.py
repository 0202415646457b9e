"""``daemon_exited`` restarts the daemon whose log showed the exit, or leaves the restart to a person.

The catalog's ``daemon_exited`` playbook names its restart's daemon as ``'{daemon}'``. The
incident's source files fill it in, because their log types, derived from the file names as
the collector does, name the daemon. A log type that names no daemon hfd can restart (an audit
log, a container log) and an incident without source files get a step for a person instead.
The first tests need no services. The last ones run the whole stack on the demo cluster,
where demo-dn1 runs a DataNode and a NodeManager, and demo-nn1 runs the JobHistoryServer.
"""

import json
from datetime import datetime
from typing import get_args

import pytest

from services.ai.diagnosis.base import ClusterNode, DiagnosisContext, IncidentInfo
from services.ai.diagnosis.claude import _Choice, choose_actions
from services.ai.diagnosis.offline import OfflineDiagnoser
from services.ai.diagnosis.prompts import render_context
from services.ai.incident_playbook import incident_playbook, source_log_types
from services.ai.playbook import find_kind
from services.ai.repairs.actions import RESTARTABLE_DAEMONS, Daemon, build_action
from services.collector.command_args import HdfsDaemon, MapredDaemon, YarnDaemon
from tests.ai.helpers import exec_logs, resolve_open_incidents, wait_until
from tests.fakes.anthropic_server import text_turn

pytestmark = pytest.mark.timeout(240)

KIND = "daemon_exited"
NODE = "demo-dn1"
MASTER = "demo-nn1"
LOG_DIR = "/var/log/hadoop"
DATANODE_LOG = f"{LOG_DIR}/hadoop-hdfs-datanode-{NODE}.log"
HISTORY_SERVER_LOG = f"{LOG_DIR}/mapred-mapred-historyserver-{MASTER}.log"
NODES = [
    ClusterNode(name=MASTER, node_uuid="u-nn1", roles=["historyserver", "namenode", "resourcemanager"]),
    ClusterNode(name=NODE, node_uuid="u-dn1", roles=["datanode", "nodemanager"]),
]
EVIDENCE = "2026-01-15 10:00:00,000 ERROR org.apache.hadoop.hdfs.server.datanode.DataNode: Exception in secureMain"


def exit_context(source_files: list[str], node: str = NODE) -> DiagnosisContext:
    incident = IncidentInfo(
        incident_id="i-1", cluster="c-1", node=node, kind=KIND, evidence=[EVIDENCE], source_files=source_files
    )
    return DiagnosisContext(cluster="c-1", incident=incident, cluster_nodes=NODES)


def action_ids(context: DiagnosisContext) -> list[str]:
    return list(incident_playbook(find_kind(KIND), context.incident).by_id())


def test_source_log_types_from_file_names():
    files = [
        DATANODE_LOG,
        f"{LOG_DIR}/hadoop-hdfs-datanode-{NODE}.out",
        f"{LOG_DIR}/yarn-yarn-nodemanager-{NODE}.log.1",
        f"{LOG_DIR}/hdfs-audit.log",
        f"{LOG_DIR}/userlogs/application_1_0001/container_1_0001_01_000001/syslog",
    ]
    assert source_log_types(files) == ["datanode", "nodemanager", "hdfs_audit", "container"]


def test_restartable_daemons_match_collector_policy():
    policy = {daemon.value for daemon in (*HdfsDaemon, *YarnDaemon, *MapredDaemon)}
    assert set(RESTARTABLE_DAEMONS) == set(get_args(Daemon)) & policy
    assert "historyserver" in RESTARTABLE_DAEMONS


def test_datanode_log_fills_restart():
    playbook = incident_playbook(find_kind(KIND), exit_context([DATANODE_LOG]).incident)
    restart = playbook.by_id()["restart_daemon:datanode"]
    assert restart.params == {"daemon": "datanode"}
    assert playbook.manual_steps == []
    assert build_action(restart.action, dict(restart.params)).commands()[0].args == {"daemon": "datanode"}


def test_history_server_log_fills_restart():
    playbook = incident_playbook(find_kind(KIND), exit_context([HISTORY_SERVER_LOG], node=MASTER).incident)
    restart = playbook.by_id()["restart_daemon:historyserver"]
    assert restart.params == {"daemon": "historyserver"}
    assert playbook.manual_steps == []
    assert build_action(restart.action, dict(restart.params)).commands()[0].args == {"daemon": "historyserver"}


def test_offline_restarts_history_server_on_its_node():
    diagnosis = OfflineDiagnoser().diagnose_now(exit_context([HISTORY_SERVER_LOG], node=MASTER), "en")
    proposals = {proposal.action_id: proposal for proposal in diagnosis.proposed_actions}
    restart = proposals["restart_daemon:historyserver"]
    assert restart.node == MASTER
    assert restart.node_note is None
    assert restart.title.en == "Restart the historyserver daemon"


def test_offline_drops_history_server_restart_elsewhere():
    log = f"{LOG_DIR}/mapred-mapred-historyserver-{NODE}.log"
    diagnosis = OfflineDiagnoser().diagnose_now(exit_context([log]), "en")
    assert "restart_daemon:historyserver" not in {proposal.action_id for proposal in diagnosis.proposed_actions}
    assert diagnosis.steps[-1].content == "restart_daemon:historyserver"
    assert "demo-dn1 does not run historyserver" in diagnosis.steps[-1].result


def test_catalog_playbook_keeps_placeholder():
    incident_playbook(find_kind(KIND), exit_context([DATANODE_LOG]).incident)
    [restart] = [action for action in find_kind(KIND).playbook.actions if action.action == "restart_daemon"]
    assert restart.params == {"daemon": "{daemon}"}


def test_two_daemon_logs_one_restart_each():
    files = [f"{LOG_DIR}/yarn-yarn-nodemanager-{NODE}.log", DATANODE_LOG, f"{LOG_DIR}/hadoop-hdfs-datanode-{NODE}.out"]
    ids = action_ids(exit_context(files))
    assert ids == ["run_diagnostic:jps", "restart_daemon:nodemanager", "restart_daemon:datanode"]


def test_offline_restarts_reporting_node_daemon():
    diagnosis = OfflineDiagnoser().diagnose_now(exit_context([DATANODE_LOG]), "en")
    proposals = {proposal.action_id: proposal for proposal in diagnosis.proposed_actions}
    restart = proposals["restart_daemon:datanode"]
    assert restart.node == NODE
    assert restart.node_note is None
    assert restart.params == {"daemon": "datanode"}
    assert restart.title.en == "Restart the datanode daemon"
    assert restart.safe is False


def test_offline_drops_restart_of_missing_daemon():
    diagnosis = OfflineDiagnoser().diagnose_now(exit_context([f"{LOG_DIR}/hadoop-hdfs-namenode-{NODE}.log"]), "en")
    assert "restart_daemon:namenode" not in {proposal.action_id for proposal in diagnosis.proposed_actions}
    assert diagnosis.steps[-1].content == "restart_daemon:namenode"
    assert "demo-dn1 does not run namenode" in diagnosis.steps[-1].result


def test_extra_safe_names_filled_daemon():
    diagnoser = OfflineDiagnoser(frozenset({"daemon_exited:restart_daemon:datanode"}))
    diagnosis = diagnoser.diagnose_now(exit_context([DATANODE_LOG]), "en")
    safe = {proposal.action_id: proposal.safe for proposal in diagnosis.proposed_actions}
    assert safe["restart_daemon:datanode"] is True


@pytest.mark.parametrize(
    ("source_files", "log_type"),
    [
        ([f"{LOG_DIR}/hdfs-audit.log"], "hdfs_audit"),
        ([f"{LOG_DIR}/userlogs/application_1_0001/container_1_0001_01_000001/syslog"], "container"),
    ],
)
def test_offline_unknown_log_type_left_to_person(source_files, log_type):
    context = exit_context(source_files)
    english = OfflineDiagnoser().diagnose_now(context, "en")
    chinese = OfflineDiagnoser().diagnose_now(context, "zh")

    assert [proposal.action_id for proposal in english.proposed_actions] == ["run_diagnostic:jps"]
    assert f"The log type {log_type} names no daemon that hfd can restart" in english.what_to_do.en
    assert f"日志类型 {log_type} 不是 hfd 能重启的守护进程" in english.what_to_do.zh
    assert english.steps[-1].content == "restart_daemon:{daemon}"
    assert english.steps[-1].result.startswith("Restart by hand the daemon whose log reported the fault.")
    assert chinese.steps[-1].result.startswith("手动重启日志中报告该故障的守护进程")


def test_offline_no_source_file_left_to_person():
    diagnosis = OfflineDiagnoser().diagnose_now(exit_context([]), "en")
    assert "restart_daemon:{daemon}" not in {proposal.action_id for proposal in diagnosis.proposed_actions}
    assert "The incident has no source log file" in diagnosis.what_to_do.en
    assert "该故障没有来源日志文件" in diagnosis.what_to_do.zh


def test_claude_choice_of_filled_restart_kept():
    choices = [_Choice(action_id="restart_daemon:datanode")]
    accepted, rejected = choose_actions(KIND, choices, "en", context=exit_context([DATANODE_LOG]))
    assert rejected == []
    assert accepted[0].node == NODE
    assert accepted[0].params == {"daemon": "datanode"}


def test_claude_choice_of_other_daemon_rejected():
    choices = [_Choice(action_id="restart_daemon:namenode"), _Choice(action_id="restart_daemon:{daemon}")]
    accepted, rejected = choose_actions(KIND, choices, "en", context=exit_context([DATANODE_LOG]))
    assert accepted == []
    assert [step.result for step in rejected] == ["not in the playbook", "not in the playbook"]


def test_prompt_lists_filled_restart():
    prompt = render_context(exit_context([DATANODE_LOG]), find_kind(KIND))
    assert '"action_id": "restart_daemon:datanode"' in prompt
    assert "{daemon}" not in prompt
    assert "Left to a person" not in prompt


def test_prompt_leaves_unknown_restart_to_person():
    prompt = render_context(exit_context([f"{LOG_DIR}/hdfs-audit.log"]), find_kind(KIND))
    assert "restart_daemon" not in prompt
    assert "Left to a person, not an action: Restart by hand the daemon whose log reported the fault." in prompt


@pytest.fixture
def no_open_exits(api, admin, cluster):
    """Resolve the open incidents of KIND before and after a test, so no other test meets them."""
    resolve_open_incidents(api, admin, cluster, KIND)
    yield
    resolve_open_incidents(api, admin, cluster, KIND)


def open_incident(api, admin, cluster, node: str = NODE) -> dict | None:
    params = {"cluster": cluster["uuid"], "type": KIND, "node": node, "status": "active", "size": 10}
    items = api.client.get("/faults", params=params, headers=admin.headers).json()["items"]
    return items[0] if items else None


def diagnosed_repairs(api, admin, incident_id: str) -> dict[str, dict]:
    def proposals() -> dict[str, dict] | None:
        response = api.client.get(f"/incidents/{incident_id}/diagnosis", headers=admin.headers)
        if response.status_code != 200:
            return None
        return {item["action_id"]: item for item in response.json()["proposed_actions"]}

    found = wait_until(proposals, timeout=60)
    assert found, f"no diagnosis stored for incident {incident_id}"
    return found


def exit_incident(api, admin, cluster, demo, node: str, log_type: str, message: str) -> tuple[dict, dict[str, dict]]:
    """Append an ERROR record with ``message`` to the node's log of ``log_type``; return its incident and repairs."""
    now = datetime.now()
    stamp = f"{now:%Y-%m-%d %H:%M:%S},{now.microsecond // 1000:03d}"
    path = demo.call(demo.demo.append_lines, node, log_type, [f"{stamp} ERROR {message}"])

    incident = wait_until(lambda: open_incident(api, admin, cluster, node), timeout=60)
    assert incident, f"the exit appended to {path} opened no incident"
    return incident, diagnosed_repairs(api, admin, incident["id"])


def approve_pending_repair(api, admin, repair: dict, node: str) -> dict:
    """Check that ``repair`` is pending on ``node``, approve it and return the outcome, which must be a success."""
    assert repair["node"] == node
    assert repair["status"] == "pending"
    response = api.client.post(f"/repairs/{repair['id']}/approve", headers=admin.headers)
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["status"] == "succeeded", outcome
    return outcome


def test_exited_datanode_restarted_on_its_node(api, admin, cluster, demo, no_open_exits):
    message = "org.apache.hadoop.hdfs.server.datanode.DataNode: Exception in secureMain"
    _, repairs = exit_incident(api, admin, cluster, demo, NODE, "datanode", message)

    approve_pending_repair(api, admin, repairs["restart_daemon:datanode"], NODE)
    assert demo.call(demo.demo.node_state, NODE)["daemons"]["datanode"]["running"]


def test_exited_history_server_restarted_on_its_node(api, admin, cluster, demo, no_open_exits):
    generation = demo.call(demo.demo.node_state, MASTER)["daemons"]["historyserver"]["generation"]
    history = len(demo.history.commands)
    message = "org.apache.hadoop.mapreduce.v2.hs.JobHistoryServer: Error starting JobHistoryServer"
    incident, repairs = exit_incident(api, admin, cluster, demo, MASTER, "historyserver", message)

    outcome = approve_pending_repair(api, admin, repairs["restart_daemon:historyserver"], MASTER)
    assert "jps lists JobHistoryServer" in outcome["details"]
    state = demo.call(demo.demo.node_state, MASTER)["daemons"]["historyserver"]
    assert state["running"]
    assert state["generation"] == generation + 1
    sent = demo.history.commands[history:]
    assert f"node {MASTER}: exec 'mapred --daemon stop historyserver'" in sent
    assert f"node {MASTER}: exec 'mapred --daemon start historyserver'" in sent
    runs = [item for item in exec_logs(api, admin) if item.get("fault_id") == incident["id"]]
    restarts = [item for item in runs if item["command_type"] == "restart_daemon"]
    assert [item["node"] for item in restarts] == [MASTER]
    assert restarts[0]["command"] == "mapred --daemon stop historyserver; mapred --daemon start historyserver"


def test_model_restart_of_reported_exit_left_to_person(api, admin, cluster, fake_llm, no_open_exits):
    body = {"type": KIND, "level": "error", "title": "DataNode exited", "cluster": cluster["uuid"], "node": NODE}
    created = api.client.post("/faults", json=body, headers=admin.headers)
    assert created.status_code == 200, created.text
    text = {"zh": "DataNode 已退出", "en": "The DataNode exited"}
    proposed = [{"action_id": "restart_daemon:datanode", "params": {}}]
    answer = {"summary": text, "what_happened": text, "why": text, "what_to_do": text, "proposed_actions": proposed}
    fake_llm.script(text_turn(json.dumps(answer, ensure_ascii=False)))

    request = {"cluster": cluster["uuid"], "node": NODE, "keywords": KIND, "auto": False, "maxSteps": 1}
    response = api.client.post("/ai/diagnose-repair", json=request, headers={**admin.headers, "Accept-Language": "en"})

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["diagnoser"] == "claude"
    assert [item["actionId"] for item in result["proposedActions"]] == []
    steps = {step["content"]: step["result"] for step in result["steps"]}
    assert steps["restart_daemon:datanode"] == "not in the playbook"
    assert "The incident has no source log file" in steps["restart_daemon:{daemon}"]
    assert "For a person:\nRestart by hand the daemon whose log reported the fault." in result["summary"]
    assert "Left to a person, not an action" in fake_llm.requests[0].text()
