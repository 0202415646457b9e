"""Hostile and malformed input to the inventory routes: every case is a 4xx that names the field.

Rejected registrations must never reach the collector, so some tests also check that the
collector's node table did not grow.
"""

import json
import secrets
import uuid

import pytest

from tests.gateway.helpers import unique_name
from tests.inventory.helpers import node_body

KEY_TEXT = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"


def hostname() -> str:
    return f"node-{secrets.token_hex(4)}"


def cluster_with_node(**node_fields) -> dict:
    node = node_body(hostname(), "127.0.0.2")
    node.update(node_fields)
    return {"name": unique_name("v"), "nodes": [node]}


def collector_node_count(database) -> int:
    return database.fetch("SELECT count(*) AS n FROM collector.nodes")[0]["n"]


def without(body: dict, field: str) -> dict:
    node = dict(body["nodes"][0])
    del node[field]
    return {**body, "nodes": [node]}


CASES = [
    ("bad uuid", {"uuid": "not-a-uuid", "name": "x"}, "uuid", "invalid_uuid"),
    ("uuid of wrong type", {"uuid": 12345, "name": "x"}, "uuid", "invalid_type"),
    ("ip out of range", cluster_with_node(ip_address="300.1.1.1"), "nodes[0].ip_address", "invalid_ip_address"),
    (
        "ip with command",
        cluster_with_node(ip_address="127.0.0.1; rm -rf /"),
        "nodes[0].ip_address",
        "invalid_ip_address",
    ),
    ("unspecified ip", cluster_with_node(ip_address="0.0.0.0"), "nodes[0].ip_address", "unusable_ip_address"),
    ("metadata ip", cluster_with_node(ip_address="169.254.169.254"), "nodes[0].ip_address", "unusable_ip_address"),
    ("cluster ip", {"name": "x", "ip": "10.0.0"}, "ip", "invalid_ip_address"),
    ("hostname with semicolon", cluster_with_node(hostname="node1;reboot"), "nodes[0].hostname", "invalid_hostname"),
    ("hostname with subshell", cluster_with_node(hostname="$(id)"), "nodes[0].hostname", "invalid_hostname"),
    ("hostname with backtick", cluster_with_node(hostname="a`id`"), "nodes[0].hostname", "invalid_hostname"),
    ("hostname with space", cluster_with_node(hostname="node 1"), "nodes[0].hostname", "invalid_hostname"),
    ("hostname leading hyphen", cluster_with_node(hostname="-node"), "nodes[0].hostname", "invalid_hostname"),
    ("hostname label too long", cluster_with_node(hostname="a" * 64), "nodes[0].hostname", "invalid_hostname"),
    ("huge hostname", cluster_with_node(hostname="a" * 100_000), "nodes[0].hostname", "too_long"),
    ("hostname wrong type", cluster_with_node(hostname=["a"]), "nodes[0].hostname", "invalid_type"),
    ("master host", {"name": "x", "host": "master|id"}, "host", "invalid_hostname"),
    (
        "log dir traversal",
        cluster_with_node(log_dirs=["/var/log/../../etc"]),
        "nodes[0].log_dirs[0]",
        "invalid_log_dir",
    ),
    ("log dir relative", cluster_with_node(log_dirs=["../etc"]), "nodes[0].log_dirs[0]", "invalid_log_dir"),
    (
        "log dir command",
        cluster_with_node(log_dirs=["/ok", "/var/log;rm -rf /"]),
        "nodes[0].log_dirs[1]",
        "invalid_log_dir",
    ),
    ("log dir NUL", cluster_with_node(log_dirs=["/var/log/\u0000x"]), "nodes[0].log_dirs[0]", "invalid_log_dir"),
    ("log dir variable", cluster_with_node(log_dirs=["/var/$HOME"]), "nodes[0].log_dirs[0]", "invalid_log_dir"),
    ("log dir glob", cluster_with_node(log_dirs=["/var/log/*"]), "nodes[0].log_dirs[0]", "invalid_log_dir"),
    ("log dir etc", cluster_with_node(log_dirs=["/etc"]), "nodes[0].log_dirs[0]", "forbidden_log_dir"),
    ("log dir root", cluster_with_node(log_dirs=["/"]), "nodes[0].log_dirs[0]", "forbidden_log_dir"),
    (
        "log dir under system tree",
        cluster_with_node(log_dirs=["/var/log/hadoop", "/var/lib/hadoop/logs"]),
        "nodes[0].log_dirs[1]",
        "forbidden_log_dir",
    ),
    ("log dir parent of /usr/bin", cluster_with_node(log_dirs=["/usr"]), "nodes[0].log_dirs[0]", "forbidden_log_dir"),
    ("log dir doubled slash", cluster_with_node(log_dirs=["//etc"]), "nodes[0].log_dirs[0]", "forbidden_log_dir"),
    ("log dir home", cluster_with_node(log_dirs=["/home/hadoop"]), "nodes[0].log_dirs[0]", "forbidden_log_dir"),
    ("log dirs wrong type", cluster_with_node(log_dirs="/var/log"), "nodes[0].log_dirs", "invalid_type"),
    (
        "too many log dirs",
        cluster_with_node(log_dirs=[f"/d{i}" for i in range(17)]),
        "nodes[0].log_dirs",
        "too_many_items",
    ),
    ("ssh user command", cluster_with_node(ssh_user="root;id"), "nodes[0].ssh_user", "invalid_ssh_user"),
    ("ssh user upper case", cluster_with_node(ssh_user="Admin"), "nodes[0].ssh_user", "invalid_ssh_user"),
    ("ssh user too long", cluster_with_node(ssh_user="a" * 33), "nodes[0].ssh_user", "too_long"),
    ("ssh user missing", without(cluster_with_node(), "ssh_user"), "nodes[0].ssh_user", "field_required"),
    ("port zero", cluster_with_node(ssh_port=0), "nodes[0].ssh_port", "value_too_small"),
    ("port too large", cluster_with_node(ssh_port=70000), "nodes[0].ssh_port", "value_too_large"),
    ("port text", cluster_with_node(ssh_port="ssh"), "nodes[0].ssh_port", "invalid_type"),
    ("no secret", without(cluster_with_node(), "ssh_password"), "nodes[0].ssh_password", "ssh_credentials_required"),
    (
        "two secrets",
        cluster_with_node(ssh_private_key=KEY_TEXT),
        "nodes[0].ssh_private_key",
        "ssh_credentials_conflict",
    ),
    (
        "key not pem",
        cluster_with_node(ssh_password=None, ssh_private_key="hunter2"),
        "nodes[0].ssh_private_key",
        "invalid_private_key",
    ),
    ("empty password", cluster_with_node(ssh_password=""), "nodes[0].ssh_password", "invalid_ssh_password"),
    (
        "host key two lines",
        cluster_with_node(known_host_key="ssh-ed25519 AAAA\nssh-rsa BBBB"),
        "nodes[0].known_host_key",
        "invalid_known_host_key",
    ),
    (
        "host key garbage",
        cluster_with_node(known_host_key="not a key"),
        "nodes[0].known_host_key",
        "invalid_known_host_key",
    ),
    ("role with command", cluster_with_node(roles=["datanode;id"]), "nodes[0].roles[0]", "invalid_node_role"),
    ("hostname missing", without(cluster_with_node(), "hostname"), "nodes[0].hostname", "field_required"),
    ("nodes not a list", {"name": "x", "nodes": "node1"}, "nodes", "invalid_type"),
    ("node not an object", {"name": "x", "nodes": ["node1"]}, "nodes[0]", "invalid_type"),
    (
        "too many nodes",
        {"name": "x", "nodes": [node_body(f"n{i}", "127.0.0.2") for i in range(101)]},
        "nodes",
        "too_many_items",
    ),
    ("huge name", {"name": "x" * 1000}, "name", "too_long"),
    ("name with newline", {"name": "a\nb"}, "name", "invalid_single_line"),
    ("blank name", {"name": "   "}, "name", "invalid_single_line"),
    ("huge description", {"name": "x", "description": "d" * 5000}, "description", "too_long"),
    ("negative count", {"name": "x", "count": -1}, "count", "value_too_small"),
    ("count text", {"name": "x", "count": "five"}, "count", "invalid_type"),
    ("unknown policy", {"name": "x", "repair_policy": "yolo"}, "repair_policy", "invalid_choice"),
    ("no name at all", {"type": "hadoop"}, "name", "field_required"),
    ("body is a list", [{"name": "x"}], "body", "invalid_type"),
]


@pytest.mark.parametrize(("case", "body", "field", "code"), CASES, ids=[case[0] for case in CASES])
def test_create_cluster_rejects(api, operator, database, case, body, field, code):
    stored_before = collector_node_count(database)

    response = api.request("POST", "/clusters", json=body, headers=operator.headers)

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]["errors"]
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in errors], errors
    assert all(error["message"] for error in errors)
    assert collector_node_count(database) == stored_before


def test_create_cluster_lists_every_error(api, operator):
    node = node_body("bad host", "1.2.3", ssh_port=0)
    body = {"uuid": "nope", "name": "x", "nodes": [node, node_body("ok-host", "127.0.0.2", log_dirs=["../x"])]}

    response = api.request("POST", "/clusters", json=body, headers=operator.headers)

    assert response.status_code == 422, response.text
    fields = {error["field"] for error in response.json()["detail"]["errors"]}
    assert fields == {
        "uuid",
        "nodes[0].hostname",
        "nodes[0].ip_address",
        "nodes[0].ssh_port",
        "nodes[1].log_dirs[0]",
    }


def test_uuid_message_in_both_languages(api, operator):
    chinese = api.request("DELETE", "/clusters/not-a-uuid", headers=operator.headers)
    english = api.request("DELETE", "/clusters/not-a-uuid", headers={**operator.headers, "Accept-Language": "en"})

    assert chinese.status_code == 422
    assert chinese.json() == {
        "detail": {"errors": [{"field": "uuid", "code": "invalid_uuid", "message": "UUID 格式不正确"}]}
    }
    assert english.json()["detail"]["errors"][0]["message"] == "Invalid UUID"


def test_duplicate_hostnames_rejected(api, operator):
    name = hostname()
    body = {"name": unique_name("v"), "nodes": [node_body(name, "127.0.0.2"), node_body(name.upper(), "127.0.0.3")]}

    response = api.request("POST", "/clusters", json=body, headers=operator.headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"]["errors"][0]["field"] == "nodes[1].hostname"
    assert response.json()["detail"]["errors"][0]["code"] == "duplicate_hostname"


def test_oversized_body_rejected(api, operator):
    body = {"name": "x", "description": "d" * (2 * 1024 * 1024)}

    response = api.request("POST", "/clusters", json=body, headers=operator.headers)

    assert response.status_code == 413, response.text


def test_unpaired_surrogate_rejected(api, operator, database):
    # The inventory routes forward bodies unvalidated, and the JSON escape \udc00 decodes to a
    # string that UTF-8 cannot encode, so the gateway failed with a 500 when it sent the request on.
    before = collector_node_count(database)
    body = {"name": unique_name("v"), "nodes": [{"hostname": "n\udc00", "ip_address": "127.0.0.2"}]}

    response = api.request(
        "POST", "/clusters", content=json.dumps(body), headers={**operator.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"]["errors"][0]["field"] == "nodes.0.hostname"
    assert response.json()["detail"]["errors"][0]["code"] == "invalid_unicode"
    assert collector_node_count(database) == before


def test_invalid_json_rejected(api, operator):
    response = api.request(
        "POST", "/clusters", content=b"{not json", headers={**operator.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"]["errors"][0]["field"] == "body"


QUERY_CASES = [
    ("DELETE", "/clusters/1;drop", "uuid", "invalid_uuid"),
    ("PATCH", "/clusters/xyz", "uuid", "invalid_uuid"),
    ("POST", "/clusters/xyz/nodes", "uuid", "invalid_uuid"),
    ("POST", "/clusters/xyz/discover", "uuid", "invalid_uuid"),
    ("GET", "/nodes", "cluster", "field_required"),
    ("GET", "/nodes?cluster=abc", "cluster", "invalid_uuid"),
    ("GET", "/nodes/a;b", "name", "invalid_hostname"),
    ("GET", f"/nodes/node?cluster={'x' * 100}", "cluster", "invalid_uuid"),
    ("GET", "/metrics/cpu_trend", "cluster", "field_required"),
    ("GET", "/metrics/cpu_trend?cluster=abc", "cluster", "invalid_uuid"),
    ("GET", f"/metrics/cpu_trend?cluster={uuid.UUID(int=1)}&window=10", "window", "value_too_small"),
    ("GET", f"/metrics/cpu_trend?cluster={uuid.UUID(int=1)}&window=99999999", "window", "value_too_large"),
    ("GET", f"/metrics/cpu_trend?cluster={uuid.UUID(int=1)}&window=abc", "window", "invalid_type"),
    ("GET", f"/metrics/cpu_trend?cluster={uuid.UUID(int=1)}&window=600&bucket=900", "bucket", "too_many_buckets"),
    ("GET", f"/metrics/cpu_trend?cluster={uuid.UUID(int=1)}&window=604800&bucket=60", "bucket", "too_many_buckets"),
    ("GET", f"/metrics/cpu_trend?cluster={uuid.UUID(int=1)}&tz=Mars/Olympus", "tz", "invalid_timezone"),
    ("GET", f"/metrics/cpu_trend?cluster={uuid.UUID(int=1)}&tz=../../etc/passwd", "tz", "invalid_timezone"),
    ("GET", f"/metrics/cpu_trend_node?cluster={uuid.UUID(int=1)}", "node", "field_required"),
    ("GET", f"/metrics/cpu_trend_node?cluster={uuid.UUID(int=1)}&node=$(id)", "node", "invalid_hostname"),
    ("GET", f"/metrics/memory_usage_node?cluster={uuid.UUID(int=1)}&node=a%20b", "node", "invalid_hostname"),
]


@pytest.mark.parametrize(
    ("method", "path", "field", "code"), QUERY_CASES, ids=[f"{c[0]} {c[1][:60]}" for c in QUERY_CASES]
)
def test_path_and_query_rejected(api, operator, method, path, field, code):
    response = api.request(method, path, json={} if method in ("POST", "PATCH") else None, headers=operator.headers)

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]["errors"]
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in errors], errors


def test_add_node_rejects_bad_fields(api, operator, database):
    created = api.request("POST", "/clusters", json={"name": unique_name("v")}, headers=operator.headers)
    cluster_uuid = created.json()["uuid"]
    body = node_body("x;y", "1.1.1.1.1", log_dirs=["/a/../b"])

    response = api.request("POST", f"/clusters/{cluster_uuid}/nodes", json=body, headers=operator.headers)

    assert response.status_code == 422, response.text
    fields = {error["field"] for error in response.json()["detail"]["errors"]}
    assert fields == {"hostname", "ip_address", "log_dirs[0]"}
    assert database.collector_nodes(cluster_uuid) == {}
