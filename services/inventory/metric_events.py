"""Decoding of METRICS messages into sample and reachability events.

``metrics.<cluster>.<node>`` carries ``MetricSample`` and ``metrics.<cluster>.<node>.status``
carries ``NodeStatusEvent``. A message that is not JSON, has an unknown ``schema_version``,
fails validation or is stamped too far in the future is skipped and counted by reason.
"""

import json
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from nats.aio.msg import Msg
from pydantic import ValidationError

from libs.common.events import MetricSample, NodeStatusEvent

logger = logging.getLogger(__name__)

SUPPORTED_VERSION = 1
WARNING_INTERVAL_SECONDS = 300.0

MetricEvent = MetricSample | NodeStatusEvent


@dataclass
class DecodedBatch:
    """A batch's events by kind; ``skipped`` counts messages dropped, by reason."""

    samples: list[MetricSample] = field(default_factory=list)
    statuses: list[NodeStatusEvent] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def add(self, event: MetricEvent) -> None:
        if isinstance(event, NodeStatusEvent):
            self.statuses.append(event)
        else:
            self.samples.append(event)

    def events(self) -> list[MetricEvent]:
        return [*self.samples, *self.statuses]


class WarningLimiter:
    """Rate limit of one warning per key per interval, so a node that keeps sending bad data is logged rarely."""

    def __init__(self, interval: float = WARNING_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._last: dict[object, float] = {}

    def allow(self, key: object) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -math.inf) < self.interval:
            return False
        self._last[key] = now
        return True


def decode(messages: list[Msg], *, now: datetime, max_future: timedelta, warnings: WarningLimiter) -> DecodedBatch:
    """Parse each message as a sample or a reachability report; skip and count what cannot be used."""
    batch = DecodedBatch()
    for message in messages:
        event = _decode_one(message, batch, warnings)
        if event is None:
            continue
        if event_time(event) > now + max_future:
            batch.skip("future")
            continue
        batch.add(event)
    return batch


def _decode_one(message: Msg, batch: DecodedBatch, warnings: WarningLimiter) -> MetricEvent | None:
    try:
        data = json.loads(message.data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        batch.skip("invalid")
        return None

    if not isinstance(data, dict) or data.get("schema_version") != SUPPORTED_VERSION:
        if warnings.allow(("version", message.subject)):
            logger.warning("metrics event skipped: unsupported schema_version subject=%s", message.subject)
        batch.skip("version")
        return None

    model = NodeStatusEvent if message.subject.endswith(".status") else MetricSample
    try:
        event = model.model_validate(data)
    except ValidationError as error:
        if warnings.allow(("invalid", message.subject)):
            logger.warning(
                "metrics event skipped: validation failed subject=%s errors=%d", message.subject, error.error_count()
            )
        batch.skip("invalid")
        return None

    if isinstance(event, NodeStatusEvent):
        return event.model_copy(update={"observed_at": _aware(event.observed_at)})
    return event.model_copy(update={"sampled_at": _aware(event.sampled_at)})


def event_time(event: MetricEvent) -> datetime:
    return event.observed_at if isinstance(event, NodeStatusEvent) else event.sampled_at


def _aware(moment: datetime) -> datetime:
    """Treat a time without an offset as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def percent(value: float | None) -> float | None:
    """Clamp a usage to 0-100; a missing, negative or non-finite value is unknown."""
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return min(value, 100.0)
