"""Bursts of WARN, ERROR and FATAL records on a node, against that node's own baseline rate.

Records are counted in fixed buckets (one minute by default). The baseline is an
exponentially weighted mean of past bucket counts, with empty buckets counted as zero, so
a node that always logs many warnings needs a larger jump than a quiet one. A bucket is a
burst when its count reaches both ``min_count`` and ``factor`` times the baseline; each
bucket reports at most once. :meth:`BurstDetector.to_state` and
:meth:`BurstDetector.load_state` save and restore the rates as JSON values.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Burst:
    """A bucket whose count of warnings and errors is far above the baseline."""

    key: tuple[str, str]
    bucket_start: datetime
    count: int
    baseline: float


@dataclass(slots=True)
class _Rate:
    bucket: int
    count: int = 0
    baseline: float = 0.0
    reported: bool = False


class BurstDetector:
    """Counts warnings and errors per key (cluster, node) and reports bursts."""

    def __init__(
        self,
        *,
        bucket_seconds: int = 60,
        min_count: int = 30,
        factor: float = 5.0,
        smoothing: float = 0.1,
        max_keys: int = 10_000,
    ) -> None:
        if bucket_seconds <= 0 or min_count <= 0 or factor <= 1.0 or not 0.0 < smoothing <= 1.0:
            raise ValueError("bucket_seconds and min_count must be positive, factor above 1, smoothing in (0, 1]")
        self.bucket_seconds = bucket_seconds
        self.min_count = min_count
        self.factor = factor
        self.smoothing = smoothing
        self.max_keys = max_keys
        self._rates: OrderedDict[tuple[str, str], _Rate] = OrderedDict()

    def observe(self, key: tuple[str, str], at: datetime) -> Burst | None:
        """Count one WARN/ERROR/FATAL record of ``key`` at ``at``; return a Burst when this one makes it."""
        bucket = int(at.timestamp()) // self.bucket_seconds
        rate = self._rates.get(key)
        if rate is None:
            rate = self._rates[key] = _Rate(bucket)
            if len(self._rates) > self.max_keys:
                self._rates.popitem(last=False)
        else:
            self._rates.move_to_end(key)

        if bucket > rate.bucket:
            self._close_buckets(rate, bucket)
        elif bucket < rate.bucket:
            # NOTE: records older than the current bucket (clock skew, late files) are not counted.
            return None

        rate.count += 1
        threshold = max(self.min_count, self.factor * rate.baseline)
        if rate.reported or rate.count < threshold:
            return None

        rate.reported = True
        start = datetime.fromtimestamp(bucket * self.bucket_seconds, tz=at.tzinfo)
        return Burst(key, start, rate.count, rate.baseline)

    def to_state(self) -> list[list]:
        """Return the rates as JSON values, least recently used first.

        Each rate is [cluster, node, bucket start in epoch seconds, count, baseline, reported].
        """
        return [[cluster, node, rate.bucket * self.bucket_seconds, rate.count, rate.baseline, rate.reported]
                for (cluster, node), rate in self._rates.items()]

    def load_state(self, state: list[list]) -> None:
        """Replace the rates with ``state`` from :meth:`to_state`.

        Malformed data raises ValueError or TypeError and leaves the rates as they were.
        """
        rates: OrderedDict[tuple[str, str], _Rate] = OrderedDict()
        for cluster, node, bucket_start, count, baseline, reported in state:
            if not isinstance(cluster, str) or not isinstance(node, str) or not isinstance(reported, bool):
                raise TypeError(f"invalid burst rate in the window state: {[cluster, node, reported]!r}")
            rates[(cluster, node)] = _Rate(int(bucket_start) // self.bucket_seconds, int(count), float(baseline),
                                           reported)
        while len(rates) > self.max_keys:
            rates.popitem(last=False)
        self._rates = rates

    def clear(self) -> None:
        """Forget every rate."""
        self._rates.clear()

    def _close_buckets(self, rate: _Rate, bucket: int) -> None:
        keep = 1.0 - self.smoothing
        rate.baseline = keep * rate.baseline + self.smoothing * rate.count
        empty = min(bucket - rate.bucket - 1, 10_000)
        rate.baseline *= keep**empty
        rate.bucket, rate.count, rate.reported = bucket, 0, False
