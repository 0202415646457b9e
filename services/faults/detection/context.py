"""Bounded per-source and per-node memory for reasoning across records.

A source is one log stream (cluster, node, file or stream id). The engine keeps for each:
the time of its last record (continuation records without a header borrow it), recent
occurrences of patterns that count only when repeated, and when it last produced a
specific fault or an unclassified error. For each node it keeps when a disk last ran out of
space. Both maps are LRU-bounded, so memory stays flat however many sources stream in.

:meth:`ContextTracker.to_json` and :meth:`ContextTracker.load_state` save and restore both
maps, in LRU order, as JSON (times encoded by ``timecodec``).
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.faults.detection.timecodec import decode_time, encode_time

# The id and min_count of the repeated pattern with a saved key, or None when the catalog has no such pattern.
PatternLookup = Callable[[str], tuple[int, int] | None]


@dataclass(slots=True)
class SourceState:
    """State the engine keeps for one log source."""

    last_at: datetime | None = None
    repeats: dict[int, deque[datetime]] = field(default_factory=dict)
    last_specific_at: datetime | None = None
    last_unknown_at: datetime | None = None
    # Occurrences counted by repeated(), so that a saved row can tell when the repeats changed.
    repeat_count: int = 0
    # The last text of to_json() with the values it was built from.
    cached_json: tuple[tuple, str] | None = field(default=None, repr=False, compare=False)

    def clock(self, timestamp: datetime | None) -> datetime:
        """Return the record time: its own, else the last one seen on this source, else now.

        The wall-clock fallback becomes ``last_at`` and is saved with the windows like a record
        time, so a restored source gives its next records without a timestamp the same time.
        """
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
        self.repeat_count += 1
        return len(times) >= min_count and at - times[0] <= window

    def recent(self, moment: datetime | None, at: datetime, window: timedelta) -> bool:
        """Return True when ``moment`` lies within ``window`` before ``at``."""
        return moment is not None and timedelta(0) <= at - moment <= window

    def to_json(self, key: tuple[str, str, str], pattern_key: Callable[[int], str]) -> str:
        """Return this state as a JSON array, the same text as last time while no field changed.

        A batch usually touches one source of a node, so the node's other sources skip encoding.
        The times are compared by identity: assigning any other datetime object encodes again.
        """
        cached = self.cached_json
        if cached is not None:
            marks = cached[0]
            if marks[0] is self.last_at and marks[1] is self.last_specific_at \
                    and marks[2] is self.last_unknown_at and marks[3] == self.repeat_count:
                return cached[1]
        repeats = {pattern_key(pattern_id): [encode_time(moment) for moment in times]
                   for pattern_id, times in self.repeats.items()}
        row = [*key, encode_time(self.last_at), encode_time(self.last_specific_at), encode_time(self.last_unknown_at),
               repeats]
        text = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
        self.cached_json = ((self.last_at, self.last_specific_at, self.last_unknown_at, self.repeat_count), text)
        return text


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

    def to_json(self, pattern_key: Callable[[int], str]) -> str:
        """Return both maps, least recently used first, as a JSON object for :meth:`load_state`.

        ``pattern_key`` names a pattern id in a way that survives catalog changes.
        """
        sources = ",".join(state.to_json(key, pattern_key) for key, state in self._sources.items())
        nodes = [[cluster, node, encode_time(state.last_disk_full_at)]
                 for (cluster, node), state in self._nodes.items()]
        return f'{{"sources":[{sources}],"nodes":{json.dumps(nodes, ensure_ascii=False, separators=(",", ":"))}}}'

    def load_state(self, state: dict[str, list], pattern: PatternLookup) -> None:
        """Replace both maps with ``state``, the parsed JSON of :meth:`to_json`.

        Repetitions of patterns that the catalog no longer has, or no longer repeats, are dropped.
        Malformed data raises ValueError, KeyError or TypeError and leaves the maps as they were.
        """
        sources: OrderedDict[tuple[str, str, str], SourceState] = OrderedDict()
        for cluster, node, name, last_at, last_specific_at, last_unknown_at, repeats in state["sources"]:
            source = SourceState(decode_time(last_at), {}, decode_time(last_specific_at), decode_time(last_unknown_at))
            for key, times in repeats.items():
                found = pattern(key)
                if found is not None:
                    pattern_id, min_count = found
                    source.repeats[pattern_id] = deque(map(_moment, times), maxlen=min_count)
            sources[(_text(cluster), _text(node), _text(name))] = source
        nodes: OrderedDict[tuple[str, str], NodeState] = OrderedDict()
        for cluster, node, last_disk_full_at in state["nodes"]:
            nodes[(_text(cluster), _text(node))] = NodeState(decode_time(last_disk_full_at))

        _trim(sources, self.max_sources)
        _trim(nodes, self.max_nodes)
        self._sources, self._nodes = sources, nodes


def _moment(value: object) -> datetime:
    moment = decode_time(value)  # type: ignore[arg-type]
    if moment is None:
        raise ValueError("a repetition time in the window state is null")
    return moment


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string in the window state, got {value!r}")
    return value


def _trim(states: OrderedDict, limit: int) -> None:
    """Drop the least recently used entries beyond ``limit`` (the limit may be lower than when saved)."""
    while len(states) > limit:
        states.popitem(last=False)


def _lru_get(states: OrderedDict, key: tuple, factory: type, limit: int):  # type: ignore[no-untyped-def]
    state = states.get(key)
    if state is None:
        state = states[key] = factory()
        if len(states) > limit:
            states.popitem(last=False)
    elif len(states) > 1:
        states.move_to_end(key)
    return state
