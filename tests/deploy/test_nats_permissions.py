"""Each service's NATS user, from deploy/nats/accounts.conf, on a real nats-server.

Every allowed case goes through the code the services run (``RpcService``, ``RpcClient``,
``ensure_streams``, ``run_consumer``, the token-state classes) and checks that the server sent
no permission error. Every denied case checks the exact error the server sends; a denied
JetStream or request/reply call also times out, because the server drops the message.
"""

import asyncio
import os
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError

from hfd.embedded import nats_server_binary
from libs.common.bus import ensure_streams
from libs.common.consumer import run_consumer
from libs.common.errors import Unavailable
from libs.common.names import STREAM_SUBJECTS, Names
from libs.common.rpc import RpcClient, RpcRequest, RpcService
from services.auth.models import User
from services.auth.state import TokenStateStore
from services.collector.replica_sync import CollectorStateChanged
from services.gateway.security import TokenState
from tests.deploy.natsserver import (
    ACCOUNTS_CONF,
    REPO_ROOT,
    SERVER_CONF,
    NatsUnderTest,
    connect_as,
    publish_violation,
    subscribe_violation,
)

NAMES = Names("")
FAMILY_ID = uuid.UUID("0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f")
BACKEND = ("auth", "inventory", "collector", "faults", "ai")

# Every request/reply call the services make, as (caller, service, operation).
# test_rpc_calls_in_code_are_listed finds most of them in the code, so a new call fails there.
RPC_CALLS = [
    ("inventory", "collector", "nodes.upsert"),
    ("inventory", "collector", "nodes.remove"),
    ("inventory", "collector", "discover"),
    ("inventory", "collector", "nodes.probe_log_dirs"),
    ("collector", "inventory", "clusters.list_all"),
    ("collector", "inventory", "clusters.list"),
    ("collector", "inventory", "clusters.get"),
    ("collector", "inventory", "nodes.resolve"),
    ("collector", "inventory", "nodes.list_for_principal"),
    ("collector", "inventory", "nodes.set_log_dir"),
    ("faults", "inventory", "clusters.list"),
    ("faults", "inventory", "clusters.get"),
    ("faults", "inventory", "nodes.resolve"),
    ("ai", "inventory", "clusters.get"),
    ("ai", "inventory", "nodes.resolve"),
    ("ai", "inventory", "nodes.list_for_principal"),
    ("ai", "collector", "commands.run"),
    ("ai", "collector", "logs.tail"),
    ("ai", "faults", "incidents.get"),
    ("ai", "faults", "incidents.list"),
    ("ai", "faults", "incidents.since"),
    ("ai", "faults", "faults.update"),
    ("ai", "faults", "incidents.resolve"),
    ("gateway", "auth", "login"),
    ("gateway", "inventory", "clusters.create"),
    ("gateway", "collector", "commands.run"),
    ("gateway", "faults", "faults.list"),
    ("gateway", "ai", "chat"),
]

PUBLISHED_STREAMS = [
    ("collector", "logs.c1.dn1.datanode", "LOGS"),
    ("collector", "metrics.c1.dn1", "METRICS"),
    ("collector", "metrics.c1.dn1.status", "METRICS"),
    ("faults", "faults.c1.disk_full", "FAULTS"),
    ("ai", "diagnoses.c1", "DIAGNOSES"),
    ("gateway", "audit.gateway", "AUDIT"),
]

DURABLES = [
    ("auth", "AUDIT", "auth_audit", "audit.>", "audit.gateway"),
    ("inventory", "METRICS", "inventory-metrics", "metrics.>", "metrics.c1.dn1"),
    ("faults", "LOGS", "faults_logs", "logs.>", "logs.c1.dn1.datanode"),
    ("faults", "METRICS", "faults_metrics", "metrics.>", "metrics.c1.dn1.status"),
    ("ai", "FAULTS", "ai_faults", "faults.>", "faults.c1.disk_full"),
]

DENIED_PUBLISH = [
    ("faults", "logs.c1.dn1.datanode"),
    ("faults", "metrics.c1.dn1"),
    ("faults", "diagnoses.c1"),
    ("faults", "hfd.collector.commands.run"),
    ("gateway", "faults.c1.disk_full"),
    ("gateway", "logs.c1.dn1.datanode"),
    ("gateway", "audit.auth"),
    ("gateway", "$KV.hfd_users.mallory"),
    ("gateway", "$JS.API.STREAM.CREATE.LOGS"),
    ("ai", "faults.c1.disk_full"),
    ("ai", "logs.c1.dn1.datanode"),
    ("ai", "hfd.collector.nodes.upsert"),
    ("ai", "hfd.collector.nodes.remove"),
    ("ai", "hfd.collector.discover"),
    ("ai", "hfd.auth.users.list"),
    ("ai", "$JS.API.CONSUMER.CREATE.LOGS.ai_logs.logs.>"),
    ("ai", "$JS.API.STREAM.MSG.GET.LOGS"),
    ("ai", "$JS.ACK.LOGS.faults_logs.1.1.1.1.1"),
    ("collector", "faults.c1.disk_full"),
    ("collector", "hfd.ai.chat"),
    ("collector", "hfd.collector.events.other"),
    ("inventory", NAMES.collector_state_changed()),
    ("ai", NAMES.collector_state_changed()),
    ("inventory", "metrics.c1.dn1"),
    ("inventory", "hfd.ai.chat"),
    ("auth", "audit.gateway"),
    ("auth", "hfd.inventory.clusters.list"),
    ("faults", "$JS.API.CONSUMER.DELETE.FAULTS.ai_faults"),
    *[(user, "$JS.API.STREAM.DELETE.LOGS") for user in BACKEND],
    *[(user, "$JS.API.STREAM.PURGE.FAULTS") for user in BACKEND],
    *[(user, "$JS.API.STREAM.UPDATE.AUDIT") for user in BACKEND],
]

DENIED_SUBSCRIBE = [
    ("ai", "hfd.collector.>", ""),
    ("ai", "hfd.collector.commands.run", "q"),
    ("ai", "logs.>", ""),
    ("collector", "hfd.inventory.>", "q"),
    ("collector", "hfd.faults.>", ""),
    ("collector", "hfd.collector.>", ""),
    ("inventory", NAMES.collector_state_changed(), ""),
    ("gateway", NAMES.collector_state_changed(), ""),
    ("faults", "logs.>", ""),
    ("inventory", "hfd.auth.login", "q"),
    ("auth", "hfd.auth.>", ""),
    ("gateway", "hfd.auth.>", "q"),
    *[(user, ">", "") for user in ("gateway", *BACKEND)],
]


@pytest.fixture(scope="module")
def streams(nats_server: NatsUnderTest) -> NatsUnderTest:
    """The five streams, created the way a backend service creates them when it starts."""
    asyncio.run(_create_streams(nats_server))
    return nats_server


async def _create_streams(server: NatsUnderTest) -> None:
    auth = await connect_as(server, "auth")
    try:
        await ensure_streams(auth.nc.jetstream(), NAMES, list(STREAM_SUBJECTS))
        assert await auth.errors_after_flush() == []
    finally:
        await auth.close()


async def _serve(server: NatsUnderTest, service: str, operations: list[str]):
    """Serve ``operations`` as ``service``'s user; each replies with its own name."""
    connection = await connect_as(server, service)
    rpc = RpcService(connection.nc, NAMES, service, "0.0.1")
    for operation in operations:
        rpc.add(operation, _echo(operation))
    await rpc.start()
    return connection, rpc


def _echo(operation: str):
    async def handle(request: RpcRequest) -> dict:
        return {"operation": operation}

    return handle


@pytest.mark.parametrize("service", BACKEND)
async def test_backend_serves_gateway_and_pings(nats_server, service):
    responder, rpc = await _serve(nats_server, service, ["health"])
    gateway = await connect_as(nats_server, "gateway")
    try:
        reply = await RpcClient(gateway.nc, NAMES, timeout=5).call(service, "health", RpcRequest())
        ping = await gateway.nc.request(f"$SRV.PING.hfd-{service}", b"", timeout=5)

        assert reply.body == {"operation": "health"}
        assert f'"name":"hfd-{service}"' in ping.data.decode().replace(" ", "")
        assert await gateway.errors_after_flush() == []
        assert await responder.errors_after_flush() == []
    finally:
        await rpc.stop()
        await responder.close()
        await gateway.close()


@pytest.mark.parametrize(("caller", "service", "operation"), RPC_CALLS)
async def test_permitted_call_gets_reply(nats_server, caller, service, operation):
    responder, rpc = await _serve(nats_server, service, [operation])
    client = await connect_as(nats_server, caller)
    try:
        reply = await RpcClient(client.nc, NAMES, timeout=5).call(service, operation, RpcRequest())

        assert reply.status == 200
        assert reply.body == {"operation": operation}
        assert await client.errors_after_flush() == []
        assert await responder.errors_after_flush() == []
    finally:
        await rpc.stop()
        await responder.close()
        await client.close()


async def test_denied_call_times_out(nats_server):
    responder, rpc = await _serve(nats_server, "collector", ["nodes.upsert"])
    ai = await connect_as(nats_server, "ai")
    try:
        with pytest.raises(Unavailable):
            await RpcClient(ai.nc, NAMES, timeout=0.5).call("collector", "nodes.upsert", RpcRequest())

        assert await ai.errors_after_flush(expected=1) == [publish_violation("hfd.collector.nodes.upsert")]
        assert await responder.errors_after_flush() == []
    finally:
        await rpc.stop()
        await responder.close()
        await ai.close()


async def test_collector_replicas_share_state_changes(nats_server):
    first = await connect_as(nats_server, "collector")
    second = await connect_as(nats_server, "collector")
    subject = NAMES.collector_state_changed()
    event = CollectorStateChanged(sender="first", reason="collectors.set_log_dir", node_uuids=[str(uuid.uuid4())])
    try:
        # Each replica subscribes without a queue group, so both receive every change.
        subscriptions = [await connection.nc.subscribe(subject) for connection in (first, second)]
        await second.nc.flush(timeout=5)
        await first.nc.publish(subject, event.model_dump_json().encode())
        received = [await subscription.next_msg(timeout=5) for subscription in subscriptions]

        assert [CollectorStateChanged.model_validate_json(msg.data) for msg in received] == [event, event]
        assert await first.errors_after_flush() == []
        assert await second.errors_after_flush() == []
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize(("user", "subject", "stream"), PUBLISHED_STREAMS)
async def test_service_publishes_own_stream(streams, user, subject, stream):
    connection = await connect_as(streams, user)
    try:
        ack = await connection.nc.jetstream().publish(
            subject, b"{}", headers={"Nats-Msg-Id": uuid.uuid4().hex}, timeout=5
        )

        assert ack.stream == stream
        assert await connection.errors_after_flush() == []
    finally:
        await connection.close()


async def test_denied_stream_publish_times_out(streams):
    faults = await connect_as(streams, "faults")
    admin = await connect_as(streams, "admin")
    try:
        before = (await admin.nc.jetstream().stream_info("LOGS")).state.messages
        with pytest.raises(NatsTimeoutError):
            await faults.nc.jetstream().publish("logs.c1.dn1.datanode", b"{}", timeout=0.5)
        after = (await admin.nc.jetstream().stream_info("LOGS")).state.messages

        assert await faults.errors_after_flush(expected=1) == [publish_violation("logs.c1.dn1.datanode")]
        assert after == before
    finally:
        await faults.close()
        await admin.close()


@pytest.mark.parametrize(("user", "stream", "durable", "filter_subject", "subject"), DURABLES)
async def test_service_consumes_own_durable(streams, user, stream, durable, filter_subject, subject):
    admin = await connect_as(streams, "admin")
    connection = await connect_as(streams, user)
    marker = uuid.uuid4().hex.encode()
    stopping = asyncio.Event()

    async def handle(messages) -> None:
        if any(message.data == marker for message in messages):
            stopping.set()

    try:
        sent = await admin.nc.jetstream().publish(subject, marker, timeout=5)
        await asyncio.wait_for(
            run_consumer(
                connection.nc.jetstream(),
                stream=stream,
                durable=durable,
                filter_subject=filter_subject,
                handler=handle,
                stopping=stopping,
            ),
            timeout=15,
        )
        info = await admin.nc.jetstream().consumer_info(stream, durable)

        assert info.ack_floor.stream_seq >= sent.seq
        assert info.num_ack_pending == 0
        assert await connection.errors_after_flush() == []
    finally:
        await connection.close()
        await admin.close()


@pytest.mark.parametrize("user", BACKEND)
async def test_stream_create_cannot_change_stream(streams, user):
    admin = await connect_as(streams, "admin")
    connection = await connect_as(streams, user)
    try:
        config = (await admin.nc.jetstream().stream_info("FAULTS")).config
        same = await connection.nc.jetstream().add_stream(config)
        config.subjects = ["faults.>", "logs.>"]
        with pytest.raises(APIError) as changed:
            await connection.nc.jetstream().add_stream(config)

        assert same.config.name == "FAULTS"
        assert changed.value.err_code == 10058  # stream name already in use with a different configuration
        assert await connection.errors_after_flush() == []
    finally:
        await connection.close()
        await admin.close()


def _user(name: str) -> User:
    return User(
        id=7, username=name, email=f"{name}@example.com", password_hash="-", role="operator",
        status="enabled", token_version=3, must_change_password=False,
    )


async def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_token_state_flows_from_auth_to_gateway(nats_server):
    auth = await connect_as(nats_server, "auth")
    gateway = await connect_as(nats_server, "gateway")
    state = TokenState(gateway.nc.jetstream(), NAMES)
    try:
        store = await TokenStateStore.open(auth.nc.jetstream(), NAMES, access_token_seconds=900)
        await store.put_user(_user("alice"))
        await store.revoke_access_token("jti-1", datetime.now(UTC) + timedelta(minutes=15))
        await store.revoke_family(FAMILY_ID)
        await state.start()
        await asyncio.wait_for(state.ready.wait(), timeout=10)
        direct = await state.refresh_user("alice")
        longer = await TokenStateStore.open(auth.nc.jetstream(), NAMES, access_token_seconds=3600)
        revoked_status = await longer.revoked.status()
        await longer.sync([])
        await _wait_for(lambda: "alice" not in state.users)

        assert direct.token_version == 3
        assert state.is_revoked("jti-1")
        assert state.is_family_revoked(str(FAMILY_ID))
        assert revoked_status.ttl >= 3600
        assert await auth.errors_after_flush() == []
        assert await gateway.errors_after_flush() == []
    finally:
        await state.stop()
        await auth.close()
        await gateway.close()


async def test_gateway_cannot_write_token_buckets(nats_server):
    auth = await connect_as(nats_server, "auth")
    gateway = await connect_as(nats_server, "gateway")
    try:
        await TokenStateStore.open(auth.nc.jetstream(), NAMES, access_token_seconds=900)
        users = await gateway.nc.jetstream(timeout=0.5).key_value("hfd_users")
        with pytest.raises(NatsTimeoutError):
            await users.put("mallory", b'{"id": 1, "role": "admin", "active": true, "ver": 1}')

        assert await gateway.errors_after_flush(expected=1) == [publish_violation("$KV.hfd_users.mallory")]
    finally:
        await auth.close()
        await gateway.close()


@pytest.mark.parametrize(("user", "subject"), DENIED_PUBLISH)
async def test_publish_denied(nats_server, user, subject):
    connection = await connect_as(nats_server, user)
    try:
        await connection.nc.publish(subject, b"{}")

        assert await connection.errors_after_flush(expected=1) == [publish_violation(subject)]
    finally:
        await connection.close()


@pytest.mark.parametrize(("user", "subject", "queue"), DENIED_SUBSCRIBE)
async def test_subscribe_denied(nats_server, user, subject, queue):
    connection = await connect_as(nats_server, user)
    try:
        await connection.nc.subscribe(subject, queue=queue)

        assert await connection.errors_after_flush(expected=1) == [subscribe_violation(subject, queue)]
    finally:
        await connection.close()


@pytest.mark.parametrize("credentials", ["", "gateway:wrong@"])
async def test_connection_without_valid_password_rejected(nats_server, credentials):
    with pytest.raises(nats.errors.Error) as rejected:
        await nats.connect(
            f"nats://{credentials}127.0.0.1:{nats_server.port}", allow_reconnect=False, connect_timeout=2
        )

    assert "authorization" in str(rejected.value).lower()


def test_server_config_valid_with_passwords(nats_server):
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(SERVER_CONF)],
        env={"PATH": os.environ.get("PATH", "/usr/bin"), **nats_server.environment()},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr


def test_server_config_rejects_missing_password(nats_server):
    environment = nats_server.environment()
    del environment["AI_NATS_PASSWORD"]
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(SERVER_CONF)],
        env={"PATH": os.environ.get("PATH", "/usr/bin"), **environment},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode != 0
    assert "AI_NATS_PASSWORD" in result.stderr


def test_accounts_conf_passwords_from_environment():
    lines = [line.strip() for line in ACCOUNTS_CONF.read_text().splitlines()]
    passwords = [line for line in lines if line.startswith("password:")]

    assert len(passwords) == 7
    assert all(line.split(":", 1)[1].strip().startswith("$") for line in passwords)


# A call with the service and the operation as string literals, as in
# client.call_ok("inventory", "clusters.list", ...). Calls through a constant or a helper that
# adds the service name are not found, so RPC_CALLS lists those by hand.
LITERAL_CALL = re.compile(r"\b_?call(?:_ok)?\(\s*\"(auth|inventory|collector|faults|ai)\",\s*\"([a-z_.]+)\"")


def test_rpc_calls_in_code_are_listed():
    found = set()
    for caller in BACKEND:
        for path in (REPO_ROOT / "services" / caller).rglob("*.py"):
            for service, operation in LITERAL_CALL.findall(path.read_text()):
                found.add((caller, service, operation))

    assert len(found) >= 10, f"the pattern found only {sorted(found)}; update LITERAL_CALL"
    assert found <= set(RPC_CALLS), f"grant these in deploy/nats/accounts.conf and list them: {found - set(RPC_CALLS)}"
