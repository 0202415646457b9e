"""The detection engine: log records and metric samples in, fault detections out.

Usage, the same for files read offline and for records streamed from many nodes::

    engine = DetectionEngine(load_catalog(), template_state=saved_bytes_or_none)
    for record in iter_records(lines, source="nn1:/var/log/hadoop/hadoop-hdfs-namenode.log"):
        for detection in engine.process(record, cluster="prod", node="nn1", log_type="namenode"):
            ...
    engine.process_metric(cluster="prod", node="dn3", cpu_pct=97.0, mem_pct=40.0, disk_pct=55.0, at=now)
    engine.report_unreachable(cluster="prod", node="dn4", reason="SSH connect timed out", at=now)
    saved_bytes = engine.template_state()
    saved_windows = engine.window_state()  # later: engine.restore_windows(saved_windows)

For each record the engine:

1. counts WARN, ERROR and FATAL records per node and reports ``error_burst`` against the
   node's baseline (``bursts.py``);
2. matches the catalog signatures (``matcher.py``); patterns that need repetition count
   only once they repeat within their window on the same source;
3. keeps the most specific kind (highest priority), plus the kinds it names in
   ``also_report``, then applies cross-record rules. A task failure that follows a disk-full
   error on the same node and mentions a spill, FSError or disk check becomes ``disk_full``.
   ``daemon_exited`` is dropped when the same source had a specific fault within the
   context window. A ``SHUTDOWN_MSG`` after an unclassified error, with no specific fault,
   becomes ``daemon_exited``;
4. mines the template of ERROR and FATAL records that match no kind and reports them as
   ``unknown_error``, unless the kind's exclude patterns mark them as routine.

State is bounded: sources and nodes are kept in LRU maps, templates up to a fixed count.
All of it can be saved and restored: ``template_state()`` returns the templates and
``window_state()`` the windows (the per-source context with its repetition counts, the
burst rates and the metric threshold windows). An engine restored from both detects on
further records as one that never stopped.
The engine is not thread-safe; give each worker its own.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.common.catalog import Catalog, FaultKind
from libs.common.logformat import LogRecord
from services.faults.detection.bursts import BurstDetector
from services.faults.detection.context import ContextTracker, SourceState
from services.faults.detection.matcher import Matcher, SignatureMatch
from services.faults.detection.templates import TemplateMiner
from services.faults.detection.thresholds import ThresholdMonitor

logger = logging.getLogger(__name__)

SHUTDOWN_LITERAL = "SHUTDOWN_MSG: Shutting down"
WARN_LEVELS = frozenset({"WARN", "ERROR", "FATAL"})
ERROR_LEVELS = frozenset({"ERROR", "FATAL"})
WINDOW_STATE_VERSION = 1
# Kinds that report only that something went wrong, not what, so they never count as a cause.
GENERIC_KINDS = frozenset({"daemon_exited", "unknown_error", "error_burst", "task_failure"})
_SPACE_RELATED = re.compile(r"Spill failed|FSError|DiskChecker|local directory|LocalDirAllocator")

EVIDENCE_MAX_LINES = 12
EVIDENCE_MAX_CHARS = 2000


@dataclass(slots=True)
class Detection:
    """One fault found in one record (or metric sample, where ``record`` is None)."""

    kind: str
    severity: str
    title_zh: str
    title_en: str
    record: LogRecord | None
    node: str
    cluster: str
    evidence_text: str
    template_id: int | None
    log_type: str
    at: datetime | None


def evidence_of(text: str) -> str:
    """Return the header line and the most telling lines of a record (exceptions, causes), bounded."""
    lines = text.split("\n")
    if len(lines) <= EVIDENCE_MAX_LINES:
        selected = lines
    else:
        informative = [line for line in lines[1:] if not line.lstrip().startswith(("at ", "..."))]
        selected = [lines[0], *informative[: EVIDENCE_MAX_LINES - 1]]
    evidence = "\n".join(selected)
    return evidence if len(evidence) <= EVIDENCE_MAX_CHARS else evidence[: EVIDENCE_MAX_CHARS - 1] + "…"


class DetectionEngine:
    """Detects faults in log records and metric samples (see the module documentation)."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        template_state: bytes | None = None,
        bursts: BurstDetector | None = None,
        thresholds: ThresholdMonitor | None = None,
        context_window: timedelta = timedelta(minutes=10),
        max_sources: int = 4096,
    ) -> None:
        self.catalog = catalog
        self.context_window = context_window
        self._matcher = Matcher(catalog, extra_literals=(SHUTDOWN_LITERAL,))
        self._templates = TemplateMiner.from_bytes(template_state) if template_state else TemplateMiner()
        self._bursts = bursts or BurstDetector()
        self._thresholds = thresholds or ThresholdMonitor()
        self._context = ContextTracker(max_sources=max_sources, max_nodes=max_sources)
        # Records of one source usually arrive together; the last state skips the LRU lookup.
        self._last_key: tuple[str, str, str] | None = None
        self._last_source = SourceState()

    def template_state(self) -> bytes:
        """Return the mined templates as bytes for :class:`DetectionEngine` ``template_state``."""
        return self._templates.to_bytes()

    @property
    def template_revision(self) -> int:
        """Template changes since construction; while it stays the same, :meth:`template_state` does too."""
        return self._templates.revision

    def window_state(self) -> bytes:
        """Return the windows (context, burst rates, threshold windows) as UTF-8 JSON for :meth:`restore_windows`."""
        # The context comes as JSON text, because it caches the text of sources that did not change.
        context = self._context.to_json(self._matcher.pattern_key)
        bursts = json.dumps(self._bursts.to_state(), ensure_ascii=False, separators=(",", ":"))
        thresholds = json.dumps(self._thresholds.to_state(), ensure_ascii=False, separators=(",", ":"))
        text = f'{{"version":{WINDOW_STATE_VERSION},"context":{context},"bursts":{bursts},"thresholds":{thresholds}}}'
        return text.encode("utf-8")

    def restore_windows(self, data: bytes) -> None:
        """Replace the windows with those saved by :meth:`window_state`.

        Raise ValueError when ``data`` is not such a state or has another version; the windows are
        then empty, as in a new engine.
        """
        try:
            state = json.loads(data.decode("utf-8"))
            version = state.get("version") if isinstance(state, dict) else None
            if version != WINDOW_STATE_VERSION:
                raise ValueError(f"version {version!r} is not supported; expected {WINDOW_STATE_VERSION}")
            self._context.load_state(state["context"], self._repeated_pattern)
            self._bursts.load_state(state["bursts"])
            self._thresholds.load_state(state["thresholds"])
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError) as error:
            self._clear_windows()
            raise ValueError(f"window state is invalid: {error!r}") from error
        finally:
            self._last_key, self._last_source = None, SourceState()

    def _repeated_pattern(self, key: str) -> tuple[int, int] | None:
        found = self._matcher.pattern_of_key(key)
        if found is None or found[1].min_count <= 1:
            return None
        return found[0], found[1].min_count

    def _clear_windows(self) -> None:
        self._context = ContextTracker(max_sources=self._context.max_sources, max_nodes=self._context.max_nodes)
        self._bursts.clear()
        self._thresholds.clear()

    def process(self, record: LogRecord, *, cluster: str, node: str, log_type: str) -> list[Detection]:
        """Return the faults that ``record`` shows, most specific first (usually none)."""
        header = record.header
        level = header.level if header is not None else None
        key = (cluster, node, record.source)
        if key == self._last_key:
            source = self._last_source
        else:
            source = self._last_source = self._context.source(key)
            self._last_key = key
        at = source.clock(header.timestamp if header is not None else None)
        detections: list[Detection] = []

        if level in WARN_LEVELS:
            burst = self._bursts.observe((cluster, node), at)
            if burst is not None:
                text = f"{burst.count} WARN/ERROR/FATAL records in the minute from {burst.bucket_start.isoformat()}, " \
                       f"baseline {burst.baseline:.1f} per minute"
                detections.append(self._detection("error_burst", record, cluster, node, log_type, at, text, None))

        literals = self._matcher.find_literals(record.text)
        if not literals and level not in ERROR_LEVELS:
            return detections

        kinds = self._qualified_kinds(record, level, literals, source, at) if literals else []
        if kinds:
            detections.extend(self._report(kinds, record, source, cluster, node, log_type, at))
        elif SHUTDOWN_LITERAL in literals:
            detections.extend(self._shutdown(record, source, cluster, node, log_type, at))
        elif level in ERROR_LEVELS and not self._matcher.excluded("unknown_error", record.text):
            template = self._templates.add(header.message if header is not None else record.text)
            source.last_unknown_at = at
            detections.append(self._detection("unknown_error", record, cluster, node, log_type, at,
                                              evidence_of(record.text), template.template_id))
        return detections

    def process_metric(
        self,
        *,
        cluster: str,
        node: str,
        cpu_pct: float | None,
        mem_pct: float | None,
        disk_pct: float | None,
        at: datetime,
    ) -> list[Detection]:
        """Feed one metric sample; return ``resource_pressure`` detections when a window completes."""
        detections = []
        for pressure in self._thresholds.feed_metric(cluster, node, cpu_pct, mem_pct, disk_pct, at):
            text = (f"{pressure.resource} usage {pressure.value_pct:.1f}% at or above "
                    f"{pressure.threshold_pct:.0f}% since {pressure.since.isoformat()}")
            detections.append(self._detection("resource_pressure", None, cluster, node, "metrics", at, text, None))
        return detections

    def report_unreachable(self, *, cluster: str, node: str, reason: str, at: datetime) -> Detection:
        """Return a ``node_unreachable`` detection for a node the collector cannot reach over SSH.

        ``reason`` is the collector's error text (refused, timed out, authentication failed).
        """
        return self._detection("node_unreachable", None, cluster, node, "collector", at, reason, None)

    def _qualified_kinds(
        self, record: LogRecord, level: str | None, literals: list[str], source: SourceState, at: datetime
    ) -> list[FaultKind]:
        kinds: dict[str, FaultKind] = {}
        match: SignatureMatch
        for match in self._matcher.match_all_patterns(record.text, level, literals):
            spec = match.pattern
            if spec.min_count > 1:
                window = timedelta(seconds=spec.window_seconds)
                if not source.repeated(match.pattern_id, spec.min_count, window, at):
                    continue
            kinds.setdefault(match.kind.kind, match.kind)
        return list(kinds.values())

    def _report(
        self, kinds: list[FaultKind], record: LogRecord, source: SourceState,
        cluster: str, node: str, log_type: str, at: datetime,
    ) -> list[Detection]:
        best = kinds[0]
        node_state = self._context.node((cluster, node))

        if best.kind == "task_failure" and node_state.last_disk_full_at is not None \
                and source.recent(node_state.last_disk_full_at, at, self.context_window) \
                and _SPACE_RELATED.search(record.text):
            best = self.catalog.get("disk_full")
        if best.kind == "daemon_exited" and source.recent(source.last_specific_at, at, self.context_window):
            logger.debug("daemon exit on %s/%s explained by an earlier fault; not reported", cluster, node)
            return []

        if best.kind not in GENERIC_KINDS:
            source.last_specific_at = at
        if best.kind == "disk_full":
            node_state.last_disk_full_at = at

        header = record.header
        template = self._templates.add(header.message if header is not None else record.text)
        names = [best.kind, *(kind.kind for kind in kinds[1:] if kind.kind in best.also_report)]
        evidence = evidence_of(record.text)
        return [self._detection(name, record, cluster, node, log_type, at, evidence, template.template_id)
                for name in names]

    def _shutdown(
        self, record: LogRecord, source: SourceState, cluster: str, node: str, log_type: str, at: datetime
    ) -> list[Detection]:
        window = self.context_window
        if source.recent(source.last_specific_at, at, window) or not source.recent(source.last_unknown_at, at, window):
            return []
        return [self._detection("daemon_exited", record, cluster, node, log_type, at, evidence_of(record.text), None)]

    def _detection(
        self, name: str, record: LogRecord | None, cluster: str, node: str, log_type: str,
        at: datetime | None, evidence: str, template_id: int | None,
    ) -> Detection:
        kind = self.catalog.get(name)
        return Detection(
            kind=kind.kind, severity=kind.severity, title_zh=kind.title.zh, title_en=kind.title.en,
            record=record, node=node, cluster=cluster, evidence_text=evidence,
            template_id=template_id, log_type=log_type, at=at,
        )
