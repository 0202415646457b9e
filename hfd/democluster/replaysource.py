"""Reading logs for replay: timestamp layouts, multi-line records, daemon detection and the
plan that maps a folder of logs onto demo nodes.

A record is a header line that starts with a timestamp plus the lines after it that do not
(stack traces, banners). Lines are kept byte for byte, line endings included, and only the
leading timestamp of each header is rewritten during replay.
"""

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hfd.democluster.daemons import log_file_name

logger = logging.getLogger(__name__)

DETECTION_LINES = 500


@dataclass(frozen=True)
class TimestampLayout:
    """A leading timestamp layout; ``format`` keeps the source's separators and precision."""

    name: str
    pattern: re.Pattern[str]

    def parse(self, match: re.Match[str]) -> datetime | None:
        try:
            if self.name == "iso8601":
                text = f"{match['date']} {match['time']}"
                stamp = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
                if match["frac"]:
                    stamp = stamp.replace(microsecond=int(match["frac"].ljust(6, "0")[:6]))
                return stamp
            if self.name == "yy/MM/dd":
                return datetime.strptime(f"{match['date']} {match['time']}", "%y/%m/%d %H:%M:%S")
            return datetime.strptime(f"{match['date']} {match['time']}", "%y%m%d %H%M%S")
        except ValueError:
            return None

    def format(self, when: datetime, match: re.Match[str]) -> str:
        if self.name == "iso8601":
            text = f"{when:%Y-%m-%d}{match['sep']}{when:%H:%M:%S}"
            if match["frac"]:
                digits = len(match["frac"])
                text += match["fsep"] + f"{when.microsecond:06d}"[:digits]
            return text
        if self.name == "yy/MM/dd":
            return f"{when:%y/%m/%d %H:%M:%S}"
        return f"{when:%y%m%d %H%M%S}"


LAYOUTS = (
    # 2015-10-17 15:37:56,547 (log4j ISO8601, also with "." or "T")
    TimestampLayout("iso8601", re.compile(
        r"(?P<date>\d{4}-\d{2}-\d{2})(?P<sep>[ T])(?P<time>\d{2}:\d{2}:\d{2})(?:(?P<fsep>[,.])(?P<frac>\d{1,6}))?(?=\s)"
    )),
    # 17/06/09 20:10:40 (Spark's and some clients' yy/MM/dd HH:mm:ss)
    TimestampLayout("yy/MM/dd", re.compile(r"(?P<date>\d{2}/\d{2}/\d{2}) (?P<time>\d{2}:\d{2}:\d{2})(?=\s)")),
    # 081109 203615 (yyMMdd HHmmss, as in HDFS logs of Hadoop 0.x)
    TimestampLayout("yymmdd", re.compile(r"(?P<date>\d{6}) (?P<time>\d{6})(?=\s)")),
)


@dataclass
class SourceRecord:
    """One record of a source file: ``lines[0]`` is the header (unless the file starts with
    lines without a timestamp, which are kept in front of the first header)."""

    timestamp: datetime
    lines: list[str]
    header_index: int
    match: re.Match[str]
    layout: TimestampLayout

    def render(self, when: datetime) -> str:
        header = self.lines[self.header_index]
        start, end = self.match.span()
        rewritten = header[:start] + self.layout.format(when, self.match) + header[end:]
        lines = list(self.lines)
        lines[self.header_index] = rewritten
        text = "".join(lines)
        return text if text.endswith("\n") else text + "\n"


def _read_lines(path: Path) -> Iterator[str]:
    with path.open("rb") as handle:
        for raw in handle:
            yield raw.decode("utf-8", errors="surrogateescape")


def detect_layout(path: Path) -> TimestampLayout | None:
    """Return the layout of the first timestamped line among the first lines, or None."""
    try:
        for number, line in enumerate(_read_lines(path)):
            if number >= DETECTION_LINES:
                break
            for layout in LAYOUTS:
                match = layout.pattern.match(line)
                if match and layout.parse(match) is not None:
                    return layout
    except OSError as error:
        logger.warning("replay: failed to read %s: %s", path, error)
    return None


def iter_source_records(path: Path, layout: TimestampLayout) -> Iterator[SourceRecord]:
    """Yield the records of a file in file order."""
    pending: SourceRecord | None = None
    leading: list[str] = []
    for line in _read_lines(path):
        match = layout.pattern.match(line)
        stamp = layout.parse(match) if match else None
        if stamp is None:
            if pending is None:
                leading.append(line)
            else:
                pending.lines.append(line)
            continue
        if pending is not None:
            yield pending
        pending = SourceRecord(stamp, [*leading, line], len(leading), match, layout)
        leading = []
    if pending is not None:
        yield pending


# (kind, marker strings). A STARTUP_MSG "Starting <Daemon>" decides at once. Otherwise the kind
# with the most marker hits in the first lines wins.
KIND_MARKERS = (
    ("namenode", ("Starting NameNode", "server.namenode.NameNode:", "namenode.FSNamesystem:", "dfs.FSNamesystem:",
                  "dfs.NameNode:")),
    ("secondarynamenode", ("Starting SecondaryNameNode", "namenode.SecondaryNameNode:")),
    ("datanode", ("Starting DataNode", "server.datanode.DataNode", "dfs.DataNode")),
    ("resourcemanager", ("Starting ResourceManager", "org.apache.hadoop.yarn.server.resourcemanager.")),
    ("nodemanager", ("Starting NodeManager", "org.apache.hadoop.yarn.server.nodemanager.")),
    ("historyserver", ("Starting JobHistoryServer", "org.apache.hadoop.mapreduce.v2.hs.")),
    ("container", ("MRAppMaster", "org.apache.hadoop.mapred.YarnChild", "] org.apache.hadoop.mapred.",
                   "executor.CoarseGrainedExecutorBackend", " spark.", "org.apache.spark.")),
    ("zookeeper", ("QuorumPeer", "QuorumCnxManager", "FastLeaderElection", "zookeeper.server.")),
)
STARTUP_RE = re.compile(r"STARTUP_MSG: Starting (\w+)")
STARTUP_KINDS = {"NameNode": "namenode", "SecondaryNameNode": "secondarynamenode", "DataNode": "datanode",
                 "ResourceManager": "resourcemanager", "NodeManager": "nodemanager",
                 "JobHistoryServer": "historyserver"}
CONTAINER_NAME_RE = re.compile(r"container_(?:e\d+_)?\d+_\d+_\d+_\d+")
# Daemon that runs a kind of log, for jps and for pausing the replay when the daemon is stopped.
KIND_DAEMON = {"container": "nodemanager"}


def detect_kind(path: Path) -> str:
    """Return the daemon kind of a log (``namenode``, ..., ``container``, ``zookeeper``) or ``unknown``."""
    scores = dict.fromkeys((kind for kind, _ in KIND_MARKERS), 0)
    for number, line in enumerate(_read_lines(path)):
        if number >= DETECTION_LINES:
            break
        startup = STARTUP_RE.search(line)
        if startup and startup.group(1) in STARTUP_KINDS:
            return STARTUP_KINDS[startup.group(1)]
        for kind, markers in KIND_MARKERS:
            if any(marker in line for marker in markers):
                scores[kind] += 1

    best = max(scores, key=lambda kind: scores[kind])
    if scores[best]:
        return best
    name = path.name.lower()
    if CONTAINER_NAME_RE.search(name):
        return "container"
    for kind, _ in KIND_MARKERS:
        if kind in name:
            return kind
    return "unknown"


def slug(text: str, limit: int = 50) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned[:limit].strip("-") or "node"


@dataclass
class ReplayFile:
    source: Path
    target_name: str
    layout: TimestampLayout
    kind: str

    @property
    def daemon(self) -> str | None:
        if self.kind == "unknown":
            return None
        return KIND_DAEMON.get(self.kind, self.kind)


@dataclass
class ReplayNodePlan:
    name: str
    source: Path
    files: list[ReplayFile] = field(default_factory=list)

    @property
    def daemons(self) -> list[str]:
        found = []
        for replay_file in self.files:
            if replay_file.daemon and replay_file.daemon not in found:
                found.append(replay_file.daemon)
        return found


def target_file_name(kind: str, source: Path, user: str, host: str, container_number: int, stamp: int) -> str:
    """Return the Hadoop-style file name a replayed log gets in the node's log folder."""
    if kind == "container":
        match = CONTAINER_NAME_RE.search(source.name)
        container = match.group(0) if match else f"container_{stamp}_0001_01_{container_number:06d}"
        return f"{container}.log"
    if kind == "unknown":
        return f"hadoop-{user}-{slug(source.stem, 24)}-{host}.log"
    return log_file_name(kind, user, host)


def plan_replay(source: Path, user: str, stamp: int) -> list[ReplayNodePlan]:
    """Map ``source`` onto nodes: one node per file or folder at its top (or one node when it is
    a file). Files without any recognised timestamp are skipped. Raises ValueError when nothing
    is left to replay."""
    if not source.exists():
        raise ValueError(f"replay source {source} not found; pass a folder of Hadoop logs to --logs")
    entries = [source] if source.is_file() else sorted(p for p in source.iterdir() if not p.name.startswith("."))

    plans: list[ReplayNodePlan] = []
    used_names: set[str] = set()
    for entry in entries:
        files = [entry] if entry.is_file() else _files_below(entry)
        name = _unique(slug(entry.name.removesuffix(".log")), used_names)
        plan = ReplayNodePlan(name=name, source=entry)
        used_targets: set[str] = set()
        for path in files:
            layout = detect_layout(path)
            if layout is None:
                logger.info("replay: skipping %s, no line starts with a known timestamp", path)
                continue
            kind = detect_kind(path)
            number = sum(1 for replay_file in plan.files if replay_file.kind == "container") + 1
            target = _unique_file(target_file_name(kind, path, user, name, number, stamp), used_targets)
            plan.files.append(ReplayFile(path, target, layout, kind))
        if plan.files:
            used_names.add(name)
            plans.append(plan)
        else:
            logger.info("replay: skipping %s, it contains no log records", entry)

    if not plans:
        raise ValueError(f"no log files with known timestamp layouts found in {source}")
    return plans


def _files_below(folder: Path) -> list[Path]:
    """Return the files under a folder, following symbolic links to folders, in name order."""
    found = []
    for parent, folders, names in os.walk(folder, followlinks=True):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found.extend(Path(parent) / name for name in sorted(names) if not name.startswith("."))
    return found


def _unique(name: str, used: set[str]) -> str:
    candidate, counter = name, 2
    while candidate in used:
        candidate = f"{name}-{counter}"
        counter += 1
    return candidate


def _unique_file(name: str, used: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    candidate, counter = name, 2
    while candidate in used:
        candidate = f"{stem}-{counter}{dot}{suffix}"
        counter += 1
    used.add(candidate)
    return candidate
