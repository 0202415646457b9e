"""Resource pressure from metric samples: CPU, memory or disk usage over a threshold for a window.

A resource of a node is under pressure when every sample for at least ``window`` stays at
or above its threshold. It is reported once, and again only after a sample falls below
the threshold minus ``hysteresis`` percentage points, so a value hovering at the threshold
does not flap. :meth:`ThresholdMonitor.to_state` and :meth:`ThresholdMonitor.load_state`
save and restore these windows as JSON values.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.faults.detection.timecodec import decode_time, encode_time

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

    def to_state(self) -> list[list]:
        """Return the windows, least recently used first, as [cluster, node, resource, over_since, reported] lists."""
        return [[cluster, node, resource, encode_time(state.over_since), state.reported]
                for (cluster, node, resource), state in self._states.items()]

    def load_state(self, state: list[list]) -> None:
        """Replace the windows with ``state`` from :meth:`to_state`.

        Malformed data raises ValueError or TypeError and leaves the windows as they were.
        """
        states: OrderedDict[tuple[str, str, str], _State] = OrderedDict()
        for cluster, node, resource, over_since, reported in state:
            if resource not in RESOURCES:
                raise ValueError(f"unknown resource {resource!r} in the window state")
            if not isinstance(cluster, str) or not isinstance(node, str) or not isinstance(reported, bool):
                raise TypeError(f"invalid threshold window in the window state: {[cluster, node, reported]!r}")
            since = decode_time(over_since)
            if since is not None and since.tzinfo is None:
                raise ValueError("a threshold window in the window state starts at a naive time")
            states[(cluster, node, resource)] = _State(since, reported)
        while len(states) > self.max_keys:
            states.popitem(last=False)
        self._states = states

    def clear(self) -> None:
        """Forget every window."""
        self._states.clear()
