"""The auth service replies on the NATS Services API and on its own health endpoint."""

import asyncio
import json

import nats

from libs.common.names import Names
from libs.common.rpc import RpcReply, RpcRequest


def nats_request(infra, subject: str, payload: bytes = b"") -> bytes:
    async def send() -> bytes:
        nc = await nats.connect(infra.nats_url)
        try:
            return (await nc.request(subject, payload, timeout=3)).data
        finally:
            await nc.close()

    return asyncio.run(send())


def test_srv_ping_answers(stack, infra):
    name = Names(infra.prefix).service("auth")

    reply = json.loads(nats_request(infra, f"$SRV.PING.{name}"))

    assert reply["name"] == name
    assert reply["type"] == "io.nats.micro.v1.ping_response"


def test_srv_info_lists_endpoints(stack, infra):
    names = Names(infra.prefix)

    reply = json.loads(nats_request(infra, f"$SRV.INFO.{names.service('auth')}"))
    subjects = {endpoint["subject"] for endpoint in reply["endpoints"]}

    assert names.rpc("auth", "login") in subjects
    assert names.rpc("auth", "users.delete") in subjects
    assert names.rpc("auth", "audit.list") in subjects
    assert len(subjects) == 14


def test_srv_stats_counts_requests(stack, infra):
    names = Names(infra.prefix)
    nats_request(infra, names.rpc("auth", "health"), RpcRequest().model_dump_json().encode())

    reply = json.loads(nats_request(infra, f"$SRV.STATS.{names.service('auth')}"))
    health = next(item for item in reply["endpoints"] if item["subject"] == names.rpc("auth", "health"))

    assert health["num_requests"] >= 1


def test_health_endpoint_reports_database(stack, infra):
    data = nats_request(infra, Names(infra.prefix).rpc("auth", "health"), RpcRequest().model_dump_json().encode())
    reply = RpcReply.model_validate_json(data)

    assert reply.status == 200
    assert reply.body == {"status": "ok", "database": "connected"}


def test_admin_endpoint_rejects_envelope_without_principal(stack, infra):
    data = nats_request(infra, Names(infra.prefix).rpc("auth", "users.list"), RpcRequest().model_dump_json().encode())
    reply = RpcReply.model_validate_json(data)

    assert reply.status == 401
    assert reply.body == {"detail": "not_authenticated"}


def test_admin_endpoint_rechecks_role_from_database(api, stack, infra):
    observer = api.create_account("observer")
    forged = RpcRequest(principal={"user_id": observer.user_id, "username": observer.username, "role": "admin"})

    data = nats_request(infra, Names(infra.prefix).rpc("auth", "users.list"), forged.model_dump_json().encode())
    reply = RpcReply.model_validate_json(data)

    assert reply.status == 403
    assert reply.body == {"detail": "not_admin"}


def test_malformed_envelope_is_bad_request(stack, infra):
    data = nats_request(infra, Names(infra.prefix).rpc("auth", "login"), b"{not json")
    reply = RpcReply.model_validate_json(data)

    assert reply.status == 400
