"""The audit consumer stores each operation once, whatever the redeliveries."""

import asyncio
import uuid

import nats

from libs.common.events import AuditEvent
from libs.common.names import Names
from tests.gateway.helpers import wait_for


def publish(infra, subject: str, payloads: list[tuple[bytes, str]]) -> None:
    async def send() -> None:
        nc = await nats.connect(infra.nats_url)
        try:
            js = nc.jetstream()
            for payload, message_id in payloads:
                await js.publish(subject, payload, headers={"Nats-Msg-Id": message_id})
        finally:
            await nc.close()

    asyncio.run(send())


def find(api, operation_id: str) -> list[dict]:
    items = api.request("GET", "/sys-exec-logs", params={"size": 100}, headers=api.admin().headers).json()["items"]
    return [item for item in items if item["operation_id"] == operation_id]


def test_same_operation_stored_once(api, infra):
    event = AuditEvent(
        username="replayed", action="POST /api/v1/things", target="/api/v1/things", outcome="success", status_code=200
    )
    payload = event.model_dump_json().encode()
    subject = Names(infra.prefix).audit("inventory")

    # Different message ids get past JetStream's duplicate window, as a republish after it would.
    publish(infra, subject, [(payload, str(uuid.uuid4())), (payload, str(uuid.uuid4()))])
    marker = AuditEvent(username="marker", action="POST /x", target="/x", outcome="success", status_code=200)
    publish(infra, subject, [(marker.model_dump_json().encode(), str(marker.operation_id))])
    wait_for(lambda: find(api, str(marker.operation_id)))

    stored = find(api, str(event.operation_id))

    assert len(stored) == 1
    assert stored[0]["source"] == "inventory"
    assert stored[0]["description"] == "POST /api/v1/things -> 200 success"


def test_invalid_event_is_skipped(api, infra):
    subject = Names(infra.prefix).audit("inventory")
    after = AuditEvent(username="after", action="POST /y", target="/y", outcome="failure", status_code=500)

    publish(
        infra,
        subject,
        [
            (b"{not json", str(uuid.uuid4())),
            (b'{"schema_version": 9}', str(uuid.uuid4())),
            (after.model_dump_json().encode(), str(after.operation_id)),
        ],
    )

    assert wait_for(lambda: find(api, str(after.operation_id)))[0]["outcome"] == "failure"
