"""Bounded per-source and per-node memory for reasoning across records.

A source is one log stream (cluster, node, file or stream id). The engine keeps for each:
the time of its last record (continuation records without a header borrow it), recent
occurrences of patterns that count only when repeated, and when it last produced a
specific fault or an unclassified error. For each node it keeps when a disk last ran out of
space. Both maps are LRU-bounded, so memory stays flat however many sources stream in.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(slots=True)
class SourceState:
    """State the engine keeps for one log source."""

    last_at: datetime | None = None
    repeats: dict[int, deque[datetime]] = field(default_factory=dict)
    last_specific_at: datetime | None = None
    last_unknown_at: datetime | None = None

    def clock(self, timestamp: datetime | None) -> datetime:
        """Return the record time: its own, else the last one seen on this source, else now."""
        if timestamp is not None:
            self.last_at = timestamp
            return timestamp
        if self.last_at is None:
            self.last_at = datetime.now(UTC)
        return self.last_at

    def repeated(self, pattern_id: int, min_count: int, window: timedelta, at: datetime) -> bool:
        """Count one occurrence of a pattern; return True when ``min_count`` fall within ``window``."""
        times = self.repeats.get(pattern_id)
        if times is None:
            times = self.repeats[pattern_id] = deque(maxlen=min_count)
        times.append(at)
        return len(times) >= min_count and at - times[0] <= window

    def recent(self, moment: datetime | None, at: datetime, window: timedelta) -> bool:
        """Return True when ``moment`` lies within ``window`` before ``at``."""
        return moment is not None and timedelta(0) <= at - moment <= window


@dataclass(slots=True)
class NodeState:
    """State the engine keeps for one node, across its sources."""

    last_disk_full_at: datetime | None = None


class ContextTracker:
    """LRU-bounded maps of source and node states."""

    def __init__(self, *, max_sources: int = 4096, max_nodes: int = 4096) -> None:
        self.max_sources = max_sources
        self.max_nodes = max_nodes
        self._sources: OrderedDict[tuple[str, str, str], SourceState] = OrderedDict()
        self._nodes: OrderedDict[tuple[str, str], NodeState] = OrderedDict()

    def source(self, key: tuple[str, str, str]) -> SourceState:
        """Return the state of ``key`` (cluster, node, source), creating it when new."""
        return _lru_get(self._sources, key, SourceState, self.max_sources)

    def node(self, key: tuple[str, str]) -> NodeState:
        """Return the state of ``key`` (cluster, node), creating it when new."""
        return _lru_get(self._nodes, key, NodeState, self.max_nodes)

    def __len__(self) -> int:
        return len(self._sources)


def _lru_get(states: OrderedDict, key: tuple, factory: type, limit: int):  # type: ignore[no-untyped-def]
    state = states.get(key)
    if state is None:
        state = states[key] = factory()
        if len(states) > limit:
            states.popitem(last=False)
    elif len(states) > 1:
        states.move_to_end(key)
    return state
