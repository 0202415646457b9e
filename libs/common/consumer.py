"""A durable JetStream pull consumer loop shared by the services.

The handler gets a batch of messages and returns when their effects are committed; only then
are they acknowledged, so a crash redelivers them. Handlers are idempotent (each event has an
id that the database keeps), so a redelivery changes nothing twice.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError

from libs.common import metrics

logger = logging.getLogger(__name__)

BatchHandler = Callable[[list[Msg]], Awaitable[None]]


async def run_consumer(
    js: JetStreamContext,
    *,
    stream: str,
    durable: str,
    filter_subject: str,
    handler: BatchHandler,
    stopping: asyncio.Event,
    batch: int = 200,
    ack_wait: float = 60.0,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
) -> None:
    """Fetch, handle and acknowledge batches from the durable consumer until ``stopping`` is set."""
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_ack_pending=max(batch * 4, 1000),
        deliver_policy=deliver_policy,
        filter_subject=filter_subject,
    )
    subscription = await js.pull_subscribe(filter_subject, durable=durable, stream=stream, config=config)
    logger.info("consumer started stream=%s durable=%s subject=%s", stream, durable, filter_subject)
    failures = 0

    while not stopping.is_set():
        try:
            messages = await subscription.fetch(batch, timeout=1.0)
        except (TimeoutError, FetchTimeoutError):
            continue
        except Exception as error:
            logger.warning("consumer fetch failed durable=%s error=%s", durable, error)
            await asyncio.sleep(1.0)
            continue

        try:
            await handler(messages)
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(30.0, 0.5 * 2**min(failures, 6))
            logger.exception("consumer batch failed durable=%s size=%d retry_in=%.1fs", durable, len(messages), delay)
            metrics.EVENTS_CONSUMED.labels(durable, "failed").inc(len(messages))
            for message in messages:
                await message.nak(delay=delay)
            continue

        failures = 0
        for message in messages:
            await message.ack()
        metrics.EVENTS_CONSUMED.labels(durable, "ok").inc(len(messages))
        await _report_lag(subscription, durable)

    logger.info("consumer stopped durable=%s", durable)


async def _report_lag(subscription, durable: str) -> None:
    try:
        info = await subscription.consumer_info()
    except Exception:  # lag is best-effort telemetry
        return
    metrics.CONSUMER_PENDING.labels(durable).set(info.num_pending or 0)
