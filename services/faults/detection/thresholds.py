"""Resource pressure from metric samples: CPU, memory or disk usage over a threshold for a window.

A resource of a node is under pressure when every sample for at least ``window`` stays at
or above its threshold. It is reported once, and again only after a sample falls below
the threshold minus ``hysteresis`` percentage points, so a value hovering at the threshold
does not flap.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

RESOURCES = ("cpu", "memory", "disk")


@dataclass(frozen=True, slots=True)
class Pressure:
    """A resource that stayed over its threshold for the whole window."""

    cluster: str
    node: str
    resource: str
    value_pct: float
    threshold_pct: float
    since: datetime
    at: datetime


@dataclass(slots=True)
class _State:
    over_since: datetime | None = None
    reported: bool = False


class ThresholdMonitor:
    """Tracks metric samples per (cluster, node, resource) and reports sustained pressure."""

    def __init__(
        self,
        *,
        cpu_pct: float = 90.0,
        mem_pct: float = 90.0,
        disk_pct: float = 90.0,
        window: timedelta = timedelta(minutes=5),
        hysteresis: float = 5.0,
        max_keys: int = 30_000,
    ) -> None:
        for name, value in (("cpu_pct", cpu_pct), ("mem_pct", mem_pct), ("disk_pct", disk_pct)):
            if not 0.0 < value <= 100.0:
                raise ValueError(f"{name} must be in (0, 100], got {value}")
        if window <= timedelta(0):
            raise ValueError(f"window must be positive, got {window}")
        self.thresholds = {"cpu": cpu_pct, "memory": mem_pct, "disk": disk_pct}
        self.window = window
        self.hysteresis = hysteresis
        self.max_keys = max_keys
        self._states: OrderedDict[tuple[str, str, str], _State] = OrderedDict()

    def feed_metric(
        self,
        cluster: str,
        node: str,
        cpu_pct: float | None,
        mem_pct: float | None,
        disk_pct: float | None,
        at: datetime,
    ) -> list[Pressure]:
        """Record one sample (None for a resource not measured); return the pressures it completes."""
        if at.tzinfo is None:
            raise ValueError("metric sample time must be timezone-aware")
        found: list[Pressure] = []
        for resource, value in zip(RESOURCES, (cpu_pct, mem_pct, disk_pct), strict=True):
            if value is None:
                continue
            pressure = self._update(cluster, node, resource, float(value), at)
            if pressure is not None:
                found.append(pressure)
        return found

    def _update(self, cluster: str, node: str, resource: str, value: float, at: datetime) -> Pressure | None:
        key = (cluster, node, resource)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State()
            if len(self._states) > self.max_keys:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(key)

        threshold = self.thresholds[resource]
        if value < threshold:
            state.over_since = None
            if value < threshold - self.hysteresis:
                state.reported = False
            return None

        if state.over_since is None:
            state.over_since = at
        if state.reported or at - state.over_since < self.window:
            return None

        state.reported = True
        return Pressure(cluster, node, resource, value, threshold, state.over_since, at)
