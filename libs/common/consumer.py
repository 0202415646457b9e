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
    subscription = await _subscribe(js, stream, durable, filter_subject, config, stopping)
    if subscription is None:
        return
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
            await _with_progress(handler(messages), messages, ack_wait)
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(30.0, 0.5 * 2**min(failures, 6))
            logger.exception("consumer batch failed durable=%s size=%d retry_in=%.1fs", durable, len(messages), delay)
            metrics.EVENTS_CONSUMED.labels(durable, "failed").inc(len(messages))
            # The batch goes back at once and this loop waits before it fetches again, so the
            # batch is first in line then. A NAK with a delay would let later messages overtake
            # it, which changes what order-dependent handlers (the faults engines) detect.
            await _settle(messages, "nak", durable)
            await _wait(stopping, delay)
            continue

        failures = 0
        await _settle(messages, "ack", durable)
        metrics.EVENTS_CONSUMED.labels(durable, "ok").inc(len(messages))
        await _report_lag(subscription, durable)

    logger.info("consumer stopped durable=%s", durable)


async def _subscribe(
    js: JetStreamContext,
    stream: str,
    durable: str,
    filter_subject: str,
    config: ConsumerConfig,
    stopping: asyncio.Event,
) -> JetStreamContext.PullSubscription | None:
    """Bind to the durable consumer, creating it if needed; retry until it works or ``stopping`` is set.

    Binding fails while NATS is unreachable or the stream has no leader, for example just
    after a NATS server of a cluster died. The service then waits instead of losing its consumer.
    """
    attempt = 0
    while not stopping.is_set():
        try:
            return await js.pull_subscribe(filter_subject, durable=durable, stream=stream, config=config)
        except Exception as error:
            attempt += 1
            delay = min(10.0, 0.5 * 2**min(attempt, 5))
            logger.warning(
                "consumer subscribe failed stream=%s durable=%s attempt=%d retry_in=%.1fs error=%r",
                stream,
                durable,
                attempt,
                delay,
                error,
            )
            await _wait(stopping, delay)
    return None


async def _settle(messages: list[Msg], verb: str, durable: str) -> None:
    """Acknowledge (``ack``) or return (``nak``) ``messages``; a failure leaves them to JetStream's redelivery.

    An acknowledgement can fail while the connection is down. JetStream then delivers the
    message again after the ack wait, and the handlers are idempotent.
    """
    for message in messages:
        try:
            await getattr(message, verb)()
        except Exception as error:
            logger.warning("consumer %s failed durable=%s subject=%s error=%r", verb, durable, message.subject, error)
            return


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stopping`` is set."""
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def _with_progress(work: Awaitable[None], messages: list[Msg], ack_wait: float) -> None:
    """Await ``work`` while telling JetStream every third of ``ack_wait`` that ``messages`` are in progress.

    A batch may take longer than the ack wait (a model diagnosis, a lock held by another
    replica), yet a short ack wait redelivers the batch of a process that died soon.
    """
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _pending = await asyncio.wait({task}, timeout=ack_wait / 3)
            if done:
                task.result()  # raises the handler's exception
                return
            for message in messages:
                try:
                    await message.in_progress()
                except Exception as error:  # the batch goes on, and at worst JetStream delivers it again
                    logger.warning("in-progress ack failed subject=%s error=%s", message.subject, error)
                    break
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _report_lag(subscription, durable: str) -> None:
    try:
        info = await subscription.consumer_info()
    except Exception:  # lag is best-effort telemetry
        return
    metrics.CONSUMER_PENDING.labels(durable).set(info.num_pending or 0)
