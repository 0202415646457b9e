"""Policy commands on an OpenSSH sshd node, whose login shell is a real bash or sh.

Only the collector runs here; the internal ``commands.run`` is called with the AI's system
principal, which needs no inventory for read-only diagnostics. Argument text that a shell
would expand must reach the node as literal words.
"""

import os
import secrets
import uuid

import pytest

from hfd.embedded import free_port
from tests.collector.conftest import next_address
from tests.collector.conftest_ops import Bus
from tests.collector.sshd import make_sshd_node, sshd_available
from tests.conftest import start_stack

pytestmark = [pytest.mark.sshd, pytest.mark.slow]

SYSTEM_AI = {"user_id": 0, "username": "hfd-ai", "role": "operator"}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    if not sshd_available():
        pytest.skip("OpenSSH sshd not found at /usr/sbin/sshd; install openssh-server")
    folder = tmp_path_factory.mktemp("ops-sshd")
    sshd = make_sshd_node(folder / "node", next_address()).start()
    (folder / "logs").mkdir()
    (folder / "logs" / "app.log").write_text("".join(f"2026-12-04 10:00:0{n},000 INFO x: line {n}\n" for n in range(5)))
    yield sshd, folder
    sshd.stop()


@pytest.fixture(scope="module")
def collector(infra, node):
    _, folder = node
    stack = start_stack(
        infra, "collector", HFD_COLLECTOR_KNOWN_HOSTS=str(folder / "known_hosts"), HFD_COLLECTOR_METRIC_INTERVAL="3600"
    )
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def bus(infra):
    connection = Bus(infra)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def node_uuid(collector, bus, node):
    sshd, folder = node
    node_uuid = str(uuid.uuid4())
    body = {
        "cluster_uuid": str(uuid.uuid4()),
        "cluster_name": "sshd-cluster",
        "node_uuid": node_uuid,
        "name": "sshd-node",
        "address": sshd.address,
        "port": sshd.port,
        "ssh_user": sshd.user,
        "password": None,
        "private_key": sshd.client_private_key,
        "known_host_key": sshd.host_public_key,
        "log_dirs": [str(folder / "logs")],
    }
    reply = bus.call("collector", "nodes.upsert", body, principal=None)
    assert reply.status == 200, reply.body
    return node_uuid


def run(bus, node_uuid, command_id, **body):
    return bus.call(
        "collector",
        "commands.run",
        {"node_uuid": node_uuid, "command_id": command_id, "actor": "ai", **body},
        principal=SYSTEM_AI,
    )


def rows(bus, node_uuid):
    return bus.fetch("SELECT * FROM collector.exec_logs WHERE node_uuid = $1 ORDER BY id", node_uuid)


def test_sshd_runs_diagnostic(bus, node_uuid):
    reply = run(bus, node_uuid, "uptime")
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "success"
    assert "load average" in reply.body["stdout"]
    row = rows(bus, node_uuid)[-1]
    assert (row["command_type"], row["execution_status"], row["exit_code"]) == ("uptime", "success", 0)
    assert row["output_bytes"] == len(reply.body["stdout"].encode()) + len(reply.body["stderr"].encode())


def test_sshd_tail_reads_log_file(bus, node_uuid, node):
    _, folder = node
    reply = run(bus, node_uuid, "tail", args={"path": str(folder / "logs" / "app.log"), "lines": 2})
    assert reply.status == 200, reply.body
    assert reply.body["stdout"].splitlines() == [
        "2026-12-04 10:00:03,000 INFO x: line 3",
        "2026-12-04 10:00:04,000 INFO x: line 4",
    ]


@pytest.mark.parametrize(
    "template", ["$(touch {canary})", "`touch {canary}`", "x'; touch {canary}; '", 'x"; touch {canary}']
)
def test_sshd_search_text_is_never_expanded(bus, node_uuid, node, template):
    _, folder = node
    canary = folder / f"canary-{secrets.token_hex(3)}"
    reply = run(
        bus, node_uuid, "grep", args={"path": str(folder / "logs" / "app.log"), "text": template.format(canary=canary)}
    )
    assert reply.status == 200, reply.body
    assert reply.body["exit_code"] == 1  # grep found no line with that literal text
    assert not canary.exists()


def test_sshd_symlink_out_of_log_dir_is_refused(bus, node_uuid, node):
    _, folder = node
    link = folder / "logs" / "escape.log"
    link.symlink_to("/etc/hostname")
    before = len(rows(bus, node_uuid))
    reply = run(bus, node_uuid, "tail", args={"path": str(link)})
    assert reply.status == 422, reply.body
    assert [error["code"] for error in reply.body["detail"]["errors"]] == ["path_symlink_outside"]
    assert [row["command_type"] for row in rows(bus, node_uuid)[before:]] == ["path_resolve"]


def test_sshd_command_timeout_is_recorded(bus, node_uuid, node):
    _, folder = node
    fifo = folder / "logs" / "blocked.log"
    os.mkfifo(fifo)
    try:
        reply = run(bus, node_uuid, "tail", args={"path": str(fifo), "lines": 1}, timeout=1)
    finally:
        # Open the pipe once for writing, so the tail still waiting on the node reads end of file.
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "timeout"
    assert reply.body["exit_code"] is None
    row = rows(bus, node_uuid)[-1]
    assert (row["command_type"], row["execution_status"]) == ("tail", "timeout")


def test_unreachable_node_is_recorded(bus, collector, node):
    sshd, folder = node
    node_uuid = str(uuid.uuid4())
    body = {
        "cluster_uuid": str(uuid.uuid4()),
        "cluster_name": "gone-cluster",
        "node_uuid": node_uuid,
        "name": "gone-node",
        "address": "127.0.0.1",
        "port": free_port(),
        "ssh_user": sshd.user,
        "password": None,
        "private_key": sshd.client_private_key,
        "known_host_key": sshd.host_public_key,
        "log_dirs": [str(folder / "logs")],
    }
    assert bus.call("collector", "nodes.upsert", body, principal=None).status == 200
    reply = run(bus, node_uuid, "uptime")
    assert reply.status == 503, reply.body
    assert reply.body["detail"] == "node_unreachable"
    row = rows(bus, node_uuid)[-1]
    assert (row["command_type"], row["execution_status"]) == ("uptime", "unreachable")
