"""Detection engines per (cluster, node), and the step from stream events to occurrences.

Records go through the same code path as ``hfd analyze``: ``iter_records`` from
``libs.common.logformat`` and then ``DetectionEngine.process``. Each (cluster, node) has its
own engine, restored from the templates and windows saved in the database. The consumers save
the state of every engine they used in the same transaction as the incidents, so the saved
state always matches the records whose effects are committed.
"""

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.catalog import Catalog
from libs.common.db import Database
from libs.common.events import LogBatch, LogEntry
from libs.common.logformat import LogRecord, iter_records
from libs.common.timeutil import utcnow
from services.faults import service
from services.faults.config import FaultsSettings
from services.faults.detection.engine import Detection, DetectionEngine
from services.faults.incidents import Evidence, OccurrenceGroup, fingerprint

logger = logging.getLogger(__name__)

EngineKey = tuple[str, str]
STORED_LEVELS = frozenset({"WARN", "ERROR", "FATAL"})
UNKNOWN_KIND = "unknown_error"
TITLE_WORDS = 8
UNKNOWN_TITLE_CHARS = 80


@dataclass(slots=True)
class SavedState:
    """The template and window bytes of one engine as the database last received them.

    ``template_revision`` is the engine's ``template_revision`` when ``templates`` matched it, so an
    unchanged revision skips serialising the templates. None forces a comparison of the bytes.
    """

    templates: bytes = b""
    windows: bytes = b""
    template_revision: int | None = None


class EngineRegistry:
    """The engines of the nodes this process has seen, least recently used evicted first.

    Each engine's whole state, templates and windows (repetition counts, context such as a
    recent disk-full error, burst rates, metric threshold windows), is saved with the
    transaction that changed it. So a new consumers leader, a restarted process and an engine
    reloaded after eviction all continue where the last commit left off. Eviction happens in
    :meth:`checkpoint`, after the state of the evicted engines was written.
    """

    def __init__(self, catalog: Catalog, *, max_engines: int = 5000) -> None:
        self.catalog = catalog
        self.max_engines = max_engines
        self.lock = asyncio.Lock()
        self._engines: OrderedDict[EngineKey, DetectionEngine] = OrderedDict()
        self._saved: dict[EngineKey, SavedState] = {}

    async def load(self, session, keys: set[EngineKey]) -> dict[EngineKey, DetectionEngine]:
        """Return the engines of ``keys``, restoring missing ones from their saved state."""
        engines = {}
        for key in sorted(keys):
            engine = self._engines.get(key)
            if engine is None:
                row = await service.load_engine_state(session, cluster=key[0], node=key[1])
                saved = SavedState(row.state, row.windows or b"") if row is not None else SavedState()
                self._engines[key] = engine = self._restore(key, saved)
                self._saved[key] = saved
            self._engines.move_to_end(key)
            engines[key] = engine
        return engines

    def _restore(self, key: EngineKey, saved: SavedState) -> DetectionEngine:
        try:
            engine = DetectionEngine(self.catalog, template_state=saved.templates or None)
            if saved.templates:
                saved.template_revision = engine.template_revision
        except ValueError as error:
            logger.error("saved template state unusable, starting empty cluster=%s node=%s error=%s",
                         key[0], key[1], error)
            engine = DetectionEngine(self.catalog)
        if saved.windows:
            try:
                engine.restore_windows(saved.windows)
            except ValueError as error:
                logger.error("saved window state unusable, starting empty windows cluster=%s node=%s error=%s",
                             key[0], key[1], error)
        return engine

    def _evict(self) -> None:
        while len(self._engines) > self.max_engines:
            key, _engine = self._engines.popitem(last=False)
            self._saved.pop(key, None)

    async def checkpoint(self, session, keys: set[EngineKey], now: datetime) -> int:
        """Write the state of the engines of ``keys`` that changed, then evict; return how many were written."""
        written = 0
        for key in sorted(keys):
            engine = self._engines.get(key)
            if engine is None:
                continue
            saved = self._saved.get(key) or SavedState()
            revision = engine.template_revision
            templates = saved.templates if revision == saved.template_revision else engine.template_state()
            windows = engine.window_state()
            write_templates = templates != saved.templates
            if not write_templates and windows == saved.windows:
                saved.template_revision = revision
                continue
            await service.save_engine_state(session, cluster=key[0], node=key[1], templates=templates,
                                            windows=windows, write_templates=write_templates, now=now)
            self._saved[key] = SavedState(templates, windows, revision)
            written += 1
        self._evict()
        return written

    def discard(self, keys: set[EngineKey]) -> None:
        """Forget engines whose in-memory state ran ahead of a transaction that did not commit."""
        for key in keys:
            self._engines.pop(key, None)
            self._saved.pop(key, None)

    async def save_all(self, db: Database, fence: Callable[[AsyncSession], Awaitable[None]]) -> None:
        """Write every engine's changed state (at shutdown), if ``fence`` lets this replica commit."""
        async with self.lock, db.session() as session:
            await fence(session)
            written = await self.checkpoint(session, set(self._engines), utcnow())
        logger.info("engine state saved engines=%d written=%d", len(self._engines), written)


@dataclass
class LogResult:
    """Occurrence groups, WARN+ rows and counts produced by a set of log batches."""

    groups: dict[str, OccurrenceGroup] = field(default_factory=dict)
    log_rows: list[dict] = field(default_factory=list)
    records: int = 0
    detections: Counter = field(default_factory=Counter)
    failed_records: int = 0


def detect_logs(
    engines: dict[EngineKey, DetectionEngine],
    batches: list[LogBatch],
    catalog: Catalog,
    settings: FaultsSettings,
    received_at: datetime,
) -> LogResult:
    """Run every record of ``batches`` through its node's engine (CPU work, run in a thread).

    A record on which the engine raises is stored but not detected on, and counted in
    ``failed_records``, so one bad record cannot block the stream.
    """
    result = LogResult()
    for batch in batches:
        engine = engines[(batch.cluster, batch.node)]
        for entry in batch.entries:
            # PostgreSQL text and JSONB cannot contain NUL, which crashed daemons leave in files.
            text = entry.text.replace("\x00", "")
            for record in iter_records(text.split("\n"), batch.file):
                result.records += 1
                try:
                    found = engine.process(record, cluster=batch.cluster, node=batch.node, log_type=batch.log_type)
                except Exception:
                    found = []
                    result.failed_records += 1
                    if result.failed_records == 1:
                        logger.exception("detection failed on a record cluster=%s node=%s file=%s offset=%d",
                                         batch.cluster, batch.node, batch.file, entry.offset)
                for detection in found:
                    result.detections[detection.kind] += 1
                    _add_detection(result.groups, detection, batch, entry, catalog, settings, received_at)
                row = _log_row(record, entry, batch, settings, received_at)
                if row is not None:
                    result.log_rows.append(row)
    return result


def occurrence_group(detection: Detection, catalog: Catalog, settings: FaultsSettings) -> OccurrenceGroup:
    """Start an empty group for the fingerprint of ``detection``."""
    title_zh, title_en = detection.title_zh, detection.title_en
    if detection.kind == UNKNOWN_KIND:
        summary = _record_message(detection.record, detection.evidence_text)[:UNKNOWN_TITLE_CHARS]
        title_zh, title_en = f"{title_zh}:{summary}", f"{title_en}: {summary}"
    kind = catalog.kinds.get(detection.kind)
    return OccurrenceGroup(
        cluster=detection.cluster,
        node=detection.node,
        kind=detection.kind,
        severity=detection.severity,
        title_zh=title_zh,
        title_en=title_en,
        discriminator=detection_discriminator(detection),
        first_limit=kind.max_evidence if kind else 5,
        recent_limit=settings.evidence_recent,
    )


def detection_discriminator(detection: Detection) -> str | None:
    """Return what splits one kind into several incidents on a node: the template of an unknown error."""
    if detection.kind == UNKNOWN_KIND and detection.template_id is not None:
        return f"template:{detection.template_id}"
    return None


def _add_detection(
    groups: dict[str, OccurrenceGroup],
    detection: Detection,
    batch: LogBatch,
    entry: LogEntry,
    catalog: Catalog,
    settings: FaultsSettings,
    received_at: datetime,
) -> None:
    key = fingerprint(detection.cluster, detection.node, detection.kind, detection_discriminator(detection))
    group = groups.get(key)
    if group is None:
        group = groups[key] = occurrence_group(detection, catalog, settings)
    level = detection.record.header.level if detection.record and detection.record.header else entry.level
    evidence = Evidence(
        text=detection.evidence_text, time=detection.at, level=level, file=batch.file, offset=entry.offset
    )
    template = str(detection.template_id) if detection.template_id is not None else None
    group.add(detection.at or received_at, evidence, template)


def _record_message(record: LogRecord | None, fallback: str) -> str:
    if record is not None and record.header is not None:
        return record.header.message.split("\n", 1)[0]
    return fallback.split("\n", 1)[0]


def _log_row(
    record: LogRecord, entry: LogEntry, batch: LogBatch, settings: FaultsSettings, received_at: datetime
) -> dict | None:
    """Return the ``log_records`` row of a WARN, ERROR or FATAL record, or None for other levels."""
    header = record.header
    level = header.level if header is not None else (entry.level or "").upper()
    if level not in STORED_LEVELS:
        return None

    if header is not None:
        first, _, rest = record.text.partition("\n")
        info = header.message.split("\n", 1)[0] + ("\n" + rest if rest else "")
        logger_name = header.logger.rsplit(".", 1)[-1]
        log_time = header.timestamp or entry.timestamp or received_at
    else:
        info, logger_name, log_time = record.text, entry.logger or "", entry.timestamp or received_at
    title = logger_name or " ".join(info.split()[:TITLE_WORDS])
    return {
        "cluster": batch.cluster,
        "node_host": batch.node,
        "level": level,
        "log_time": log_time,
        "title": title[:200],
        "info": info[: settings.log_info_max_chars],
        "log_type": batch.log_type[:64],
        "source_file": batch.file[:1000],
        "received_at": received_at,
    }
