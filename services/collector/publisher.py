"""Publishing to JetStream: log batches to ``LOGS``, samples and node status to ``METRICS``.

Log batches are serialised once and retried byte for byte with the same ``Nats-Msg-Id``
until JetStream acknowledges them, so a retry that reached the stream before is dropped as
a duplicate. Many batches are in flight at once (asynchronous acknowledgements).
"""

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import orjson
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from libs.common import metrics
from libs.common.events import MetricSample, NodeStatusEvent
from libs.common.names import Names, subject_token
from libs.common.timeutil import utcnow
from services.collector.assembler import Record
from services.collector.config import CollectorSettings
from services.collector.node_target import NodeTarget
from services.collector.telemetry import PUBLISH_ERRORS, PUBLISH_LATENCY, RECORDS_PUBLISHED

logger = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


@dataclass(frozen=True)
class PreparedBatch:
    """A ``LogBatch`` ready to publish: subject, message id and payload bytes."""

    subject: str
    msg_id: str
    payload: bytes
    records: int
    log_type: str
    end: int


class StopPublishing(Exception):
    """Publishing was abandoned because the service is stopping."""


def batch_msg_id(node_uuid: str, path: str, inode: int, first_offset: int, generation: int = 0) -> str:
    """Return ``<node>:<file>:<inode>:<first offset>``, with ``#<generation>`` after a rotation."""
    msg_id = f"{node_uuid}:{path}:{inode}:{first_offset}"
    return f"{msg_id}#{generation}" if generation else msg_id


def encode_log_batch(target: NodeTarget, *, path: str, inode: int, log_type: str, records: list[Record]) -> bytes:
    """Return the JSON of a ``LogBatch`` (schema version 1) without building pydantic models.

    Building ``LogEntry`` models took about 5 microseconds a record in an in-process measurement,
    about a fifth of the collector's CPU time per record. orjson writes the same bytes as
    ``json.dumps(ensure_ascii=False)`` with compact separators and formats timestamps as
    ``datetime.isoformat`` does; it saved another 2.7 microseconds a record when measured the
    same way. The test ``test_encoded_batch_matches_model`` checks that ``LogBatch`` validates
    this JSON.
    """
    batch = {
        "schema_version": 1,
        "cluster": target.cluster_uuid,
        "node": target.name,
        "log_type": log_type,
        "file": path,
        "inode": inode,
        "entries": [
            {
                "offset": record.offset,
                "length": record.length,
                "text": record.text,
                "timestamp": record.timestamp,
                "level": record.level,
                "logger": record.logger,
            }
            for record in records
        ],
        "collected_at": utcnow().isoformat(),
    }
    return orjson.dumps(batch)


class Publisher:
    """Publishes collector events and retries log batches until they are acknowledged."""

    def __init__(self, js: JetStreamContext, names: Names, settings: CollectorSettings) -> None:
        self.js = js
        self.names = names
        self.settings = settings

    def prepare(
        self, target: NodeTarget, *, path: str, inode: int, generation: int, log_type: str, records: list[Record]
    ) -> PreparedBatch:
        """Serialise a ``LogBatch`` of ``records`` once, so that every retry sends the same bytes."""
        tokens = (subject_token(target.cluster_uuid), subject_token(target.name), subject_token(log_type))
        return PreparedBatch(
            subject=self.names.logs(*tokens),
            msg_id=batch_msg_id(target.node_uuid, path, inode, records[0].offset, generation),
            payload=encode_log_batch(target, path=path, inode=inode, log_type=log_type, records=records),
            records=len(records),
            log_type=log_type,
            end=records[-1].end,
        )

    async def publish_batches(self, batches: list[PreparedBatch], stopping: asyncio.Event) -> None:
        """Publish every batch and wait for each acknowledgement, retrying failures with backoff.

        Raises ``StopPublishing`` when ``stopping`` is set before all are acknowledged.
        """
        remaining = batches
        delay = 0.5
        while remaining:
            failed = await self._publish_round(remaining)
            if not failed:
                return
            PUBLISH_ERRORS.labels("LOGS").inc(len(failed))
            logger.warning(
                "log publish failed batches=%d first_msg_id=%s retry_in=%.1fs", len(failed), failed[0].msg_id, delay
            )
            remaining = failed
            try:
                await asyncio.wait_for(stopping.wait(), timeout=delay * random.uniform(0.8, 1.2))  # noqa: S311
                raise StopPublishing()
            except TimeoutError:
                pass
            delay = min(self.settings.publish_retry_max, delay * 2)

    async def _publish_round(self, batches: list[PreparedBatch]) -> list[PreparedBatch]:
        started = time.perf_counter()
        pending: list[tuple[PreparedBatch, asyncio.Future | None]] = []
        for batch in batches:
            try:
                future = await self.js.publish_async(
                    batch.subject,
                    batch.payload,
                    wait_stall=self.settings.ack_timeout,
                    headers={MSG_ID_HEADER: batch.msg_id},
                )
            except (NatsError, OSError, TimeoutError) as error:
                logger.debug("log publish not sent msg_id=%s error=%s", batch.msg_id, error)
                future = None
            pending.append((batch, future))

        outcomes = await asyncio.gather(
            *(self._wait_ack(future) for _, future in pending),
            return_exceptions=True,
        )
        failed = []
        for (batch, _), outcome in zip(pending, outcomes, strict=True):
            if outcome is True:
                RECORDS_PUBLISHED.labels(batch.log_type).inc(batch.records)
            else:
                failed.append(batch)
        acknowledged = len(batches) - len(failed)
        if acknowledged:
            metrics.EVENTS_PUBLISHED.labels("LOGS").inc(acknowledged)
        PUBLISH_LATENCY.observe(time.perf_counter() - started)
        return failed

    async def _wait_ack(self, future: asyncio.Future | None) -> bool:
        if future is None:
            return False
        try:
            await asyncio.wait_for(future, timeout=self.settings.ack_timeout)
        except (NatsError, TimeoutError) as error:
            logger.debug("log publish not acknowledged error=%s", error)
            return False
        return True

    async def publish_sample(self, target: NodeTarget, sample: MetricSample) -> None:
        """Publish one metric sample; raises on failure (the next sample follows anyway)."""
        subject = self.names.metrics(subject_token(target.cluster_uuid), subject_token(target.name))
        msg_id = f"{target.node_uuid}:{sample.sampled_at.isoformat()}"
        await self.js.publish(
            subject,
            sample.model_dump_json().encode(),
            timeout=self.settings.ack_timeout,
            headers={MSG_ID_HEADER: msg_id},
        )
        metrics.EVENTS_PUBLISHED.labels("METRICS").inc()

    async def publish_status(self, target: NodeTarget, reachable: bool, error: str | None, attempts: int = 5) -> None:
        """Publish a ``NodeStatusEvent``, retrying a few times; a final failure is logged."""
        event = NodeStatusEvent(cluster=target.cluster_uuid, node=target.name, reachable=reachable, error=error)
        subject = self.names.metrics(subject_token(target.cluster_uuid), subject_token(target.name)) + ".status"
        msg_id = f"{target.node_uuid}:status:{event.observed_at.isoformat()}"
        payload = event.model_dump_json().encode()

        for attempt in range(1, attempts + 1):
            try:
                await self.js.publish(
                    subject, payload, timeout=self.settings.ack_timeout, headers={MSG_ID_HEADER: msg_id}
                )
                metrics.EVENTS_PUBLISHED.labels("METRICS").inc()
                logger.info("node status published node=%s reachable=%s", target.name, reachable)
                return
            except (NatsError, OSError, TimeoutError) as publish_error:
                PUBLISH_ERRORS.labels("METRICS").inc()
                logger.warning(
                    "node status publish failed node=%s attempt=%d error=%s", target.name, attempt, publish_error
                )
                await asyncio.sleep(min(10.0, 0.5 * 2**attempt))
        logger.error("node status event lost node=%s reachable=%s", target.name, reachable)
