"""The NATS cluster configuration of deploy/k8s, run as three nats-servers on loopback.

The test takes nats.conf and accounts.conf from the ConfigMap in nats-config.yaml. It changes
only what differs between a pod and this machine: the listen addresses (free loopback ports
instead of 4222, 6222 and 8222), the store folder and the pid file. The environment
carries what nats.yaml sets: POD_NAME, the route URLs with the route password, and every
user's password.
"""

import asyncio
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import pytest
import yaml

from hfd.embedded import LOOPBACK, free_port, nats_server_binary
from libs.common.bus import ensure_streams
from libs.common.names import STREAM_SUBJECTS, Names
from tests.deploy.natsserver import USERS, new_password, password_variable

CONFIG_MAP = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "nats-config.yaml"
MEMBERS = 3


@dataclass
class Member:
    name: str
    client_port: int
    cluster_port: int
    http_port: int
    process: subprocess.Popen | None = None


def local_config(config: str, member: Member, folder: Path) -> str:
    """Return ``config`` with this machine's addresses and folders, failing unless each line occurs once."""
    replacements = {
        'listen: "0.0.0.0:4222"': f'listen: "{LOOPBACK}:{member.client_port}"',
        'http: "0.0.0.0:8222"': f'http: "{LOOPBACK}:{member.http_port}"',
        'listen: "0.0.0.0:6222"': f'listen: "{LOOPBACK}:{member.cluster_port}"',
        "pid_file: /var/run/nats/nats.pid": f'pid_file: "{folder / "nats.pid"}"',
        "store_dir: /data/jetstream": f'store_dir: "{folder / "jetstream"}"',
    }
    for original, local in replacements.items():
        assert config.count(original) == 1, f"{original!r} not found once in nats.conf of {CONFIG_MAP.name}"
        config = config.replace(original, local)
    return config


@pytest.fixture(scope="module")
def cluster():
    data = yaml.safe_load(CONFIG_MAP.read_text())["data"]
    work_dir = Path(tempfile.mkdtemp(prefix="hfd-nats-cluster-"))
    ports: list[int] = []
    while len(ports) < 3 * MEMBERS:  # free_port does not hold the port, so two calls can return one
        if (port := free_port()) not in ports:
            ports.append(port)
    members = [Member(f"nats-{index}", *ports[3 * index : 3 * index + 3]) for index in range(MEMBERS)]
    passwords = {user: new_password() for user in USERS}
    environment = {
        "PATH": "/usr/bin:/bin",
        "NATS_ROUTE_PASSWORD": (route_password := new_password()),
        **{password_variable(user): password for user, password in passwords.items()},
        **{
            f"NATS_ROUTE_{index}": f"nats-route://route:{route_password}@{LOOPBACK}:{member.cluster_port}"
            for index, member in enumerate(members)
        },
    }
    try:
        for member in members:
            folder = work_dir / member.name
            folder.mkdir()
            (folder / "accounts.conf").write_text(data["accounts.conf"])
            (folder / "nats.conf").write_text(local_config(data["nats.conf"], member, folder))
            log = open(folder / "server.log", "ab")  # noqa: SIM115 - closed when the process ends
            member.process = subprocess.Popen(
                [nats_server_binary(), "--config", str(folder / "nats.conf")],
                env={**environment, "POD_NAME": member.name},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_healthy(members, "/healthz", timeout=60, work_dir=work_dir)
        yield members, passwords
    finally:
        for member in members:
            if member.process is not None and member.process.poll() is None:
                member.process.terminate()
                member.process.wait(10)
        shutil.rmtree(work_dir, ignore_errors=True)


def wait_healthy(members: list[Member], path: str, timeout: float, work_dir: Path) -> None:
    """Wait until every member's monitoring endpoint returns 200 on ``path`` (the startup probe).

    On failure the message contains the last response and the end of the member's server log,
    because the folder is deleted when the fixture ends.
    """
    deadline = time.monotonic() + timeout
    for member in members:
        last_response = "no response"
        while True:
            assert member.process.poll() is None, f"{member.name} exited with status {member.process.returncode}"
            try:
                response = httpx.get(f"http://{LOOPBACK}:{member.http_port}{path}", timeout=2)
                if response.status_code == 200:
                    break
                last_response = f"{response.status_code} {response.text[:300]}"
            except httpx.HTTPError as error:
                last_response = repr(error)
            if time.monotonic() >= deadline:
                log_tail = (work_dir / member.name / "server.log").read_text(errors="replace")[-3000:]
                pytest.fail(
                    f"{member.name} not healthy on {path} within {timeout:.0f}s; last response: {last_response}\n"
                    f"end of its server log:\n{log_tail}"
                )
            time.sleep(0.2)


def url(member: Member, user: str, passwords: dict[str, str]) -> str:
    return f"nats://{user}:{passwords[user]}@{LOOPBACK}:{member.client_port}"


@pytest.mark.parametrize("path", ["/healthz?js-server-only=true", "/healthz?js-enabled-only=true"])
def test_cluster_probe_paths_healthy(cluster, path):
    members, _ = cluster
    statuses = [httpx.get(f"http://{LOOPBACK}:{member.http_port}{path}", timeout=5).status_code for member in members]

    assert statuses == [200] * MEMBERS


def test_cluster_replicates_streams_across_servers(cluster):
    members, passwords = cluster

    marker = uuid.uuid4().hex.encode()

    async def exercise() -> tuple[int, int, bytes]:
        auth = await nats.connect(url(members[0], "auth", passwords))
        collector = await nats.connect(url(members[1], "collector", passwords))
        faults = await nats.connect(url(members[2], "faults", passwords))
        try:
            await ensure_streams(auth.jetstream(), Names(""), list(STREAM_SUBJECTS), replicas=MEMBERS)
            info = await auth.jetstream().stream_info("LOGS")
            await collector.jetstream().publish("logs.c1.dn1.datanode", marker, timeout=10)
            subscription = await faults.jetstream().pull_subscribe("logs.>", durable="faults_logs", stream="LOGS")
            fetched = await subscription.fetch(1, timeout=10)
            await fetched[0].ack()
            return info.config.num_replicas, len(info.cluster.replicas or []), fetched[0].data
        finally:
            for connection in (auth, collector, faults):
                await connection.close()

    replicas, followers, data = asyncio.run(exercise())

    assert replicas == MEMBERS
    assert followers == MEMBERS - 1
    assert data == marker
