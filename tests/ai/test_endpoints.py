"""The AI endpoints through the gateway: chat, history, stored diagnoses, repair approvals and roles."""

import json

import pytest

from libs.common.rpc import Principal
from services.ai.chat import ChatFlows, LlmNotConfigured, to_api_messages
from services.ai.config import AiSettings
from services.ai.schemas import ChatMessageIn, ChatRequest
from tests.ai.helpers import exec_logs, wait_until
from tests.fakes.anthropic_server import text_turn, tool_turn


@pytest.fixture(scope="module")
def incident(api, admin, cluster):
    """An incident reported by hand on demo-dn1, diagnosed offline by the FAULTS consumer."""
    body = {
        "type": "namenode_unreachable",
        "level": "error",
        "title": "NameNode unreachable",
        "cluster": cluster["uuid"],
        "node": "demo-dn1",
    }
    response = api.client.post("/faults", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    incident_id = response.json()["id"]
    found = wait_until(
        lambda: api.client.get(f"/incidents/{incident_id}/diagnosis", headers=admin.headers).status_code == 200
    )
    assert found, "no diagnosis stored for the reported incident"
    return incident_id


def repairs_of(api, account, cluster, incident_id):
    response = api.client.get("/repairs", params={"cluster": cluster["uuid"]}, headers=account.headers)
    assert response.status_code == 200, response.text
    return {item["action_id"]: item for item in response.json()["items"] if item["incident_id"] == incident_id}


def test_chat_contract_messages(api, admin, fake_llm):
    fake_llm.script(text_turn("检查 NameNode 日志。"))
    body = {
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "NameNode 启动失败怎么办?"}]
    }
    response = api.client.post("/ai/chat", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["reply"] == "检查 NameNode 日志。"
    sent = fake_llm.requests[0].body
    assert "(client note) be brief" in json.dumps(sent["messages"], ensure_ascii=False)
    assert "hfd" in sent["system"]


def test_chat_uses_tools(api, admin, cluster, fake_llm):
    fake_llm.script(tool_turn(("run_diagnostic", {"node": "demo-dn2", "command": "jps"})), text_turn("DataNode runs."))
    response = api.client.post("/ai/chat", json={"message": "Is the DataNode on demo-dn2 up?"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    [result] = fake_llm.requests[1].tool_results()
    assert "DataNode" in result["content"]


def test_chat_stream_and_history(api, admin, fake_llm):
    fake_llm.script(text_turn("A streamed answer about HDFS."))
    headers = {**admin.headers, "Accept": "text/event-stream"}
    body = {"sessionId": "session-1", "message": "Tell me about HDFS", "stream": True}
    with api.client.stream("POST", "/ai/chat", json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert "".join(json.loads(event)["content"] for event in events[:-1]) == "A streamed answer about HDFS."

    history = api.client.get("/ai/history", params={"sessionId": "session-1"}, headers=admin.headers).json()
    assert history["messages"] == [
        {"role": "user", "content": "Tell me about HDFS"},
        {"role": "assistant", "content": "A streamed answer about HDFS."},
    ]


def test_history_of_other_user_empty(api, admin, fake_llm):
    observer = api.create_account("observer")
    response = api.client.get("/ai/history", params={"sessionId": "session-1"}, headers=observer.headers)
    assert response.status_code == 200
    assert response.json()["messages"] == []


@pytest.mark.parametrize("body", [{}, {"messages": []}, {"messages": [{"role": "robot", "content": "x"}]}])
def test_chat_validation(api, admin, body):
    response = api.client.post("/ai/chat", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["detail"]["errors"]


async def test_chat_without_model_unavailable():
    flows = ChatFlows(db=None, settings=AiSettings(anthropic_api_key=""), client=None)
    principal = Principal(user_id=1, username="u", role="admin")
    with pytest.raises(LlmNotConfigured) as raised:
        await flows.reply(ChatRequest(message="hi"), principal, upstream=None)
    assert raised.value.status_code == 503
    assert raised.value.body() == {"detail": "llm_unavailable"}


def test_chat_turns_alternate():
    turns = to_api_messages(
        [
            ChatMessageIn(role="assistant", content="hello"),
            ChatMessageIn(role="user", content="a"),
            ChatMessageIn(role="user", content="b"),
        ]
    )
    assert turns == [{"role": "user", "content": "a\n\nb"}]


def test_diagnosis_by_language(api, admin, incident):
    zh = api.client.get(f"/incidents/{incident}/diagnosis", headers=admin.headers).json()
    en = api.client.get(f"/incidents/{incident}/diagnosis", headers={**admin.headers, "Accept-Language": "en"}).json()
    assert zh["diagnoser"] == "offline"
    assert "NameNode" in en["summary"]
    assert zh["summary"] != en["summary"]
    assert en["fallback_reason"]


def test_diagnosis_unknown_incident(api, admin):
    response = api.client.get("/incidents/no-such-incident/diagnosis", headers=admin.headers)
    assert response.status_code == 404
    assert response.json()["detail"] == "not_found"


def test_repairs_pending_under_suggest(api, admin, cluster, incident):
    repairs = repairs_of(api, admin, cluster, incident)
    assert repairs["restart_daemon:namenode"]["status"] == "pending"
    assert repairs["restart_daemon:namenode"]["safe"] is False
    assert repairs["run_diagnostic:jps"]["status"] == "pending"


def test_observer_cannot_approve(api, admin, cluster, incident):
    observer = api.create_account("observer")
    repair = repairs_of(api, admin, cluster, incident)["run_diagnostic:jps"]
    response = api.client.post(f"/repairs/{repair['id']}/approve", headers=observer.headers)
    assert response.status_code == 403


def test_operator_of_other_cluster_cannot_approve(api, admin, cluster, incident):
    operator = api.create_account("operator")
    repair = repairs_of(api, admin, cluster, incident)["run_diagnostic:jps"]
    response = api.client.post(f"/repairs/{repair['id']}/approve", headers=operator.headers)
    assert response.status_code == 404
    assert repairs_of(api, admin, cluster, incident)["run_diagnostic:jps"]["status"] == "pending"


def test_foreign_repair_answers_like_unknown(api, admin, cluster, incident):
    operator = api.create_account("operator")
    repair = repairs_of(api, admin, cluster, incident)["run_diagnostic:jps"]
    headers = {**operator.headers, "Accept-Language": "en"}
    foreign = api.client.post(f"/repairs/{repair['id']}/reject", headers=headers)
    unknown = api.client.post("/repairs/no-such-repair/reject", headers=headers)
    assert foreign.status_code == unknown.status_code
    assert foreign.json() == unknown.json()


def test_foreign_diagnosis_not_found(api, cluster, incident):
    operator = api.create_account("operator")
    response = api.client.get(f"/incidents/{incident}/diagnosis", headers=operator.headers)
    assert response.status_code == 404
    assert response.json()["detail"] == "not_found"


@pytest.mark.parametrize(("lang", "message"), [("zh", "集群不存在"), ("en", "Cluster not found")])
def test_repairs_unknown_cluster_not_found(api, admin, lang, message):
    headers = {**admin.headers, "Accept-Language": lang}
    response = api.client.get("/repairs", params={"cluster": "no-such-cluster"}, headers=headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "not_found", "message": message, "field": "cluster"}


def test_repairs_foreign_cluster_like_unknown(api, cluster):
    operator = api.create_account("operator")
    foreign = api.client.get("/repairs", params={"cluster": cluster["uuid"]}, headers=operator.headers)
    unknown = api.client.get("/repairs", params={"cluster": "no-such-cluster"}, headers=operator.headers)
    assert foreign.status_code == 404
    assert foreign.json() == unknown.json()


def test_repairs_empty_cluster_lists_all(api, admin, cluster, incident):
    response = api.client.get("/repairs", params={"cluster": ""}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert any(item["incident_id"] == incident for item in response.json()["items"])


def test_admin_approval_runs_action(api, admin, cluster, incident):
    repair = repairs_of(api, admin, cluster, incident)["run_diagnostic:jps"]
    response = api.client.post(f"/repairs/{repair['id']}/approve", headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    runs = [item for item in exec_logs(api, admin) if item.get("fault_id") == incident]
    assert any(item["command_type"] == "jps" and item["username"] == "root" for item in runs)

    again = api.client.post(f"/repairs/{repair['id']}/approve", headers=admin.headers)
    assert again.status_code == 409


def test_reject_repair(api, admin, cluster, incident):
    repair = repairs_of(api, admin, cluster, incident)["restart_daemon:namenode"]
    response = api.client.post(f"/repairs/{repair['id']}/reject", json={"reason": "not now"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert repairs_of(api, admin, cluster, incident)["restart_daemon:namenode"]["status"] == "rejected"
    assert api.client.post(f"/repairs/{repair['id']}/reject", headers=admin.headers).status_code == 409


def test_observer_request_on_foreign_cluster_not_found(api, cluster, fake_llm):
    observer = api.create_account("observer")
    body = {"cluster": cluster["uuid"], "auto": True}
    response = api.client.post("/ai/diagnose-repair", json=body, headers=observer.headers)
    assert response.status_code == 404


def test_unknown_node_not_found(api, admin, cluster):
    body = {"cluster": cluster["uuid"], "node": "no-such-node"}
    response = api.client.post("/ai/diagnose-repair", json=body, headers=admin.headers)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("field", "value"), [("node", "bad node;rm"), ("keywords", "a\x00b"), ("timeFrom", "yesterday"), ("maxSteps", 0)]
)
def test_diagnose_repair_validation(api, admin, field, value):
    response = api.client.post("/ai/diagnose-repair", json={field: value}, headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"].endswith(field)


def test_chat_too_many_messages(api, admin):
    body = {"messages": [{"role": "user", "content": "x"}] * 101}
    response = api.client.post("/ai/chat", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert "100" in response.json()["detail"]["errors"][0]["message"]


def test_chat_rejects_nul(api, admin):
    response = api.client.post("/ai/chat", json={"message": "a\x00b"}, headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"] == "message"
