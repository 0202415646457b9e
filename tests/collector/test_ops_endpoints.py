"""The ops endpoints through the real gateway, auth, inventory and collector, on demo SSH nodes.

Hostile input goes to every endpoint. Each case checks the 4xx and the field it names. It
also proves that nothing ran: no canary file on the node, no new exec log row, and no new
command in the nodes' exec history, which lists every command line a demo node received.
"""

import secrets
import time
from pathlib import Path
from urllib.parse import quote
from uuid import UUID

import pytest

from hfd.embedded import free_port
from tests.collector.conftest_ops import Bus, RunningDemoCluster, Witness, owned_by, register_cluster
from tests.conftest import start_stack
from tests.gateway.helpers import STACK_ENV, Api

pytestmark = pytest.mark.slow

SYSTEM_AI = {"user_id": 0, "username": "hfd-ai", "role": "operator"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    cluster = RunningDemoCluster(tmp_path_factory.mktemp("ops-demo") / "cluster").start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def stack(infra, demo, tmp_path_factory):
    known_hosts = tmp_path_factory.mktemp("ops-collector") / "known_hosts"
    running = start_stack(
        infra,
        "auth",
        "gateway",
        "inventory",
        "collector",
        **STACK_ENV,
        HFD_COLLECTOR_KNOWN_HOSTS=str(known_hosts),
        HFD_COLLECTOR_TEMP_ROOTS=f"{demo.manifest.cluster_dir}/nodes/{{node}}/tmp",
        HFD_COLLECTOR_METRIC_INTERVAL="3600",
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(stack):
    client = Api(stack.base_url)
    client.client.timeout = 60
    yield client
    client.close()


@pytest.fixture(scope="module")
def bus(infra):
    connection = Bus(infra)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def accounts(api):
    return {
        "admin": api.admin(),
        "operator": api.create_account("operator"),
        "observer": api.create_account("observer"),
        "outsider": api.create_account("operator"),
    }


@pytest.fixture(scope="module")
def cluster_uuid(api, bus, demo, accounts):
    uuid = register_cluster(api, accounts["operator"], f"ops-{secrets.token_hex(3)}", demo.registration())
    owned_by(bus, accounts["observer"], uuid)
    return uuid


@pytest.fixture(scope="module")
def node_uuids(api, accounts, cluster_uuid):
    response = api.request("GET", "/nodes", params={"cluster": cluster_uuid}, headers=accounts["admin"].headers)
    assert response.status_code == 200, response.text
    return {item["name"]: item["uuid"] for item in response.json()["nodes"]}


@pytest.fixture(scope="module")
def witness(bus, demo):
    home = demo.node("demo-nn1").home
    return Witness(bus, demo, [home / "canary", Path("/tmp") / f"hfd-canary-{secrets.token_hex(4)}"])


@pytest.fixture(scope="module")
def namenode_log(demo) -> Path:
    log_dir = demo.node("demo-nn1").log_dirs[0]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        files = sorted(log_dir.glob("hadoop-*-namenode-*.log"))
        if files and files[0].stat().st_size > 0:
            return files[0]
        time.sleep(0.2)
    raise AssertionError(f"no namenode log in {log_dir}")


def encode_segment(value: str) -> str:
    """Percent-encode a path segment, dots included, so the client cannot resolve ``..`` itself."""
    return quote(value, safe="").replace(".", "%2E")


def canary(witness) -> str:
    return str(witness.canaries[0])


def fields_of(body: dict) -> list[str]:
    detail = body.get("detail")
    if isinstance(detail, dict):
        return [error["field"] for error in detail["errors"]]
    return [body["field"]] if "field" in body else []


def codes_of(body: dict) -> list[str]:
    detail = body.get("detail")
    if isinstance(detail, dict):
        return [error["code"] for error in detail["errors"]]
    return [detail]


def assert_nothing_ran(witness, evidence) -> None:
    assert witness.canaries_created() == []
    assert witness.new_rows(evidence) == []
    assert witness.new_commands(evidence) == []
    assert [item for item in witness.all_new_commands(evidence) if "canary" in item[1] or "touch" in item[1]] == []


def execute(api, account, command: str, node: str = "demo-nn1", **extra):
    return api.request(
        "POST", f"/hadoop/nodes/{node}/execute/", json={"command": command, **extra}, headers=account.headers
    )


def read_log(api, account, **body):
    return api.request("POST", "/ops/read-log", json=body, headers=account.headers)


# --- POST /hadoop/nodes/{node_name}/execute/ ---------------------------------------------


def test_execute_runs_diagnostic_for_operator(api, accounts, cluster_uuid, witness):
    evidence = witness.before()
    response = execute(api, accounts["operator"], "jps")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["node_name"] == "demo-nn1"
    assert body["command"] == "jps"
    assert body["status"] == "success"
    assert "NameNode" in body["stdout"]
    assert [row["command_type"] for row in witness.new_rows(evidence)] == ["jps"]
    assert [command for _, command in witness.new_commands(evidence)] == ["jps"]


@pytest.mark.parametrize(
    "template",
    [
        "hdfs dfsadmin -report; touch {canary}",
        "jps && touch {canary}",
        "jps | tee {canary}",
        "jps > {canary}",
        "$(touch {canary})",
        "`touch {canary}`",
        "jps\ntouch {canary}",
        "jps\x00touch {canary}",
        "tail -n 5 {log_dir}/*",
        "hdfs dfsadmin -report & touch {canary}",
        "ls -l {log_dir} ; rm -rf /",
    ],
)
def test_execute_rejects_shell_metacharacters(api, accounts, cluster_uuid, witness, demo, template):
    command = template.format(canary=canary(witness), log_dir=demo.node("demo-nn1").log_dirs[0])
    evidence = witness.before()
    response = execute(api, accounts["admin"], command)
    assert response.status_code == 400, response.text
    assert fields_of(response.json()) == ["command"]
    assert codes_of(response.json()) == ["shell_metacharacter"]
    assert_nothing_ran(witness, evidence)


@pytest.mark.parametrize(
    "command",
    ["rm -rf /", "touch /tmp/hfd-canary", "bash -c id", "cat /etc/passwd", "python3 -V", "sh", "hdfs dfs -rm -r /"],
)
def test_execute_rejects_commands_outside_policy(api, accounts, cluster_uuid, witness, command):
    evidence = witness.before()
    response = execute(api, accounts["admin"], command)
    assert response.status_code == 403, response.text
    assert response.json()["detail"] == "command_not_allowed"
    assert response.json()["field"] == "command"
    assert "hdfs" not in response.json()["message"]
    assert_nothing_ran(witness, evidence)


@pytest.mark.parametrize(
    "template, code",
    [
        ("tail -n 5 /etc/passwd", "path_outside_log_dirs"),
        ("tail -n 5 {log_dir}/../../../../etc/shadow", "path_traversal"),
        ("tail -n 5 /var/log/hadoop/../../etc/shadow", "path_traversal"),
        ("tail -n 5 {log_dir}/%2e%2e/%2e%2e/etc/passwd", "path_invalid_characters"),
        ("tail -n 5 etc/passwd", "path_not_absolute"),
        ("tail -n 999999 {log_dir}/x.log", "value_too_large"),
        ("tail -n -5 {log_dir}/x.log", "value_too_small"),
        ("grep root /etc/passwd", "path_outside_log_dirs"),
        ("ls -l /etc", "path_outside_log_dirs"),
        ("hdfs --daemon start sshd", "invalid_choice"),
        ("mapred --daemon start namenode", "invalid_choice"),
    ],
)
def test_execute_rejects_invalid_arguments(api, accounts, cluster_uuid, witness, demo, template, code):
    command = template.format(log_dir=demo.node("demo-nn1").log_dirs[0])
    evidence = witness.before()
    response = execute(api, accounts["admin"], command)
    assert response.status_code == 400, response.text
    assert fields_of(response.json()) == ["command"]
    assert codes_of(response.json()) == [code]
    assert_nothing_ran(witness, evidence)


@pytest.mark.parametrize("node", ["demo-nn1;touch x", "$(id)", "`id`", "demo-nn1\ntouch", "demo nn1", "-rf"])
def test_execute_rejects_hostile_node_names(api, accounts, cluster_uuid, witness, node):
    evidence = witness.before()
    response = execute(api, accounts["admin"], "jps", node=encode_segment(node))
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == ["node_name"]
    assert_nothing_ran(witness, evidence)


def test_execute_unknown_node_is_not_found(api, accounts, cluster_uuid, witness):
    evidence = witness.before()
    response = execute(api, accounts["admin"], "jps", node="no-such-node")
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "not_found"
    assert response.json()["field"] == "node_name"
    assert_nothing_ran(witness, evidence)


def test_execute_other_users_node_is_not_found(api, accounts, cluster_uuid, witness):
    evidence = witness.before()
    response = execute(api, accounts["outsider"], "jps")
    assert response.status_code == 404, response.text
    assert response.json() == execute(api, accounts["outsider"], "jps", node="no-such-node").json()
    assert_nothing_ran(witness, evidence)


@pytest.mark.parametrize("timeout", [0, 301, "ten"])
def test_execute_rejects_bad_timeout(api, accounts, cluster_uuid, witness, timeout):
    evidence = witness.before()
    response = execute(api, accounts["admin"], "jps", timeout=timeout)
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == ["timeout"]
    assert_nothing_ran(witness, evidence)


def test_execute_observer_runs_nothing(api, accounts, cluster_uuid, witness):
    evidence = witness.before()
    response = execute(api, accounts["observer"], "jps")
    assert response.status_code == 403, response.text
    assert_nothing_ran(witness, evidence)


@pytest.mark.parametrize(
    "command",
    [
        "hdfs --daemon stop datanode",
        "hadoop-daemon.sh stop namenode",
        "mapred --daemon stop historyserver",
        "hdfs dfsadmin -safemode leave",
    ],
)
def test_execute_operator_cannot_control_services(api, accounts, cluster_uuid, witness, command):
    evidence = witness.before()
    response = execute(api, accounts["operator"], command)
    assert response.status_code == 403, response.text
    assert response.json()["detail"] == "not_allowed"
    assert_nothing_ran(witness, evidence)


def test_execute_tail_checks_path_on_node(api, accounts, cluster_uuid, witness, namenode_log):
    evidence = witness.before()
    response = execute(api, accounts["operator"], f"tail -n 3 {namenode_log}")
    assert response.status_code == 200, response.text
    assert len(response.json()["stdout"].splitlines()) == 3
    assert [row["command_type"] for row in witness.new_rows(evidence)] == ["path_resolve", "tail"]
    commands = [command for _, command in witness.new_commands(evidence)]
    assert commands[0].startswith("readlink -m -z -- ")
    assert commands[1] == f"tail -n 3 -- {namenode_log}"


# --- POST /ops/read-log --------------------------------------------------------------------


def test_read_log_returns_last_lines(api, accounts, cluster_uuid, witness, namenode_log):
    evidence = witness.before()
    response = read_log(api, accounts["operator"], node="demo-nn1", path=str(namenode_log), lines=5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["execId"]) == 32
    assert body["exitCode"] == 0
    assert len(body["lines"]) == 5
    rows = witness.new_rows(evidence)
    assert rows[-1]["exec_id"] == body["execId"]


def test_read_log_filters_with_pattern(api, accounts, cluster_uuid, namenode_log):
    response = read_log(api, accounts["operator"], node="demo-nn1", path=str(namenode_log), lines=200, pattern="INFO")
    assert response.status_code == 200, response.text
    lines = response.json()["lines"]
    assert lines
    assert all("INFO" in line for line in lines)


def test_read_log_pattern_with_repeats_runs_in_collector(api, accounts, cluster_uuid, witness, namenode_log):
    evidence = witness.before()
    response = read_log(
        api, accounts["operator"], node="demo-nn1", path=str(namenode_log), lines=50, pattern=r"INFO\s+\S+:"
    )
    assert response.status_code == 200, response.text
    assert all(" INFO " in line for line in response.json()["lines"])
    commands = [command for _, command in witness.new_commands(evidence)]
    assert commands[-1] == f"tail -n 50 -- {namenode_log}"


def test_read_log_pattern_with_shell_text(api, accounts, cluster_uuid, witness, namenode_log):
    evidence = witness.before()
    pattern = f"$(touch {canary(witness)}); rm -rf /"
    response = read_log(api, accounts["operator"], node="demo-nn1", path=str(namenode_log), lines=20, pattern=pattern)
    assert response.status_code == 200, response.text
    assert response.json()["lines"] == []
    assert witness.canaries_created() == []
    commands = [command for _, command in witness.new_commands(evidence)]
    assert all("touch" not in command for command in commands)


@pytest.mark.parametrize(
    "path_template, code",
    [
        ("../../etc/passwd", "path_not_absolute"),
        ("{log_dir}/../../../../etc/passwd", "path_traversal"),
        ("/var/log/hadoop/../../etc/shadow", "path_traversal"),
        ("{log_dir}/%2e%2e/%2e%2e/etc/passwd", "path_invalid_characters"),
        ("{log_dir}/..%2f..%2fetc%2fpasswd", "path_invalid_characters"),
        ("{log_dir}/x.log\x00/etc/passwd", "path_control_character"),
        ("{log_dir}/x.log; touch {canary}", "path_invalid_characters"),
        ("{log_dir}/$(touch {canary})", "path_invalid_characters"),
        ("/etc/passwd", "path_outside_log_dirs"),
        ("{log_dir}", "path_outside_log_dirs"),
    ],
)
def test_read_log_rejects_bad_paths(api, accounts, cluster_uuid, witness, demo, path_template, code):
    path = path_template.format(log_dir=demo.node("demo-nn1").log_dirs[0], canary=canary(witness))
    evidence = witness.before()
    response = read_log(api, accounts["operator"], node="demo-nn1", path=path)
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == ["path"]
    assert codes_of(response.json()) == [code]
    assert_nothing_ran(witness, evidence)


def test_read_log_rejects_symlink_out_of_log_dir(api, accounts, cluster_uuid, witness, demo):
    link = demo.node("demo-nn1").log_dirs[0] / f"escape-{secrets.token_hex(3)}.log"
    link.symlink_to("/etc/passwd")
    evidence = witness.before()
    response = read_log(api, accounts["operator"], node="demo-nn1", path=str(link))
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == ["path"]
    assert codes_of(response.json()) == ["path_symlink_outside"]
    # Only the policy's own readlink check reached the node; the file was never read.
    assert [row["command_type"] for row in witness.new_rows(evidence)] == ["path_resolve"]
    commands = [command for _, command in witness.new_commands(evidence)]
    assert len(commands) == 1
    assert commands[0].startswith("readlink -m -z -- ")


@pytest.mark.parametrize(
    "pattern, code",
    [
        ("(a+)+$", "pattern_nested_quantifier"),
        ("(.*)*x", "pattern_nested_quantifier"),
        ("(a|aa)+$", "pattern_nested_quantifier"),
        (r"(\w+)\s\1", "pattern_backreference"),
        ("[unclosed", "pattern_invalid"),
        ("a" * 300, "pattern_too_long"),
        (".*a.*b.*c.*d.*e", "pattern_too_complex"),
    ],
)
def test_read_log_rejects_dangerous_patterns(api, accounts, cluster_uuid, witness, namenode_log, pattern, code):
    evidence = witness.before()
    response = read_log(api, accounts["operator"], node="demo-nn1", path=str(namenode_log), pattern=pattern)
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == ["pattern"]
    assert codes_of(response.json()) == [code]
    assert_nothing_ran(witness, evidence)


@pytest.mark.parametrize("body_field, value", [("lines", 10**9), ("lines", 0), ("timeout", 121), ("timeout", 0)])
def test_read_log_rejects_out_of_range_numbers(api, accounts, cluster_uuid, witness, namenode_log, body_field, value):
    evidence = witness.before()
    response = read_log(api, accounts["operator"], node="demo-nn1", path=str(namenode_log), **{body_field: value})
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == [body_field]
    assert_nothing_ran(witness, evidence)


@pytest.mark.parametrize("node", ["demo-nn1; touch /tmp/x", "$(id)", "no-such-node"])
def test_read_log_rejects_bad_nodes(api, accounts, cluster_uuid, witness, namenode_log, node):
    evidence = witness.before()
    response = read_log(api, accounts["operator"], node=node, path=str(namenode_log))
    assert response.status_code in (404, 422), response.text
    assert fields_of(response.json()) == ["node"]
    assert_nothing_ran(witness, evidence)


@pytest.mark.parametrize("ssh_user", ["root", "hadoop; touch /tmp/x", ""])
def test_read_log_ssh_user_must_match(api, accounts, cluster_uuid, witness, namenode_log, ssh_user):
    evidence = witness.before()
    response = read_log(api, accounts["operator"], node="demo-nn1", path=str(namenode_log), sshUser=ssh_user)
    assert response.status_code == 403, response.text
    assert fields_of(response.json()) == ["sshUser"]
    assert_nothing_ran(witness, evidence)


@pytest.fixture
def stored_log_dirs(bus, demo, node_uuids):
    """Store other log folders for demo-nn1 in inventory, as if saved before the log folder rule, and restore them."""
    node_uuid = UUID(node_uuids["demo-nn1"])
    original = [str(folder) for folder in demo.node("demo-nn1").log_dirs]
    statement = "UPDATE inventory.nodes SET log_dirs = $1::text[] WHERE uuid = $2"

    def store(folders: list[str]) -> None:
        bus.fetch(statement, folders, node_uuid)

    yield store
    store(original)


def test_read_log_stored_system_folder_ignored(api, accounts, cluster_uuid, witness, demo, stored_log_dirs):
    stored_log_dirs([str(demo.node("demo-nn1").log_dirs[0]), "/etc"])
    evidence = witness.before()
    response = read_log(api, accounts["operator"], node="demo-nn1", path="/etc/passwd")
    assert response.status_code == 422, response.text
    assert codes_of(response.json()) == ["path_outside_log_dirs"]
    assert_nothing_ran(witness, evidence)


def test_execute_stored_system_folder_ignored(api, accounts, cluster_uuid, witness, stored_log_dirs):
    stored_log_dirs(["/etc"])
    evidence = witness.before()
    response = execute(api, accounts["operator"], "tail -n 5 /etc/passwd")
    assert response.status_code == 400, response.text
    assert codes_of(response.json()) == ["path_outside_log_dirs"]
    assert_nothing_ran(witness, evidence)


def test_read_log_log_dir_linked_to_etc_rejected(api, accounts, cluster_uuid, witness, demo, stored_log_dirs):
    link = demo.node("demo-nn1").log_dirs[0].parent / f"etc-link-{secrets.token_hex(3)}"
    link.symlink_to("/etc")
    stored_log_dirs([str(demo.node("demo-nn1").log_dirs[0]), str(link)])
    evidence = witness.before()
    response = read_log(api, accounts["operator"], node="demo-nn1", path=f"{link}/passwd")
    assert response.status_code == 422, response.text
    assert codes_of(response.json()) == ["path_symlink_outside"]
    # Only the policy's own readlink check reached the node; the file was never read.
    assert [row["command_type"] for row in witness.new_rows(evidence)] == ["path_resolve"]


def test_read_log_observer_is_refused(api, accounts, cluster_uuid, witness, namenode_log):
    evidence = witness.before()
    response = read_log(api, accounts["observer"], node="demo-nn1", path=str(namenode_log))
    assert response.status_code == 403, response.text
    assert_nothing_ran(witness, evidence)


# --- Log reading endpoints -------------------------------------------------------------


def test_nodes_lists_only_callers_nodes(api, accounts, cluster_uuid):
    own = api.request("GET", "/hadoop/nodes/", headers=accounts["observer"].headers)
    other = api.request("GET", "/hadoop/nodes/", headers=accounts["outsider"].headers)
    assert own.status_code == 200, own.text
    assert {"demo-nn1", "demo-dn1"} <= set(own.json()["nodes"])
    assert other.json() == {"nodes": []}


LIST_PATHS = [
    "/hadoop/collectors/status/",
    "/metrics/collectors/status",
    "/hadoop/nodes/",
    "/hadoop/logs/all/namenode/",
    "/exec-logs",
]
CLUSTER_NOT_FOUND = {
    "zh": {"detail": "not_found", "message": "集群不存在", "field": "cluster"},
    "en": {"detail": "not_found", "message": "Cluster not found", "field": "cluster"},
}


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_list_unknown_cluster_not_found(api, accounts, cluster_uuid, path, lang):
    headers = {**accounts["operator"].headers, "Accept-Language": lang}
    response = api.request("GET", path, params={"cluster": "no-such-cluster"}, headers=headers)
    assert response.status_code == 404, response.text
    assert response.json() == CLUSTER_NOT_FOUND[lang]


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_foreign_cluster_like_unknown(api, accounts, cluster_uuid, path):
    response = api.request("GET", path, params={"cluster": cluster_uuid}, headers=accounts["outsider"].headers)
    assert response.status_code == 404, response.text
    assert response.json() == CLUSTER_NOT_FOUND["zh"]


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_own_cluster_served(api, accounts, cluster_uuid, path):
    response = api.request("GET", path, params={"cluster": cluster_uuid}, headers=accounts["operator"].headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_empty_cluster_means_every_cluster(api, accounts, cluster_uuid, path):
    response = api.request("GET", path, params={"cluster": ""}, headers=accounts["operator"].headers)
    assert response.status_code == 200, response.text


def test_nodes_unknown_cluster_is_not_found(api, accounts, cluster_uuid, witness):
    evidence = witness.before()
    response = api.request(
        "GET", "/hadoop/nodes/", params={"cluster": "no-such-cluster"}, headers=accounts["operator"].headers
    )
    assert response.status_code == 404, response.text
    assert fields_of(response.json()) == ["cluster"]
    assert_nothing_ran(witness, evidence)


def test_node_log_returns_bounded_tail_for_observer(api, accounts, cluster_uuid):
    response = api.request(
        "GET", "/hadoop/logs/demo-nn1/namenode/", params={"lines": 7}, headers=accounts["observer"].headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["node_name"] == "demo-nn1"
    assert body["log_type"] == "namenode"
    assert len(body["log_content"].splitlines()) == 7


def test_node_log_missing_type_is_not_found(api, accounts, cluster_uuid):
    response = api.request("GET", "/hadoop/logs/demo-nn1/journalnode/", headers=accounts["observer"].headers)
    assert response.status_code == 404, response.text
    assert fields_of(response.json()) == ["log_type"]


@pytest.mark.parametrize(
    "log_type", ["namenode;touch x", "$(id)", "`id`", "NameNode", "..", "a" * 60, "namenode\nx", "-rf"]
)
def test_node_log_rejects_hostile_log_types(api, accounts, cluster_uuid, witness, log_type):
    evidence = witness.before()
    response = api.request(
        "GET", f"/hadoop/logs/demo-nn1/{encode_segment(log_type)}/", headers=accounts["operator"].headers
    )
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == ["log_type"]
    assert_nothing_ran(witness, evidence)


@pytest.mark.parametrize("node", ["demo-nn1;touch x", "$(id)", "`id`", "demo-nn1\n", ".."])
def test_node_log_rejects_hostile_node_names(api, accounts, cluster_uuid, witness, node):
    evidence = witness.before()
    response = api.request(
        "GET", f"/hadoop/logs/{encode_segment(node)}/namenode/", headers=accounts["operator"].headers
    )
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == ["node_name"]
    assert_nothing_ran(witness, evidence)


def test_node_log_encoded_slashes_match_no_route(api, accounts, cluster_uuid, witness):
    evidence = witness.before()
    response = api.request(
        "GET", f"/hadoop/logs/{encode_segment('../../etc')}/namenode/", headers=accounts["operator"].headers
    )
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "not_found"
    assert_nothing_ran(witness, evidence)


@pytest.mark.parametrize("lines", [0, 5001, 10**12, "many"])
def test_log_endpoints_reject_bad_line_counts(api, accounts, cluster_uuid, witness, lines):
    evidence = witness.before()
    for path in ("/hadoop/logs/demo-nn1/namenode/", "/hadoop/logs/all/namenode/"):
        response = api.request("GET", path, params={"lines": lines}, headers=accounts["operator"].headers)
        assert response.status_code == 422, response.text
        assert fields_of(response.json()) == ["lines"]
    assert_nothing_ran(witness, evidence)


def test_log_files_lists_node_files(api, accounts, cluster_uuid):
    response = api.request("GET", "/hadoop/logs/files/demo-nn1/", headers=accounts["observer"].headers)
    assert response.status_code == 200, response.text
    files = response.json()["log_files"]
    assert any(name.endswith(".log") and "namenode" in name for name in files)


def test_log_files_unknown_node_is_not_found(api, accounts, cluster_uuid, witness):
    evidence = witness.before()
    response = api.request("GET", "/hadoop/logs/files/no-such-node/", headers=accounts["operator"].headers)
    assert response.status_code == 404, response.text
    assert fields_of(response.json()) == ["node_name"]
    assert_nothing_ran(witness, evidence)


def test_all_logs_lists_unreachable_node_with_error(api, accounts, cluster_uuid, demo):
    ghost = {**demo.registration()[0], "hostname": "ghost-1", "ip_address": "127.0.0.1", "ssh_port": free_port()}
    register_cluster(api, accounts["operator"], f"ghost-{secrets.token_hex(3)}", [ghost])
    response = api.request(
        "GET", "/hadoop/logs/all/namenode/", params={"lines": 4}, headers=accounts["operator"].headers
    )
    assert response.status_code == 200, response.text
    entries = {entry["node_name"]: entry for entry in response.json()["logs"]}
    assert len(entries["demo-nn1"]["log_content"].splitlines()) == 4
    assert entries["ghost-1"]["error"] == "node_unreachable"
    assert "demo-dn1" not in entries


# --- Internal commands.run and logs.tail, as the AI service calls them ------------------


def run_command(bus, principal, **body):
    return bus.call("collector", "commands.run", body, principal=principal)


def test_run_command_ai_read_only_with_user_principal(bus, accounts, node_uuids, witness):
    operator = accounts["operator"]
    principal = {"user_id": operator.user_id, "username": operator.username, "role": "operator"}
    evidence = witness.before()
    reply = run_command(
        bus,
        principal,
        node_uuid=node_uuids["demo-nn1"],
        command_id="safemode_get",
        actor="ai",
        description="diagnosis",
        fault_id="f-1",
    )
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "success"
    row = witness.new_rows(evidence)[-1]
    assert (row["actor"], row["username"], row["fault_id"]) == ("ai", operator.username, "f-1")


def test_run_command_unknown_id_is_refused(bus, node_uuids, witness):
    evidence = witness.before()
    reply = run_command(bus, SYSTEM_AI, node_uuid=node_uuids["demo-nn1"], command_id="rm", args={"path": "/"})
    assert reply.status == 403, reply.body
    assert reply.body["field"] == "command_id"
    assert_nothing_ran(witness, evidence)


def test_run_command_rejects_unknown_arguments(bus, node_uuids, witness):
    evidence = witness.before()
    reply = run_command(
        bus, SYSTEM_AI, node_uuid=node_uuids["demo-nn1"], command_id="jps", args={"flags": "; touch /tmp/x"}
    )
    assert reply.status == 422, reply.body
    assert [error["field"] for error in reply.body["detail"]["errors"]] == ["args.flags"]
    assert_nothing_ran(witness, evidence)


def test_run_command_observer_principal_runs_nothing(bus, accounts, node_uuids, witness):
    observer = accounts["observer"]
    principal = {"user_id": observer.user_id, "username": observer.username, "role": "observer"}
    evidence = witness.before()
    reply = run_command(bus, principal, node_uuid=node_uuids["demo-nn1"], command_id="jps", actor="ai")
    assert reply.status == 403, reply.body
    assert_nothing_ran(witness, evidence)


def test_run_command_unattended_control_needs_override(bus, node_uuids, witness):
    evidence = witness.before()
    reply = run_command(bus, SYSTEM_AI, node_uuid=node_uuids["demo-nn1"], command_id="leave_safe_mode", actor="ai")
    assert reply.status == 403, reply.body
    assert_nothing_ran(witness, evidence)


def test_run_command_unattended_control_needs_safe_action(bus, node_uuids, witness):
    evidence = witness.before()
    reply = run_command(
        bus,
        SYSTEM_AI,
        node_uuid=node_uuids["demo-nn1"],
        command_id="leave_safe_mode",
        actor="ai",
        policy_override="auto_repair",
        safe_action=False,
    )
    assert reply.status == 403, reply.body
    assert_nothing_ran(witness, evidence)


def test_run_command_unattended_control_needs_auto_policy(api, accounts, bus, cluster_uuid, node_uuids, witness):
    evidence = witness.before()
    body = dict(
        node_uuid=node_uuids["demo-nn1"],
        command_id="leave_safe_mode",
        actor="ai",
        policy_override="auto_repair",
        safe_action=True,
        description="auto repair",
    )
    refused = run_command(bus, SYSTEM_AI, **body)
    assert refused.status == 403, refused.body
    assert_nothing_ran(witness, evidence)

    patched = api.request(
        "PATCH", f"/clusters/{cluster_uuid}", json={"repair_policy": "auto"}, headers=accounts["operator"].headers
    )
    assert patched.status_code == 200, patched.text
    try:
        allowed = run_command(bus, SYSTEM_AI, **body)
    finally:
        api.request(
            "PATCH",
            f"/clusters/{cluster_uuid}",
            json={"repair_policy": "suggest"},
            headers=accounts["operator"].headers,
        )
    assert allowed.status == 200, allowed.body
    row = witness.new_rows(evidence)[-1]
    assert (row["command_type"], row["actor"], row["username"]) == ("leave_safe_mode", "ai", "hfd-ai")


def test_clean_temp_dir_deletes_entries_only(bus, accounts, demo, node_uuids):
    admin = accounts["admin"]
    temp_dir = demo.node("demo-dn1").temp_dir
    (temp_dir / "junk").mkdir(parents=True, exist_ok=True)
    (temp_dir / "junk" / "block.tmp").write_text("x")
    principal = {"user_id": admin.user_id, "username": admin.username, "role": "admin"}
    reply = run_command(
        bus, principal, node_uuid=node_uuids["demo-dn1"], command_id="clean_temp_dir", args={"path": str(temp_dir)}
    )
    assert reply.status == 200, reply.body
    assert temp_dir.is_dir()
    assert not (temp_dir / "junk").exists()


def test_clean_temp_dir_refuses_symlink_out(bus, accounts, demo, node_uuids, witness, tmp_path):
    admin = accounts["admin"]
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    temp_dir = demo.node("demo-dn1").temp_dir
    temp_dir.mkdir(parents=True, exist_ok=True)
    (temp_dir / "escape").symlink_to(outside)
    principal = {"user_id": admin.user_id, "username": admin.username, "role": "admin"}
    evidence = witness.before()
    reply = run_command(
        bus,
        principal,
        node_uuid=node_uuids["demo-dn1"],
        command_id="clean_temp_dir",
        args={"path": str(temp_dir / "escape")},
    )
    assert reply.status == 422, reply.body
    assert [error["code"] for error in reply.body["detail"]["errors"]] == ["path_symlink_outside"]
    assert (outside / "keep.txt").exists()
    assert [row["command_type"] for row in witness.new_rows(evidence)] == ["path_resolve"]


@pytest.mark.parametrize("path", ["/etc", "/", "/tmp/../etc", "relative/tmp"])
def test_clean_temp_dir_rejects_paths_outside_roots(bus, accounts, node_uuids, witness, path):
    admin = accounts["admin"]
    principal = {"user_id": admin.user_id, "username": admin.username, "role": "admin"}
    evidence = witness.before()
    reply = run_command(
        bus, principal, node_uuid=node_uuids["demo-dn1"], command_id="clean_temp_dir", args={"path": path}
    )
    assert reply.status == 422, reply.body
    assert [error["field"] for error in reply.body["detail"]["errors"]] == ["args.path"]
    assert_nothing_ran(witness, evidence)


def test_logs_tail_by_type_with_pattern(bus, accounts, node_uuids):
    observer = accounts["observer"]
    principal = {"user_id": observer.user_id, "username": observer.username, "role": "observer"}
    reply = bus.call(
        "collector",
        "logs.tail",
        {"node_uuid": node_uuids["demo-nn1"], "log_type": "namenode", "lines": 30, "pattern": "INFO"},
        principal=principal,
    )
    assert reply.status == 200, reply.body
    assert reply.body["lines"]
    assert all("INFO" in line for line in reply.body["lines"])


def test_logs_tail_rejects_catastrophic_pattern(bus, node_uuids, witness):
    evidence = witness.before()
    reply = bus.call(
        "collector",
        "logs.tail",
        {"node_uuid": node_uuids["demo-nn1"], "log_type": "namenode", "pattern": "(a+)+$"},
        principal=SYSTEM_AI,
    )
    assert reply.status == 422, reply.body
    assert [error["field"] for error in reply.body["detail"]["errors"]] == ["pattern"]
    assert_nothing_ran(witness, evidence)


# --- The exec log ----------------------------------------------------------------------


def exec_logs(api, account, **params):
    return api.request("GET", "/exec-logs", params=params, headers=account.headers)


def test_exec_log_records_every_run(api, accounts, cluster_uuid):
    operator = accounts["operator"]
    ran = execute(api, operator, "df -h")
    assert ran.status_code == 200, ran.text
    item = exec_logs(api, operator, size=1).json()["items"][0]
    assert item["exec_id"] == ran.json()["exec_id"]
    assert item["username"] == operator.username
    assert item["from_user_id"] == operator.user_id
    assert item["node"] == "demo-nn1"
    assert item["command"] == "df -h"
    assert item["command_type"] == "df"
    assert item["exit_code"] == 0
    assert item["execution_status"] == "success"
    assert item["duration_ms"] >= 0
    assert item["output_bytes"] == len(ran.json()["stdout"].encode()) + len(ran.json()["stderr"].encode())
    assert item["actor"] == "user"
    assert item["end_time"] >= item["start_time"]


def test_exec_log_pagination_and_visibility(api, accounts, cluster_uuid):
    first = exec_logs(api, accounts["operator"], page=1, size=2).json()
    second = exec_logs(api, accounts["operator"], page=2, size=2).json()
    outsider = exec_logs(api, accounts["outsider"]).json()
    assert len(first["items"]) == 2
    assert first["total"] >= 4
    assert first["items"][0]["start_time"] >= second["items"][0]["start_time"]
    assert outsider["total"] == 0


@pytest.mark.parametrize("params, field", [({"size": 0}, "size"), ({"size": 101}, "size"), ({"page": 0}, "page")])
def test_exec_log_rejects_bad_pagination(api, accounts, params, field):
    response = exec_logs(api, accounts["operator"], **params)
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == [field]


def test_exec_log_manual_record_lifecycle(api, accounts, cluster_uuid):
    operator, admin = accounts["operator"], accounts["admin"]
    cluster_name = api.request("GET", "/clusters", headers=operator.headers).json()["clusters"][0]["name"]
    created = api.request(
        "POST",
        "/exec-logs",
        headers=operator.headers,
        json={
            "from_user_id": operator.user_id,
            "cluster_name": cluster_name,
            "description": "replaced a disk",
            "start_time": "2026-12-04T10:00:00Z",
            "end_time": "2026-12-04T11:00:00+00:00",
        },
    )
    assert created.status_code == 200, created.text
    log_id = created.json()["id"]

    updated = api.request(
        "PUT",
        f"/exec-logs/{log_id}",
        json={"description": "replaced two disks", "end_time": "2026-12-04T12:00:00Z"},
        headers=operator.headers,
    )
    assert updated.status_code == 200, updated.text
    item = next(entry for entry in exec_logs(api, operator, size=100).json()["items"] if entry["id"] == log_id)
    assert item["description"] == "replaced two disks"
    assert item["command_type"] == "manual"

    assert api.request("DELETE", f"/exec-logs/{log_id}", headers=operator.headers).status_code == 403
    assert api.request("DELETE", f"/exec-logs/{log_id}", headers=admin.headers).status_code == 200
    assert api.request("DELETE", f"/exec-logs/{log_id}", headers=admin.headers).status_code == 404


def test_exec_log_create_rejects_bad_input(api, accounts, cluster_uuid):
    operator = accounts["operator"]
    cluster_name = api.request("GET", "/clusters", headers=operator.headers).json()["clusters"][0]["name"]
    base = {"from_user_id": operator.user_id, "cluster_name": cluster_name}
    cases = [
        ({**base, "from_user_id": accounts["admin"].user_id}, 403, "from_user_id"),
        ({**base, "cluster_name": "no-such-cluster"}, 404, "cluster_name"),
        ({**base, "start_time": "2026-12-04T10:00:00Z", "end_time": "2026-12-04T09:00:00Z"}, 422, "end_time"),
        ({**base, "command": "rm -rf /"}, 422, "command"),
        ({**base, "start_time": "yesterday"}, 422, "start_time"),
    ]
    for body, status, field in cases:
        response = api.request("POST", "/exec-logs", json=body, headers=operator.headers)
        assert response.status_code == status, (body, response.text)
        assert fields_of(response.json()) == [field], body


def test_exec_log_run_result_is_immutable(api, accounts, cluster_uuid):
    operator = accounts["operator"]
    ran = execute(api, operator, "uptime")
    assert ran.status_code == 200, ran.text
    log_id = exec_logs(api, operator, size=1).json()["items"][0]["id"]
    for body, field in (
        ({"start_time": "2020-01-01T00:00:00Z"}, "start_time"),
        ({"exit_code": 0}, "exit_code"),
        ({"command": "jps"}, "command"),
    ):
        response = api.request("PUT", f"/exec-logs/{log_id}", json=body, headers=operator.headers)
        assert response.status_code == 422, response.text
        assert fields_of(response.json()) == [field]
    described = api.request("PUT", f"/exec-logs/{log_id}", json={"description": "checked"}, headers=operator.headers)
    assert described.status_code == 200, described.text


@pytest.mark.parametrize("log_id", ["abc", "0", "-1", "1;drop"])
def test_exec_log_rejects_bad_ids(api, accounts, log_id):
    response = api.request("DELETE", f"/exec-logs/{quote(log_id, safe='')}", headers=accounts["admin"].headers)
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == ["log_id"]


def test_exec_log_outsider_cannot_edit(api, accounts, cluster_uuid):
    log_id = exec_logs(api, accounts["operator"], size=1).json()["items"][0]["id"]
    response = api.request(
        "PUT", f"/exec-logs/{log_id}", json={"description": "x"}, headers=accounts["outsider"].headers
    )
    assert response.status_code == 404, response.text


# --- Service control, last: it stops and starts daemons of the demo cluster ---------


def test_execute_admin_controls_daemon(api, accounts, cluster_uuid):
    admin = accounts["admin"]
    stopped = execute(api, admin, "hdfs --daemon stop datanode", node="demo-dn1")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "success"
    assert "DataNode" not in execute(api, admin, "jps", node="demo-dn1").json()["stdout"]
    started = execute(api, admin, "hdfs --daemon start datanode", node="demo-dn1")
    assert started.status_code == 200, started.text
    assert "DataNode" in execute(api, admin, "jps", node="demo-dn1").json()["stdout"]


def test_restart_daemon_restarts_history_server(bus, accounts, demo, node_uuids, witness):
    admin = accounts["admin"]
    principal = {"user_id": admin.user_id, "username": admin.username, "role": "admin"}
    generation = demo.cluster.node_state("demo-nn1")["daemons"]["historyserver"]["generation"]
    evidence = witness.before()

    reply = run_command(
        bus, principal, node_uuid=node_uuids["demo-nn1"], command_id="restart_daemon", args={"daemon": "historyserver"}
    )
    jps = run_command(bus, principal, node_uuid=node_uuids["demo-nn1"], command_id="jps")

    assert reply.status == 200, reply.body
    assert reply.body["status"] == "success"
    assert ("demo-nn1", "mapred --daemon stop historyserver") in witness.new_commands(evidence)
    assert ("demo-nn1", "mapred --daemon start historyserver") in witness.new_commands(evidence)
    row = witness.new_rows(evidence)[0]
    assert row["command_type"] == "restart_daemon"
    assert row["command"] == "mapred --daemon stop historyserver; mapred --daemon start historyserver"
    assert jps.status == 200, jps.body
    assert "JobHistoryServer" in jps.body["stdout"]
    assert demo.cluster.node_state("demo-nn1")["daemons"]["historyserver"]["generation"] == generation + 1


def test_cluster_stop_and_start(api, accounts, cluster_uuid):
    admin = accounts["admin"]
    stopped = api.request("POST", f"/ops/clusters/{cluster_uuid}/stop", headers=admin.headers)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["ok"] is True
    commands = [line for line in stopped.json()["logs"] if " $ " in line]
    assert commands[0] == "[demo-nn1] $ mapred --daemon stop historyserver (success)"
    assert any("--daemon stop namenode" in line for line in commands)
    jps_stopped = execute(api, admin, "jps").json()["stdout"]
    assert "NameNode" not in jps_stopped
    assert "JobHistoryServer" not in jps_stopped
    started = api.request("POST", f"/ops/clusters/{cluster_uuid}/start", headers=admin.headers)
    assert started.status_code == 200, started.text
    assert started.json()["ok"] is True
    assert [line for line in started.json()["logs"] if " $ " in line][-1] == (
        "[demo-nn1] $ mapred --daemon start historyserver (success)"
    )
    jps_started = execute(api, admin, "jps").json()["stdout"]
    assert "NameNode" in jps_started
    assert "JobHistoryServer" in jps_started


def test_cluster_control_refuses_operator_and_bad_uuids(api, accounts, cluster_uuid, witness):
    evidence = witness.before()
    refused = api.request("POST", f"/ops/clusters/{cluster_uuid}/stop", headers=accounts["operator"].headers)
    assert refused.status_code == 403, refused.text
    for uuid, status in (("not-a-uuid", 422), ("00000000-0000-4000-8000-000000000000", 404), ("x;touch", 422)):
        response = api.request("POST", f"/ops/clusters/{quote(uuid, safe='')}/start", headers=accounts["admin"].headers)
        assert response.status_code == status, response.text
        assert fields_of(response.json()) == ["uuid"]
    assert_nothing_ran(witness, evidence)
