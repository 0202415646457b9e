"""The faults and logs endpoints through the gateway: ownership, roles, filters, pages, validation, states."""

import asyncio
import secrets
import uuid
from dataclasses import dataclass

import httpx
import pytest

from libs.common.rpc import Principal
from tests.conftest import start_stack
from tests.faults_service.helpers import (
    DISK_FULL,
    OUT_OF_MEMORY,
    SERVICE_ENV,
    UNKNOWN_A,
    LogFile,
    call,
    collect_events,
    connect,
    hadoop_line,
    publish,
    spaced_time,
    wait_until,
)

ADMIN_PASSWORD = "Adm1nPassw0rd!"
USER_PASSWORD = "Us3rPassw0rd!"


@dataclass
class World:
    """Accounts, clusters and incidents the tests of this module share."""

    base_url: str
    admin: dict[str, str]
    operator: dict[str, str]
    observer: dict[str, str]
    own_cluster: str
    own_name: str
    other_cluster: str


def _headers(token: str, lang: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if lang:
        headers["Accept-Language"] = lang
    return headers


def _login(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    reply = client.post("/api/v1/user/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return _headers(reply.json()["token"])


def _create_user(client: httpx.Client, admin: dict, username: str, role: str) -> dict[str, str]:
    body = {"username": username, "email": f"{username}@example.com", "role": role, "password": USER_PASSWORD}
    reply = client.post("/api/v1/users", json=body, headers=admin)
    assert reply.status_code == 200, reply.text
    return _login(client, username, USER_PASSWORD)


def _create_cluster(client: httpx.Client, owner: dict, name: str) -> str:
    reply = client.post("/api/v1/clusters", json={"name": name}, headers=owner)
    assert reply.status_code == 200, reply.text
    return reply.json()["uuid"]


@pytest.fixture(scope="module")
def world(infra):
    stack = start_stack(
        infra, "auth", "gateway", "inventory", "faults",
        HFD_BOOTSTRAP_ADMIN=f"admin:{ADMIN_PASSWORD}", HFD_FAULTS_UPDATE_THROTTLE_SECONDS="0", **SERVICE_ENV,
    )
    suffix = secrets.token_hex(3)
    try:
        with httpx.Client(base_url=stack.base_url, timeout=15) as client:
            admin = _login(client, "admin", ADMIN_PASSWORD)
            operator = _create_user(client, admin, f"op{suffix}", "operator")
            observer = _create_user(client, admin, f"obs{suffix}", "observer")
            own_name = f"alpha-{suffix}"
            own_cluster = _create_cluster(client, operator, own_name)
            other_cluster = _create_cluster(client, admin, f"beta-{suffix}")
        asyncio.run(_publish_faults(infra, own_cluster, other_cluster))
        yield World(stack.base_url, admin, operator, observer, own_cluster, own_name, other_cluster)
    finally:
        stack.stop()


async def _publish_faults(infra, own_cluster: str, other_cluster: str) -> None:
    """Give the own cluster three incidents on two nodes and the other cluster one."""
    nc, names = await connect(infra)
    first, second, other = LogFile(own_cluster, "dn1"), LogFile(own_cluster, "dn2"), LogFile(other_cluster, "dn9")
    await publish(nc, names, *first.batch([
        hadoop_line(spaced_time(0), "ERROR", DISK_FULL),
        hadoop_line(spaced_time(1), "WARN", "Slow flush of block 7 took 800ms"),
        hadoop_line(spaced_time(2), "ERROR", DISK_FULL),
    ]))
    await publish(nc, names, *first.batch([hadoop_line(spaced_time(3), "FATAL", OUT_OF_MEMORY)]))
    await publish(nc, names, *second.batch([hadoop_line(spaced_time(4), "ERROR", UNKNOWN_A.format(n=1))]))
    await publish(nc, names, *other.batch([hadoop_line(spaced_time(5), "ERROR", DISK_FULL)]))

    async def all_counted():
        return await _pending(nc, names) == 0
    await wait_until(all_counted)
    await nc.close()


async def _pending(nc, names) -> int:
    info = await nc.jetstream().consumer_info(names.stream("LOGS"), names.durable("faults_logs"))
    return info.num_pending + info.num_ack_pending


@pytest.fixture
def client(world):
    with httpx.Client(base_url=world.base_url, timeout=15) as http:
        yield http


def _faults(client, headers, **params) -> dict:
    reply = client.get("/api/v1/faults", params=params, headers=headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _one(client, world, kind: str) -> dict:
    items = _faults(client, world.admin, cluster=world.own_cluster, type=kind)["items"]
    assert len(items) == 1, items
    return items[0]


def _field_errors(reply: httpx.Response) -> dict[str, str]:
    assert reply.status_code == 422, reply.text
    return {error["field"]: error["code"] for error in reply.json()["detail"]["errors"]}


def test_api_operator_sees_only_owned_clusters(world, client):
    body = _faults(client, world.operator, size=100)
    clusters = {item["cluster"] for item in body["items"]}
    assert clusters == {world.own_cluster}
    assert body["total"] == 3


def test_api_admin_sees_every_cluster(world, client):
    body = _faults(client, world.admin, size=100)
    clusters = {item["cluster"] for item in body["items"]}
    assert {world.own_cluster, world.other_cluster} <= clusters


def test_api_contract_fields(world, client):
    item = _one(client, world, "disk_full")
    assert set(item) >= {"id", "type", "level", "status", "title", "cluster", "node", "created"}
    assert item["level"] == "critical"
    assert item["count"] == 2
    assert item["cluster_name"] == world.own_name
    assert item["title"] == item["title_zh"]


def test_api_title_follows_accept_language(world, client):
    headers = {**world.admin, "Accept-Language": "en-US,en;q=0.9"}
    item = _faults(client, headers, cluster=world.own_cluster, type="disk_full")["items"][0]
    assert item["title"] == item["title_en"]


def test_api_filters(world, client):
    operator = world.operator
    assert _faults(client, operator, cluster=world.own_name)["total"] == 3
    assert _faults(client, operator, cluster=world.own_cluster, node="dn2")["total"] == 1
    assert _faults(client, operator, type="out_of_memory")["total"] == 1
    assert _faults(client, operator, status="resolved", type="out_of_memory")["total"] == 0
    assert _faults(client, operator, time_from="2017-06-09T20:03:00Z")["total"] == 2
    assert _faults(client, operator, time_from="2030-01-01T00:00:00+08:00")["total"] == 0
    assert _faults(client, operator, cluster="")["total"] == 3


CLUSTER_NOT_FOUND = {
    "zh": {"detail": "not_found", "message": "集群不存在", "field": "cluster"},
    "en": {"detail": "not_found", "message": "Cluster not found", "field": "cluster"},
}


@pytest.mark.parametrize("path", ["/api/v1/faults", "/api/v1/logs"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_api_list_unknown_cluster_not_found(world, client, path, lang):
    reply = client.get(path, params={"cluster": "no-such-cluster"}, headers={**world.operator, "Accept-Language": lang})
    assert reply.status_code == 404
    assert reply.json() == CLUSTER_NOT_FOUND[lang]


@pytest.mark.parametrize("path", ["/api/v1/faults", "/api/v1/logs"])
def test_api_list_foreign_cluster_like_unknown(world, client, path):
    reply = client.get(path, params={"cluster": world.other_cluster}, headers=world.operator)
    assert reply.status_code == 404
    assert reply.json() == CLUSTER_NOT_FOUND["zh"]


@pytest.mark.parametrize("path", ["/api/v1/faults", "/api/v1/logs"])
def test_api_admin_list_unknown_cluster_not_found(world, client, path):
    reply = client.get(path, params={"cluster": str(uuid.uuid4())}, headers=world.admin)
    assert reply.status_code == 404
    assert reply.json() == CLUSTER_NOT_FOUND["zh"]


def test_api_pagination(world, client):
    pages = [_faults(client, world.operator, page=page, size=2) for page in (1, 2, 3)]
    ids = [item["id"] for page in pages for item in page["items"]]
    assert [len(page["items"]) for page in pages] == [2, 1, 0]
    assert len(set(ids)) == 3
    assert all(page["total"] == 3 for page in pages)


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"size": 0}, "size", "value_too_small"),
        ({"size": 101}, "size", "value_too_large"),
        ({"page": 0}, "page", "value_too_small"),
        ({"page": "two"}, "page", "invalid_type"),
        ({"time_from": "yesterday"}, "time_from", "invalid_time"),
        ({"status": "open"}, "status", "invalid_choice"),
    ],
)
def test_api_list_validation_names_field(world, client, params, field, code):
    reply = client.get("/api/v1/faults", params=params, headers=world.operator)
    assert _field_errors(reply) == {field: code}


def test_api_validation_message_in_english(world, client):
    reply = client.get("/api/v1/faults", params={"size": 500}, headers={**world.operator, "Accept-Language": "en"})
    assert reply.json()["detail"]["errors"][0]["message"] == "Must be at most 100"


def test_api_create_manual_fault(world, client):
    body = {"type": "manual", "level": "warning", "title": "机架 3 风扇异常", "cluster": world.own_name}
    reply = client.post("/api/v1/faults", json=body, headers=world.operator)
    assert reply.status_code == 200, reply.text
    fault_id = reply.json()["id"]
    detail = client.get(f"/api/v1/faults/{fault_id}", headers=world.operator).json()
    assert detail["cluster"] == world.own_cluster
    assert detail["title"] == "机架 3 风扇异常"
    assert detail["origin"] == "manual"
    assert detail["node"] == ""
    assert detail["history"][0]["by"].startswith("op")


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"type": "disk_is_sad"}, "type", "invalid_fault_type"),
        ({"level": "severe"}, "level", "invalid_choice"),
        ({"title": "   "}, "title", "too_short"),
        ({"created": "not a time"}, "created", "invalid_time"),
    ],
)
def test_api_create_validation_names_field(world, client, change, field, code):
    body = {"type": "disk_full", "level": "error", "title": "磁盘满", "cluster": world.own_cluster, **change}
    reply = client.post("/api/v1/faults", json=body, headers=world.operator)
    assert _field_errors(reply) == {field: code}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/faults", {"cluster": "alpha\x00"}, "cluster"),
        ("/api/v1/faults", {"node": "dn\x00"}, "node"),
        ("/api/v1/faults", {"type": "disk\x00full"}, "type"),
        ("/api/v1/logs", {"cluster": "alpha\x00"}, "cluster"),
        ("/api/v1/logs", {"node": "dn\x01"}, "node"),
    ],
)
def test_api_filters_reject_control_characters(world, client, path, params, field):
    # An admin's filters reach the database unchanged, where a NUL used to fail the query with a 500.
    reply = client.get(path, params=params, headers=world.admin)
    assert _field_errors(reply) == {field: "text_control_character"}


@pytest.mark.parametrize(
    "change",
    [{"title": "磁盘\x00满"}, {"cluster": "alpha\x00"}, {"node": "dn\x00"}, {"type": "manual\x00"}],
)
def test_api_create_rejects_control_characters(world, client, change):
    body = {"type": "manual", "level": "error", "title": "磁盘满", "cluster": world.own_cluster, **change}
    reply = client.post("/api/v1/faults", json=body, headers=world.admin)
    assert _field_errors(reply) == {next(iter(change)): "text_control_character"}


def test_api_update_rejects_control_characters(world, client):
    fault_id = _one(client, world, "disk_full")["id"]
    reply = client.put(f"/api/v1/faults/{fault_id}", json={"title": "磁盘\x00满"}, headers=world.admin)
    assert _field_errors(reply) == {"title": "text_control_character"}


def test_api_create_unknown_node_rejected(world, client):
    body = {"type": "disk_full", "level": "error", "title": "磁盘满", "cluster": world.own_cluster, "node": "ghost"}
    reply = client.post("/api/v1/faults", json=body, headers=world.operator)
    assert _field_errors(reply) == {"node": "unknown_node"}


def test_api_create_on_foreign_cluster_like_unknown(world, client):
    body = {"type": "manual", "level": "info", "title": "x"}
    foreign = client.post("/api/v1/faults", json={**body, "cluster": world.other_cluster}, headers=world.operator)
    unknown = client.post("/api/v1/faults", json={**body, "cluster": str(uuid.uuid4())}, headers=world.operator)
    assert _field_errors(foreign) == {"cluster": "unknown_cluster"}
    assert foreign.json() == unknown.json()


def test_api_observer_cannot_change(world, client):
    fault_id = _one(client, world, "disk_full")["id"]
    attempts = [
        client.post("/api/v1/faults", json={"type": "manual", "level": "info", "title": "x",
                                            "cluster": world.own_cluster}, headers=world.observer),
        client.put(f"/api/v1/faults/{fault_id}", json={"status": "resolved"}, headers=world.observer),
        client.delete(f"/api/v1/faults/{fault_id}", headers=world.observer),
    ]
    assert [reply.status_code for reply in attempts] == [403, 403, 403]
    assert all(reply.json()["detail"] == "not_allowed" for reply in attempts)


def test_api_observer_reads_nothing_it_does_not_own(world, client):
    assert _faults(client, world.observer)["total"] == 0


def _touch_incident(client, headers, fault_id: str) -> list[httpx.Response]:
    return [
        client.get(f"/api/v1/faults/{fault_id}", headers=headers),
        client.put(f"/api/v1/faults/{fault_id}", json={"status": "acknowledged"}, headers=headers),
        client.delete(f"/api/v1/faults/{fault_id}", headers=headers),
    ]


def test_api_operator_cannot_touch_foreign_incident(world, client):
    foreign = _faults(client, world.admin, cluster=world.other_cluster)["items"][0]["id"]
    replies = _touch_incident(client, world.operator, foreign)
    assert [reply.status_code for reply in replies] == [404, 404, 404]
    assert _faults(client, world.admin, cluster=world.other_cluster)["items"][0]["status"] == "active"


def test_api_foreign_incident_answers_like_unknown(world, client):
    foreign = _faults(client, world.admin, cluster=world.other_cluster)["items"][0]["id"]
    headers = {**world.operator, "Accept-Language": "en"}
    foreign_replies = _touch_incident(client, headers, foreign)
    unknown_replies = _touch_incident(client, headers, str(uuid.uuid4()))
    assert [reply.json() for reply in foreign_replies] == [reply.json() for reply in unknown_replies]


async def test_api_internal_resolve_checks_ownership(world, infra):
    async with httpx.AsyncClient(base_url=world.base_url, timeout=15) as client:
        me = (await client.get("/api/v1/user/me", headers=world.operator)).json()
        listed = await client.get("/api/v1/faults", params={"cluster": world.other_cluster}, headers=world.admin)
        foreign = listed.json()["items"][0]["id"]
        body = {"type": "manual", "level": "warning", "title": "待 AI 修复", "cluster": world.own_cluster}
        own = (await client.post("/api/v1/faults", json=body, headers=world.operator)).json()["id"]
        operator = Principal(user_id=me["id"], username=me["username"], role="operator")
        nc, names = await connect(infra)
        denied = await call(nc, names, "incidents.resolve", principal=operator, body={"incident_id": foreign})
        allowed = await call(nc, names, "incidents.resolve", principal=operator, body={"incident_id": own})
        await nc.close()
        foreign_after = (await client.get(f"/api/v1/faults/{foreign}", headers=world.admin)).json()
        own_after = (await client.get(f"/api/v1/faults/{own}", headers=world.operator)).json()

    assert denied.status == 404
    assert denied.body == {"detail": "not_found"}
    assert foreign_after["status"] != "resolved"
    assert allowed.status == 200
    assert own_after["status"] == "resolved"
    assert own_after["history"][-1]["by"] == "hfd-ai"


def test_api_unknown_incident_not_found(world, client):
    reply = client.put(f"/api/v1/faults/{uuid.uuid4()}", json={"status": "resolved"}, headers=world.operator)
    assert reply.status_code == 404
    assert reply.json()["detail"] == "not_found"


async def test_api_put_transitions_recorded_and_published(world, infra):
    nc, names = await connect(infra)
    events = await collect_events(nc, names, world.own_cluster)
    async with httpx.AsyncClient(base_url=world.base_url, timeout=15) as client:
        listed = await client.get("/api/v1/faults", params={"type": "out_of_memory"}, headers=world.operator)
        fault_id = listed.json()["items"][0]["id"]
        path = f"/api/v1/faults/{fault_id}"
        steps = [
            await client.put(path, json={"status": "acknowledged"}, headers=world.operator),
            await client.put(path, json={"status": "resolved", "title": "已扩容堆内存"}, headers=world.operator),
            await client.put(path, json={"status": "acknowledged"}, headers=world.operator),
            await client.put(path, json={}, headers=world.operator),
            await client.put(path, json={"status": "active"}, headers=world.operator),
        ]
        detail = (await client.get(path, headers=world.operator)).json()
    await wait_until(lambda: _has(events, 3))
    await nc.close()

    assert [reply.status_code for reply in steps] == [200, 200, 422, 422, 200]
    assert _field_errors(steps[2]) == {"status": "invalid_transition"}
    assert _field_errors(steps[3]) == {"body": "nothing_to_update"}
    assert [(entry["from"], entry["to"]) for entry in detail["history"]] == [
        (None, "active"), ("active", "acknowledged"), ("acknowledged", "resolved"), ("resolved", "active"),
    ]
    assert detail["history"][1]["by"].startswith("op")
    assert detail["title"] == "已扩容堆内存"
    published = [event["event"] for _msg_id, event in events if event["incident_id"] == fault_id]
    assert published == ["updated", "resolved", "detected"]


async def _has(events, size):
    return len(events) >= size


def test_api_delete_incident(world, client):
    body = {"type": "manual", "level": "info", "title": "临时记录", "cluster": world.own_cluster}
    fault_id = client.post("/api/v1/faults", json=body, headers=world.operator).json()["id"]
    deleted = client.delete(f"/api/v1/faults/{fault_id}", headers=world.operator)
    after = client.get(f"/api/v1/faults/{fault_id}", headers=world.operator)
    assert deleted.status_code == 200
    assert deleted.json()["ok"] is True
    assert after.status_code == 404


def test_api_logs_list(world, client):
    reply = client.get("/api/v1/logs", params={"cluster": world.own_cluster}, headers=world.operator)
    body = reply.json()
    assert reply.status_code == 200, reply.text
    assert body["total"] == 5
    first = body["items"][0]
    assert set(first) >= {"log_id", "id", "log_time", "level", "node_host", "cluster_name", "title", "info"}
    assert first["node_host"] == "dn2"
    assert first["cluster_name"] == world.own_name


def test_api_logs_filters(world, client):
    def total(**params):
        return client.get("/api/v1/logs", params=params, headers=world.operator).json()["total"]

    assert total(level="WARN") == 1
    assert total(level="fatal") == 1
    assert total(node="dn1") == 4
    assert total(time_from="2017-06-09T20:04:00") == 1
    assert total(cluster="") == 5
    assert total(page=2, size=4) == 5


def test_api_logs_validation(world, client):
    reply = client.get("/api/v1/logs", params={"level": "DEBUG"}, headers=world.operator)
    assert _field_errors(reply) == {"level": "invalid_choice"}
