"""Cluster registration, listing, changes and deletion through the gateway, inventory and collector.

The collector is the real service. It stores the nodes it is given in its own schema
(``collector.nodes``) but connects to none of them (see ``conftest``), so the tests read that
table to check what inventory handed over.
"""

import json
import secrets
import uuid

from tests.gateway.helpers import unique_name
from tests.inventory.helpers import node_body, ssh_key_pair


def hostname() -> str:
    return f"node-{secrets.token_hex(4)}"


def register(api, account, **body) -> str:
    response = api.request("POST", "/clusters", json=body, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["uuid"]


def listed(api, account) -> dict[str, dict]:
    response = api.request("GET", "/clusters", headers=account.headers)
    assert response.status_code == 200, response.text
    return {item["uuid"]: item for item in response.json()["clusters"]}


def test_create_cluster_web_client_body(api, operator):
    master, worker = hostname(), hostname()
    body = {
        "name": unique_name("c"),
        "type": "hadoop",
        "description": "test cluster",
        "nodes": [node_body(master, "127.0.0.2"), node_body(worker, "127.0.0.3")],
    }

    response = api.request("POST", "/clusters", json=body, headers=operator.headers)

    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True
    item = listed(api, operator)[response.json()["uuid"]]
    assert item["name"] == body["name"]
    assert item["host"] == master
    assert item["ip"] == "127.0.0.2"
    assert item["count"] == 2
    assert item["node_count"] == 2
    assert item["health"] == "unknown"
    assert item["health_status"] == "unknown"
    assert item["type"] == "hadoop"
    assert item["description"] == "test cluster"
    assert item["repair_policy"] == "suggest"


def test_create_cluster_contract_body(api, operator, database):
    cluster_uuid = str(uuid.uuid4())
    host = hostname()
    body = {"uuid": cluster_uuid, "host": host, "ip": "192.168.1.100", "count": 5, "health": "running"}

    response = api.request("POST", "/clusters", json=body, headers=operator.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "uuid": cluster_uuid}
    item = listed(api, operator)[cluster_uuid]
    assert item["host"] == host
    assert item["ip"] == "192.168.1.100"
    assert item["count"] == 5
    assert item["node_count"] == 0
    assert item["name"] == host
    assert database.collector_nodes(cluster_uuid) == {}


def test_create_cluster_secret_kept_by_collector(api, operator, database):
    secret = f"pw-{secrets.token_hex(8)}"
    name = hostname()
    cluster_name = unique_name("c")
    cluster_uuid = register(api, operator, name=cluster_name, nodes=[node_body(name, "127.0.0.2", ssh_password=secret)])

    stored = list(database.collector_nodes(cluster_uuid).values())
    assert len(stored) == 1
    assert stored[0]["name"] == name
    assert stored[0]["cluster_name"] == cluster_name
    assert stored[0]["address"] == "127.0.0.2"
    assert stored[0]["port"] == 2222
    assert stored[0]["ssh_user"] == "hadoop"
    assert json.loads(stored[0]["log_dirs"]) == ["/var/log/hadoop"]
    assert stored[0]["secret"]
    assert secret.encode() not in stored[0]["secret"]
    for table in ("clusters", "nodes", "cluster_owners", "metric_samples"):
        rows = database.fetch(f"SELECT row_to_json(t)::text AS row FROM inventory.{table} t")
        assert all(secret not in row["row"] for row in rows), table
    for path in ("/clusters", f"/nodes?cluster={cluster_uuid}", f"/nodes/{name}"):
        assert secret not in api.request("GET", path, headers=operator.headers).text, path


def test_create_cluster_with_private_key(api, operator, database):
    private_key, public_key = ssh_key_pair()
    node = node_body(hostname(), "127.0.0.2", ssh_private_key=private_key, known_host_key=public_key)
    del node["ssh_password"]

    cluster_uuid = register(api, operator, name=unique_name("c"), nodes=[node])

    stored = list(database.collector_nodes(cluster_uuid).values())
    assert len(stored) == 1
    assert stored[0]["known_host_key"] == public_key
    assert private_key.encode() not in stored[0]["secret"]


def test_create_cluster_without_collector_is_503(api, operator, database, collector_down):
    name = unique_name("c")
    body = {"name": name, "nodes": [node_body(hostname(), "127.0.0.2")]}

    response = api.request("POST", "/clusters", json=body, headers=operator.headers)

    assert response.status_code == 503, response.text
    assert response.json()["detail"] == "collector_unavailable"
    assert response.json()["message"]
    assert all(item["name"] != name for item in listed(api, operator).values())
    assert database.fetch("SELECT uuid FROM inventory.clusters WHERE name = $1", name) == []


def test_create_cluster_rolls_back_when_collector_rejects(api, operator, database):
    broken_key = "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----"
    rejected = node_body(hostname(), "127.0.0.3", ssh_private_key=broken_key)
    del rejected["ssh_password"]
    name = unique_name("c")
    cluster_uuid = str(uuid.uuid4())
    body = {"uuid": cluster_uuid, "name": name, "nodes": [node_body(hostname(), "127.0.0.2"), rejected]}

    response = api.request("POST", "/clusters", json=body, headers=operator.headers)

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]["errors"]
    assert [error["field"] for error in errors] == ["nodes[1]"]
    assert errors[0]["code"] == "collector_rejected"
    assert database.fetch("SELECT uuid FROM inventory.clusters WHERE name = $1", name) == []
    assert database.collector_nodes(cluster_uuid) == {}


def test_create_cluster_name_taken_is_409(api, operator):
    name = unique_name("c")
    register(api, operator, name=name)

    response = api.request("POST", "/clusters", json={"name": name}, headers=operator.headers)

    assert response.status_code == 409, response.text
    assert response.json()["detail"]["errors"][0]["field"] == "name"
    assert response.json()["detail"]["errors"][0]["code"] == "cluster_name_taken"


def test_create_cluster_uuid_taken_is_409(api, operator):
    cluster_uuid = register(api, operator, name=unique_name("c"))
    body = {"uuid": cluster_uuid, "name": unique_name("c")}

    response = api.request("POST", "/clusters", json=body, headers=operator.headers)

    assert response.status_code == 409, response.text
    assert response.json()["detail"]["errors"][0]["field"] == "uuid"
    assert response.json()["detail"]["errors"][0]["code"] == "cluster_exists"


def test_observer_cannot_change_clusters(api, operator, observer, database):
    cluster_uuid = register(api, operator, name=unique_name("c"))
    attempts = [
        ("POST", "/clusters", {"name": unique_name("c")}),
        ("DELETE", f"/clusters/{cluster_uuid}", None),
        ("PATCH", f"/clusters/{cluster_uuid}", {"repair_policy": "auto"}),
        ("POST", f"/clusters/{cluster_uuid}/nodes", node_body(hostname(), "127.0.0.2")),
        ("POST", f"/clusters/{cluster_uuid}/discover", None),
    ]

    for method, path, body in attempts:
        response = api.request(method, path, json=body, headers=observer.headers)
        assert response.status_code == 403, f"{method} {path}: {response.text}"
        assert response.json()["detail"] == "not_allowed", f"{method} {path}"
    assert cluster_uuid in listed(api, operator)
    assert database.collector_nodes(cluster_uuid) == {}


def test_observer_reads_nothing_unowned(api, operator, observer):
    cluster_uuid = register(api, operator, name=unique_name("c"))

    assert cluster_uuid not in listed(api, observer)
    assert api.request("GET", f"/nodes?cluster={cluster_uuid}", headers=observer.headers).status_code == 404


def isolation_requests(cluster: str, name: str) -> list[tuple[str, str, dict | None]]:
    """Every read and write of one cluster that another user must not reach."""
    return [
        ("GET", f"/nodes?cluster={cluster}", None),
        ("GET", f"/nodes/{name}?cluster={cluster}", None),
        ("GET", f"/metrics/cpu_trend?cluster={cluster}", None),
        ("GET", f"/metrics/memory_usage?cluster={cluster}", None),
        ("GET", f"/metrics/cpu_trend_node?cluster={cluster}&node={name}", None),
        ("GET", f"/metrics/memory_usage_node?cluster={cluster}&node={name}", None),
        ("DELETE", f"/clusters/{cluster}", None),
        ("PATCH", f"/clusters/{cluster}", {"description": "taken over"}),
        ("POST", f"/clusters/{cluster}/nodes", node_body(hostname(), "127.0.0.3")),
        ("POST", f"/clusters/{cluster}/discover", None),
    ]


def test_owner_isolation_between_users(api, operator, other_operator):
    name = hostname()
    cluster_uuid = register(api, operator, name=unique_name("c"), nodes=[node_body(name, "127.0.0.2")])

    assert cluster_uuid not in listed(api, other_operator)
    for method, path, body in isolation_requests(cluster_uuid, name):
        response = api.request(method, path, json=body, headers=other_operator.headers)
        assert response.status_code == 404, f"{method} {path}: {response.text}"
        assert response.json()["detail"] == "not_found", f"{method} {path}"
    assert api.request("GET", f"/nodes/{name}", headers=other_operator.headers).status_code == 404
    assert cluster_uuid in listed(api, operator)


def test_foreign_cluster_answers_like_unknown(api, operator, other_operator):
    name = hostname()
    cluster_uuid = register(api, operator, name=unique_name("c"), nodes=[node_body(name, "127.0.0.2")])
    unknown_uuid = str(uuid.uuid4())
    headers = {**other_operator.headers, "Accept-Language": "en"}

    for (method, path, body), (_, unknown_path, _) in zip(
        isolation_requests(cluster_uuid, name), isolation_requests(unknown_uuid, name), strict=True
    ):
        foreign = api.request(method, path, json=body, headers=headers)
        unknown = api.request(method, unknown_path, json=body, headers=headers)
        assert foreign.status_code == unknown.status_code, f"{method} {path}"
        assert foreign.json() == unknown.json(), f"{method} {path}"


def test_admin_sees_and_deletes_any_cluster(api, operator):
    admin = api.admin()
    cluster_uuid = register(api, operator, name=unique_name("c"), nodes=[node_body(hostname(), "127.0.0.2")])

    assert cluster_uuid in listed(api, admin)
    assert api.request("GET", f"/nodes?cluster={cluster_uuid}", headers=admin.headers).status_code == 200
    response = api.request("DELETE", f"/clusters/{cluster_uuid}", headers=admin.headers)

    assert response.status_code == 200, response.text
    assert cluster_uuid not in listed(api, operator)


def test_patch_cluster_changes_fields(api, operator, bus):
    cluster_uuid = register(api, operator, name=unique_name("c"))
    new_name = unique_name("renamed")

    response = api.request(
        "PATCH",
        f"/clusters/{cluster_uuid}",
        json={"name": new_name, "description": "changed", "repair_policy": "auto"},
        headers=operator.headers,
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True}
    item = listed(api, operator)[cluster_uuid]
    assert item["name"] == new_name
    assert item["description"] == "changed"
    assert item["repair_policy"] == "auto"
    internal = bus.call("clusters.get", {"cluster": new_name})
    assert internal.status == 200
    assert internal.body["repair_policy"] == "auto"


def test_patch_cluster_rejects_bad_policy(api, operator):
    cluster_uuid = register(api, operator, name=unique_name("c"))

    response = api.request(
        "PATCH", f"/clusters/{cluster_uuid}", json={"repair_policy": "always"}, headers=operator.headers
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"]["errors"][0]["field"] == "repair_policy"
    assert response.json()["detail"]["errors"][0]["code"] == "invalid_choice"


def test_delete_cluster_stops_collection_and_hides(api, operator, database):
    name = unique_name("c")
    cluster_uuid = register(api, operator, name=name, nodes=[node_body(hostname(), "127.0.0.2")])
    assert len(database.collector_nodes(cluster_uuid)) == 1

    response = api.request("DELETE", f"/clusters/{cluster_uuid}", headers=operator.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True}
    assert database.collector_nodes(cluster_uuid) == {}
    assert cluster_uuid not in listed(api, operator)
    assert api.request("GET", f"/nodes?cluster={cluster_uuid}", headers=operator.headers).status_code == 404
    assert api.request("DELETE", f"/clusters/{cluster_uuid}", headers=operator.headers).status_code == 404
    row = database.fetch("SELECT deleted_at FROM inventory.clusters WHERE uuid = $1", uuid.UUID(cluster_uuid))
    assert row[0]["deleted_at"] is not None
    assert database.fetch("SELECT 1 FROM inventory.nodes WHERE cluster_uuid = $1", uuid.UUID(cluster_uuid))
    owners = database.fetch("SELECT 1 FROM inventory.cluster_owners WHERE cluster_uuid = $1", uuid.UUID(cluster_uuid))
    assert owners == []
    assert register(api, operator, name=name) != cluster_uuid


def test_delete_cluster_without_collector_is_503(api, operator, stack):
    cluster_uuid = register(api, operator, name=unique_name("c"), nodes=[node_body(hostname(), "127.0.0.2")])
    stack.stop_service("collector")
    try:
        response = api.request("DELETE", f"/clusters/{cluster_uuid}", headers=operator.headers)
    finally:
        stack.start_service("collector")
        stack.wait_ready()

    assert response.status_code == 503, response.text
    assert response.json()["detail"] == "collector_unavailable"
    assert cluster_uuid in listed(api, operator)


def test_delete_unknown_cluster_is_404(api, operator):
    response = api.request("DELETE", f"/clusters/{uuid.uuid4()}", headers=operator.headers)

    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "not_found"


def test_clusters_need_a_token(api):
    response = api.request("GET", "/clusters")

    assert response.status_code == 401
