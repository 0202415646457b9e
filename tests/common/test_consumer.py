"""The shared durable consumer loop against the session's NATS server."""

import asyncio

import nats
import pytest
from nats.js.api import StreamConfig

from libs.common.consumer import run_consumer

ACK_WAIT_SECONDS = 1.0


@pytest.fixture
async def stream(infra):
    """A stream of this test's own, deleted afterwards."""
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    name = f"{infra.prefix}_CONSUMER_TEST"
    subject = f"{infra.prefix}.consumertest.>"
    await js.add_stream(StreamConfig(name=name, subjects=[subject], max_bytes=1024 * 1024))
    yield js, name, subject
    await js.delete_stream(name)
    await nc.close()


async def _consume_for(js, name: str, subject: str, handler, seconds: float, replicas: int = 1) -> None:
    """Run ``replicas`` consumer loops on one durable for ``seconds``, as replicas of a service do."""
    stopping = asyncio.Event()
    tasks = [
        asyncio.create_task(run_consumer(
            js, stream=name, durable="slow", filter_subject=subject, handler=handler,
            stopping=stopping, batch=10, ack_wait=ACK_WAIT_SECONDS,
        ))
        for _ in range(replicas)
    ]
    await asyncio.sleep(seconds)
    stopping.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def test_consumer_slow_batch_not_redelivered(stream):
    js, name, subject = stream
    await js.publish(subject.replace(">", "one"), b"event")
    deliveries: list[bytes] = []

    async def slow_handler(messages) -> None:
        deliveries.extend(message.data for message in messages)
        await asyncio.sleep(ACK_WAIT_SECONDS * 3.5)

    # The second loop keeps a fetch open, so a redelivery after the ack wait would reach it.
    await _consume_for(js, name, subject, slow_handler, seconds=ACK_WAIT_SECONDS * 6, replicas=2)
    info = await js.consumer_info(name, "slow")

    assert deliveries == [b"event"]
    assert info.num_ack_pending == 0
    assert info.num_pending == 0


async def test_consumer_failed_batch_delivered_again(stream):
    js, name, subject = stream
    await js.publish(subject.replace(">", "two"), b"event")
    deliveries: list[bytes] = []

    async def failing_once(messages) -> None:
        deliveries.extend(message.data for message in messages)
        if len(deliveries) == 1:
            raise RuntimeError("first attempt fails")

    await _consume_for(js, name, subject, failing_once, seconds=4.0)
    info = await js.consumer_info(name, "slow")

    assert deliveries == [b"event", b"event"]
    assert info.num_ack_pending == 0


async def test_consumer_failed_batch_not_overtaken(stream):
    js, name, subject = stream
    await js.publish(subject.replace(">", "first"), b"first")
    handled: list[bytes] = []
    attempts = 0

    async def failing_first(messages) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            # A message stored while the first batch fails must still be handled after it.
            await js.publish(subject.replace(">", "second"), b"second")
            raise RuntimeError("first attempt fails")
        handled.extend(message.data for message in messages)

    await _consume_for(js, name, subject, failing_first, seconds=4.0)

    assert handled == [b"first", b"second"]


async def test_consumer_waits_for_missing_stream(infra):
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    name = f"{infra.prefix}_LATE_STREAM"
    subject = f"{infra.prefix}.latestream.>"
    received: list[bytes] = []
    handled = asyncio.Event()

    async def handler(messages) -> None:
        received.extend(message.data for message in messages)
        handled.set()

    stopping = asyncio.Event()
    consumer = asyncio.create_task(run_consumer(
        js, stream=name, durable="late", filter_subject=subject, handler=handler, stopping=stopping, batch=10,
    ))
    try:
        # Binding fails while the stream is missing; the loop must retry instead of ending.
        await asyncio.sleep(1.5)
        assert not consumer.done()

        await js.add_stream(StreamConfig(name=name, subjects=[subject], max_bytes=1024 * 1024))
        await js.publish(subject.replace(">", "one"), b"event")
        await asyncio.wait_for(handled.wait(), 20)
    finally:
        stopping.set()
        await asyncio.wait_for(consumer, 15)
        try:
            await js.delete_stream(name)
        finally:
            await nc.close()

    assert received == [b"event"]
