"""The log folder rule through the gateway: set-log-dir and node registration reject system folders.

A log folder scopes read-log and the command policy, so ``set-log-dir/%2Fetc/`` must change
nothing, while the usual Hadoop log folders keep working. set-log-dir changes every node its
caller may change, so the tests use an operator of their own with one cluster.
"""

import secrets

import pytest

from tests.gateway.helpers import unique_name
from tests.inventory.helpers import node_body

FIRST_FOLDER = "/var/log/hadoop-first"


@pytest.fixture(scope="module")
def owner(api):
    return api.create_account("operator")


@pytest.fixture(scope="module")
def node(api, owner) -> dict:
    """The owner's only node: its cluster uuid and name."""
    name = f"ld-{secrets.token_hex(4)}"
    body = {"name": unique_name("ld"), "nodes": [node_body(name, "127.0.0.2", log_dirs=[FIRST_FOLDER])]}
    response = api.request("POST", "/clusters", json=body, headers=owner.headers)
    assert response.status_code == 200, response.text
    return {"cluster": response.json()["uuid"], "name": name}


def set_log_dir(api, account, encoded: str, lang: str = "zh"):
    headers = {**account.headers, "Accept-Language": lang}
    return api.request("POST", f"/hadoop/collectors/set-log-dir/{encoded}/", headers=headers)


def stored_folders(api, account, node: dict) -> list[str]:
    response = api.request(
        "GET", f"/nodes/{node['name']}", params={"cluster": node["cluster"]}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["log_dirs"]


FORBIDDEN = [
    "%2Fetc",
    "%2F",
    "etc",
    "%2Fetc%2Fhadoop",
    "%2F%2Fetc",
    "%2F.%2Fetc",
    "%2Fproc%2Fself",
    "%2Froot%2Flogs",
    "%2Fusr",
    "%2Fusr%2Flib%2Fhadoop",
    "%2Fvar",
    "%2Fvar%2Flib%2Fhadoop",
    "%2Fvar%2Frun",
    "%2Fhome",
    "%2Fhome%2Fhadoop",
    "%2Fhome%2Fhadoop%2F.ssh",
    "%2Ftmp",
]


@pytest.mark.parametrize("encoded", FORBIDDEN)
def test_set_log_dir_rejects_system_folder(api, owner, node, encoded):
    response = set_log_dir(api, owner, encoded)

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]["errors"]
    assert error["field"] == "log_dir"
    assert error["code"] == "forbidden_log_dir"
    assert stored_folders(api, owner, node) == [FIRST_FOLDER]


def test_set_log_dir_admin_rejected_too(api, node):
    response = set_log_dir(api, api.admin(), "%2Fetc")

    assert response.status_code == 422, response.text
    assert response.json()["detail"]["errors"][0]["code"] == "forbidden_log_dir"


def test_set_log_dir_message_zh(api, owner, node):
    message = set_log_dir(api, owner, "%2Fetc").json()["detail"]["errors"][0]["message"]

    assert message.startswith("请使用 Hadoop 的日志目录,如 /var/log/hadoop")
    assert "/etc、/proc、/sys" in message
    assert "/var/lib" in message


def test_set_log_dir_message_en(api, owner, node):
    message = set_log_dir(api, owner, "%2Fetc", lang="en").json()["detail"]["errors"][0]["message"]

    assert message.startswith("Use a Hadoop log directory such as /var/log/hadoop")
    assert "/etc, /proc, /sys" in message
    assert "a parent of one (/usr, /usr/local, /var)" in message


def test_set_log_dir_invalid_syntax_names_characters(api, owner, node):
    response = set_log_dir(api, owner, "%2Fvar%2Flog%2F..%2F..%2Fetc", lang="en")

    assert response.status_code == 422, response.text
    error = response.json()["detail"]["errors"][0]
    assert error["code"] == "invalid_log_dir"
    assert "letters, digits and . _ + @ = , : / -" in error["message"]


ALLOWED = [
    "/var/log/hadoop-hdfs",
    "/opt/hadoop-3.3.6/logs",
    "/usr/local/hadoop/logs",
    "/home/hadoop/hadoop/logs",
    "/data1/hadoop/logs",
    "/tmp/hfd-demo/nodes/demo-nn1/logs",
    "/var/log",
]


@pytest.mark.parametrize("folder", ALLOWED)
def test_set_log_dir_accepts_hadoop_folder(api, owner, node, folder):
    response = set_log_dir(api, owner, folder.replace("/", "%2F"))

    assert response.status_code == 200, response.text
    assert stored_folders(api, owner, node) == [folder]


def test_set_log_dir_stores_normal_form(api, owner, node):
    response = set_log_dir(api, owner, "%2F%2Fdata2%2F%2Fhadoop%2F.%2Flogs%2F")

    assert response.status_code == 200, response.text
    assert stored_folders(api, owner, node) == ["/data2/hadoop/logs"]


def test_add_node_rejects_system_folder(api, owner, node, database):
    body = node_body(f"ld-{secrets.token_hex(4)}", "127.0.0.3", log_dirs=["/srv/hadoop/logs", "/sys/kernel"])

    response = api.request("POST", f"/clusters/{node['cluster']}/nodes", json=body, headers=owner.headers)

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]["errors"]
    assert [(error["field"], error["code"]) for error in errors] == [("log_dirs[1]", "forbidden_log_dir")]
    assert len(database.collector_nodes(node["cluster"])) == 1
