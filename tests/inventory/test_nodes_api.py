"""Nodes: listing, details, adding, and the internal lookups other services use.

Discovery through a master node needs SSH, so ``test_demo_cluster`` tests it. The check of
each host that a master reports is tested here as a function.
"""

import secrets
from datetime import timedelta

import pytest
from pydantic_core import PydanticCustomError

from libs.common.timeutil import utcnow
from services.inventory.discovery import check_host
from services.inventory.schemas import DiscoveredHost
from tests.gateway.helpers import unique_name, wait_for
from tests.inventory.helpers import node_body


def hostname() -> str:
    return f"node-{secrets.token_hex(4)}"


def register(api, account, nodes: list[dict], **fields) -> str:
    body = {"name": unique_name("n"), "nodes": nodes, **fields}
    response = api.request("POST", "/clusters", json=body, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["uuid"]


def nodes_of(api, account, cluster_uuid: str, lang: str = "zh") -> dict[str, dict]:
    headers = {**account.headers, "Accept-Language": lang}
    response = api.request("GET", f"/nodes?cluster={cluster_uuid}", headers=headers)
    assert response.status_code == 200, response.text
    return {node["name"]: node for node in response.json()["nodes"]}


def wait_for_node(api, account, cluster_uuid: str, name: str, ready) -> dict:
    """Poll ``GET /nodes`` until ``ready(node)`` holds for the named node, and return that node."""

    def poll():
        node = nodes_of(api, account, cluster_uuid)[name]
        return node if ready(node) else None

    return wait_for(poll)


def principal_of(account, role: str = "operator") -> dict:
    return {"user_id": account.user_id, "username": account.username, "role": role}


def test_list_nodes_shape_before_samples(api, operator):
    master = hostname()
    cluster_uuid = register(api, operator, [node_body(master, "127.0.0.2", roles=["namenode"])])

    node = nodes_of(api, operator, cluster_uuid)[master]

    assert node["name"] == master
    assert node["ip"] == "127.0.0.2"
    assert node["status"] == "unknown"
    assert node["cpu"] == "-"
    assert node["mem"] == "-"
    assert node["updated"] == "从未"
    assert node["roles"] == ["namenode"]
    assert node["source"] == "registered"


def test_list_nodes_after_sample(api, operator, bus):
    name = hostname()
    cluster_uuid = register(api, operator, [node_body(name, "127.0.0.2")])
    sampled_at = utcnow() - timedelta(seconds=5)

    bus.publish_sample(cluster_uuid, name, sampled_at, cpu=25.2, memory=60.4, disk=45.0)

    node = wait_for_node(api, operator, cluster_uuid, name, lambda node: node["cpu"] != "-")
    assert node["cpu"] == "25%"
    assert node["mem"] == "60%"
    assert node["disk"] == "45%"
    assert node["status"] == "healthy"
    assert node["updated"] == "刚刚"
    assert nodes_of(api, operator, cluster_uuid, "en")[name]["updated"] == "just now"


def test_updated_text_in_both_languages(api, operator, bus):
    name = hostname()
    cluster_uuid = register(api, operator, [node_body(name, "127.0.0.2")])

    bus.publish_sample(cluster_uuid, name, utcnow() - timedelta(minutes=10, seconds=5), cpu=10, memory=10, disk=10)

    wait_for_node(api, operator, cluster_uuid, name, lambda node: node["cpu"] == "10%")
    assert nodes_of(api, operator, cluster_uuid, "zh")[name]["updated"] == "10分钟前"
    assert nodes_of(api, operator, cluster_uuid, "en")[name]["updated"] == "10 minutes ago"
    assert nodes_of(api, operator, cluster_uuid, "en-US,en;q=0.9")[name]["updated"] == "10 minutes ago"


def test_node_detail_shape(api, operator, bus):
    name = hostname()
    cluster_uuid = register(api, operator, [node_body(name, "127.0.0.2")])
    sampled_at = utcnow().replace(microsecond=0) - timedelta(seconds=3)
    bus.publish_sample(cluster_uuid, name, sampled_at, cpu=25, memory=60, disk=45)
    wait_for_node(api, operator, cluster_uuid, name, lambda node: node["cpu"] == "25%")

    response = api.request("GET", f"/nodes/{name}", headers=operator.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == name
    assert body["metrics"] == {
        "cpu": "25%",
        "mem": "60%",
        "disk": "45%",
        "status": "healthy",
        "ip": "127.0.0.2",
        "lastHeartbeat": sampled_at.isoformat(),
    }
    assert body["cluster"] == cluster_uuid


def test_node_detail_ambiguous_without_cluster(api, operator):
    name = hostname()
    first = register(api, operator, [node_body(name, "127.0.0.2")])
    register(api, operator, [node_body(name, "127.0.0.3")])

    ambiguous = api.request("GET", f"/nodes/{name}", headers=operator.headers)
    chosen = api.request("GET", f"/nodes/{name}?cluster={first}", headers=operator.headers)

    assert ambiguous.status_code == 409, ambiguous.text
    assert ambiguous.json()["detail"] == "ambiguous_node"
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["metrics"]["ip"] == "127.0.0.2"


def test_node_names_are_case_insensitive(api, operator):
    name = hostname()
    cluster_uuid = register(api, operator, [node_body(name.upper(), "127.0.0.2")])

    duplicate = api.request(
        "POST", f"/clusters/{cluster_uuid}/nodes", json=node_body(name, "127.0.0.3"), headers=operator.headers
    )
    detail = api.request("GET", f"/nodes/{name.upper()}?cluster={cluster_uuid}", headers=operator.headers)

    assert list(nodes_of(api, operator, cluster_uuid)) == [name]
    assert duplicate.status_code == 409, duplicate.text
    assert detail.status_code == 200, detail.text
    assert detail.json()["name"] == name


def test_node_detail_unknown_is_404(api, operator):
    response = api.request("GET", f"/nodes/{hostname()}", headers=operator.headers)

    assert response.status_code == 404
    assert response.json()["detail"] == "not_found"


def test_add_node_to_cluster(api, operator, database):
    cluster_uuid = register(api, operator, [node_body(hostname(), "127.0.0.2")])
    name = hostname()

    response = api.request(
        "POST", f"/clusters/{cluster_uuid}/nodes", json=node_body(name, "127.0.0.4"), headers=operator.headers
    )

    assert response.status_code == 200, response.text
    node_uuid = response.json()["uuid"]
    assert nodes_of(api, operator, cluster_uuid)[name]["uuid"] == node_uuid
    assert database.collector_nodes(cluster_uuid)[node_uuid]["address"] == "127.0.0.4"


def test_add_node_name_taken_is_409(api, operator):
    name = hostname()
    cluster_uuid = register(api, operator, [node_body(name, "127.0.0.2")])

    response = api.request(
        "POST", f"/clusters/{cluster_uuid}/nodes", json=node_body(name, "127.0.0.5"), headers=operator.headers
    )

    assert response.status_code == 409, response.text
    assert response.json()["detail"]["errors"][0]["field"] == "hostname"
    assert response.json()["detail"]["errors"][0]["code"] == "node_name_taken"


def test_add_node_without_collector_is_503(api, operator, collector_down):
    cluster = api.request("POST", "/clusters", json={"name": unique_name("n")}, headers=operator.headers)
    cluster_uuid = cluster.json()["uuid"]
    name = hostname()

    response = api.request(
        "POST", f"/clusters/{cluster_uuid}/nodes", json=node_body(name, "127.0.0.2"), headers=operator.headers
    )

    assert response.status_code == 503, response.text
    assert name not in nodes_of(api, operator, cluster_uuid)


HOST_CASES = [
    ({"name": "worker-1", "address": "127.0.0.5:9866", "roles": ["datanode"]}, ("worker-1", "127.0.0.5", ["datanode"])),
    (
        {"name": "worker-2", "address": "10.0.0.7", "roles": ["nodemanager", "x y"]},
        ("worker-2", "10.0.0.7", ["nodemanager"]),
    ),
    ({"name": "evil;reboot", "address": "127.0.0.6"}, "invalid_hostname"),
    ({"name": "$(id)", "address": "127.0.0.6"}, "invalid_hostname"),
    ({"name": "worker-3", "address": "999.0.0.1"}, "invalid_ip_address"),
    ({"name": "worker-4", "address": "127.0.0.1;id"}, "invalid_ip_address"),
    ({"name": "worker-5", "address": "169.254.169.254"}, "unusable_ip_address"),
    ({"name": "worker-6", "address": ""}, "missing_address"),
]


@pytest.mark.parametrize(("host", "expected"), HOST_CASES, ids=[case[0]["name"] for case in HOST_CASES])
def test_discovered_host_check(host, expected):
    if isinstance(expected, tuple):
        assert check_host(DiscoveredHost.model_validate(host)) == expected
        return

    with pytest.raises(PydanticCustomError) as raised:
        check_host(DiscoveredHost.model_validate(host))

    assert raised.value.type == expected


def test_discover_without_nodes_is_409(api, operator):
    cluster = api.request("POST", "/clusters", json={"name": unique_name("n")}, headers=operator.headers)

    response = api.request("POST", f"/clusters/{cluster.json()['uuid']}/discover", headers=operator.headers)

    assert response.status_code == 409, response.text
    assert response.json()["detail"]["errors"][0]["code"] == "no_master_node"


def test_resolve_node_for_owner(api, operator, bus):
    name = hostname()
    cluster_name = unique_name("n")
    cluster_uuid = register(
        api, operator, [node_body(name, "127.0.0.2", log_dirs=["/var/log/hadoop", "/opt/x"])], name=cluster_name
    )

    reply = bus.call("nodes.resolve", {"name": name, "cluster": cluster_name}, principal=principal_of(operator))

    assert reply.status == 200, reply.body
    assert reply.body["name"] == name
    assert reply.body["address"] == "127.0.0.2"
    assert reply.body["cluster_uuid"] == cluster_uuid
    assert reply.body["cluster_name"] == cluster_name
    assert reply.body["log_dirs"] == ["/var/log/hadoop", "/opt/x"]
    assert reply.body["ssh_user"] == "hadoop"
    assert reply.body["node_uuid"] == nodes_of(api, operator, cluster_uuid)[name]["uuid"]


def test_resolve_node_errors(api, operator, other_operator, bus):
    name = hostname()
    cluster_uuid = register(api, operator, [node_body(name, "127.0.0.2")])
    register(api, operator, [node_body(name, "127.0.0.3")])

    foreign = bus.call("nodes.resolve", {"name": name, "cluster": cluster_uuid}, principal=principal_of(other_operator))
    unseen = bus.call("nodes.resolve", {"name": name}, principal=principal_of(other_operator))
    ambiguous = bus.call("nodes.resolve", {"name": name}, principal=principal_of(operator))
    unknown = bus.call("nodes.resolve", {"name": hostname()}, principal=principal_of(operator))

    assert (foreign.status, foreign.body) == (404, {"detail": "not_found"})
    assert (unseen.status, unseen.body) == (404, {"detail": "not_found"})
    assert (ambiguous.status, ambiguous.body) == (409, {"detail": "ambiguous_node"})
    assert (unknown.status, unknown.body) == (404, {"detail": "not_found"})


def test_list_nodes_for_principal(api, operator, other_operator, bus):
    name = hostname()
    cluster_uuid = register(api, operator, [node_body(name, "127.0.0.2")])

    own = bus.call("nodes.list_for_principal", {"cluster": None}, principal=principal_of(operator))
    filtered = bus.call("nodes.list_for_principal", {"cluster": cluster_uuid}, principal=principal_of(operator))
    foreign = bus.call("nodes.list_for_principal", {"cluster": None}, principal=principal_of(other_operator))

    assert name in {node["name"] for node in own.body["nodes"]}
    assert [node["name"] for node in filtered.body["nodes"]] == [name]
    assert name not in {node["name"] for node in foreign.body["nodes"]}


def test_clusters_get_and_list_all(api, operator, bus):
    name = hostname()
    cluster_uuid = register(api, operator, [node_body(name, "127.0.0.2")], repair_policy="off")

    cluster = bus.call("clusters.get", {"cluster": cluster_uuid})
    everything = bus.call("clusters.list_all")
    api.request("DELETE", f"/clusters/{cluster_uuid}", headers=operator.headers)
    after_delete = bus.call("clusters.list_all")

    assert cluster.status == 200, cluster.body
    assert cluster.body["repair_policy"] == "off"
    assert cluster.body["node_count"] == 1
    listed = {cluster["uuid"]: cluster for cluster in everything.body["clusters"]}
    assert [node["name"] for node in listed[cluster_uuid]["nodes"]] == [name]
    assert listed[cluster_uuid]["nodes"][0]["cluster_uuid"] == cluster_uuid
    assert listed[cluster_uuid]["repair_policy"] == "off"
    assert all(cluster["uuid"] != cluster_uuid for cluster in after_delete.body["clusters"])
    assert bus.call("clusters.get", {"cluster": cluster_uuid}).status == 404


def test_internal_lookups_with_nul_not_found(api, operator, bus):
    # PostgreSQL text cannot hold NUL, so such a name matches nothing instead of failing the query.
    principal = principal_of(operator)
    replies = {
        "list_for_principal": bus.call("nodes.list_for_principal", {"cluster": "alpha\x00"}, principal=principal),
        "clusters.get": bus.call("clusters.get", {"cluster": "alpha\x00"}),
        "nodes.resolve": bus.call("nodes.resolve", {"name": "node\x00", "cluster": None}, principal=principal),
        "nodes.resolve in cluster": bus.call("nodes.resolve", {"name": "n1", "cluster": "\x00"}, principal=principal),
    }

    for operation, reply in replies.items():
        assert (reply.status, reply.body) == (404, {"detail": "not_found"}), operation
