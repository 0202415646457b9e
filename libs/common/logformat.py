"""Parsing of Hadoop log lines: record headers, multi-line records and log types from file names.

Hadoop daemons write log4j records. A record starts with a header line (timestamp, level,
optional thread, logger, message) and may continue over lines without a header, most often
a stack trace. The layouts recognised by :func:`parse_header`:

* Hadoop 2.x/3.x daemons: ``2017-06-09 20:10:40,123 INFO org.apache.hadoop.hdfs...DataNode: msg``
* MapReduce tasks and ApplicationMasters: ``2015-10-18 18:01:47,978 INFO [main] org.apache...: msg``
* HDFS_v1 (Hadoop 0.x): ``081109 203615 148 INFO dfs.DataNode$PacketResponder: msg``
* ``yy/MM/dd`` (Spark, some clients): ``17/06/09 20:10:40 INFO executor.Executor: msg``
* ZooKeeper 3.4: ``2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/...:Leader@493] - msg``

Timestamps without an offset are taken as UTC, because log4j's default layouts do not write
the zone and the producing host's zone is unknown here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import PurePath

__all__ = ["LogHeader", "LogRecord", "header_fields", "iter_records", "log_type_from_filename", "parse_header"]


@dataclass(slots=True)
class LogHeader:
    """Fields of the header line that starts a log4j record."""

    timestamp: datetime | None
    level: str
    logger: str
    thread: str | None
    message: str


@dataclass(slots=True)
class LogRecord:
    """One log record: a header line and its continuation lines, joined by newlines."""

    header: LogHeader | None
    text: str
    first_line: int
    last_line: int
    source: str


_LEVEL = r"(?P<level>TRACE|DEBUG|INFO|WARN(?:ING)?|ERROR|FATAL)"
_LOGGER = r"(?P<logger>[A-Za-z_$][\w$.\-]*)"
# A thread name can contain spaces and even brackets (DataXceiver threads), so the thread
# group is lazy and ends at the first "] " that is followed by a logger name and a colon.
_THREAD = r"(?:\[(?P<thread>.*?)\]\s+)?"
_ISO_TIME = (
    r"(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?:[,.](?P<frac>\d{1,6}))?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?"
)

# The common Hadoop layout (millisecond time, no zone), matched without named groups for speed.
_FAST_ISO_PREFIX = (
    r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d),(\d{3}) (TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL) +"
    r"(?:\[(.*?)\] +)?([A-Za-z_$][\w$.\-]*)(?::(?:\s|$)|\s+-\s)"
)
_FAST_ISO_RE = re.compile(_FAST_ISO_PREFIX + r"(.*)", re.S)
# The same header up to the message. The message group matches any rest, so this matches
# exactly the lines that _FAST_ISO_RE matches, with the same groups.
_FAST_ISO_PREFIX_RE = re.compile(_FAST_ISO_PREFIX, re.S)
_ISO_RE = re.compile(rf"{_ISO_TIME}\s+{_LEVEL}\s+{_THREAD}{_LOGGER}(?::(?:\s|$)|\s+-\s)(?P<message>.*)", re.S)
_ZOOKEEPER_RE = re.compile(rf"{_ISO_TIME}\s+-\s+{_LEVEL}\s+\[(?P<thread>.*)\]\s+-\s(?P<message>.*)", re.S)
_ISO_LOOSE_RE = re.compile(rf"{_ISO_TIME}\s+{_LEVEL}\s+(?P<message>.*)", re.S)
_HDFS_V1_RE = re.compile(
    rf"(?P<ymd>\d{{6}}) (?P<hms>\d{{6}}) (?P<pid>\d+) {_LEVEL} {_LOGGER}:\s?(?P<message>.*)", re.S
)
_SLASHED_RE = re.compile(
    rf"(?P<ymd>\d{{2}}/\d{{2}}/\d{{2}}) (?P<hms>\d{{2}}:\d{{2}}:\d{{2}})\s+{_LEVEL}\s+{_THREAD}{_LOGGER}"
    r":\s?(?P<message>.*)",
    re.S,
)


def _zone(text: str | None) -> timezone:
    if not text or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _iso_timestamp(match: re.Match[str]) -> datetime | None:
    date, time, frac = match["date"], match["time"], match["frac"]
    micros = int(frac.ljust(6, "0")) if frac else 0
    try:
        return datetime(
            int(date[0:4]), int(date[5:7]), int(date[8:10]),
            int(time[0:2]), int(time[3:5]), int(time[6:8]), micros,
            tzinfo=_zone(match["zone"]),
        )
    except ValueError:
        return None


# Most records of a busy daemon share their second with the record before, so the
# timestamp of each second is built once and milliseconds are added to it.
_SECOND_CACHE: dict[str, datetime | None] = {}
_SECOND_CACHE_MAX = 4096
_MILLISECONDS = [timedelta(milliseconds=ms) for ms in range(1000)]
_MISSING = object()


def _utc_second(text: str) -> datetime | None:
    cached = _SECOND_CACHE.get(text, _MISSING)
    if cached is not _MISSING:
        return cached  # type: ignore[return-value]
    try:
        value: datetime | None = datetime(
            int(text[0:4]), int(text[5:7]), int(text[8:10]),
            int(text[11:13]), int(text[14:16]), int(text[17:19]), tzinfo=UTC,
        )
    except ValueError:
        value = None
    if len(_SECOND_CACHE) >= _SECOND_CACHE_MAX:
        _SECOND_CACHE.clear()
    _SECOND_CACHE[text] = value
    return value


def _two_digit_year_timestamp(year: str, month: str, day: str, hms: str) -> datetime | None:
    try:
        return datetime(
            2000 + int(year), int(month), int(day), int(hms[0:2]), int(hms[2:4]), int(hms[4:6]), tzinfo=UTC
        )
    except ValueError:
        return None


def _normal_level(level: str) -> str:
    return "WARN" if level == "WARNING" else level


def _split_zookeeper_thread(bracket: str) -> tuple[str | None, str]:
    # "QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:Leader@493" -> thread, logger "Leader"
    thread, _, location = bracket.rpartition(":")
    logger = location.split("@", 1)[0]
    return (thread or None), logger


def parse_header(line: str) -> LogHeader | None:
    """Parse the header of a log4j record, or return None for a continuation or banner line."""
    line = line.rstrip("\r\n")
    first = line[:1]
    if not first.isdigit():
        return None

    if line[4:5] == "-":
        return _parse_iso_header(line)

    match = _HDFS_V1_RE.match(line)
    if match:
        ymd = match["ymd"]
        timestamp = _two_digit_year_timestamp(ymd[0:2], ymd[2:4], ymd[4:6], match["hms"])
        level = _normal_level(match["level"])
        return LogHeader(timestamp, level, match["logger"], match["pid"], match["message"])

    match = _SLASHED_RE.match(line)
    if match:
        ymd = match["ymd"]
        timestamp = _two_digit_year_timestamp(ymd[0:2], ymd[3:5], ymd[6:8], match["hms"].replace(":", ""))
        return LogHeader(
            timestamp, _normal_level(match["level"]), match["logger"], match["thread"], match["message"]
        )
    return None


def header_fields(line: str) -> tuple[datetime | None, str, str] | None:
    """Return the timestamp, level and logger that :func:`parse_header` finds in ``line``, or None.

    The common layout is matched without copying the message, which a caller that keeps the
    whole record text (the collector) does not need. Other layouts go through ``parse_header``.
    """
    end = len(line)
    while end and line[end - 1] in "\r\n":
        end -= 1

    fast = _FAST_ISO_PREFIX_RE.match(line, 0, end)
    if fast is None:
        header = parse_header(line)
        return None if header is None else (header.timestamp, header.level, header.logger)

    second, millis, level, _thread, logger_name = fast.groups()
    return _millisecond_timestamp(second, millis), _normal_level(level), logger_name


def _millisecond_timestamp(second: str, millis: str) -> datetime | None:
    base = _utc_second(second)
    return base + _MILLISECONDS[int(millis)] if base is not None else None


def _fast_header(match: re.Match[str]) -> LogHeader:
    second, millis, level, thread, logger_name, message = match.groups()
    return LogHeader(_millisecond_timestamp(second, millis), _normal_level(level), logger_name, thread, message)


def _parse_iso_header(line: str) -> LogHeader | None:
    fast = _FAST_ISO_RE.match(line)
    if fast:
        return _fast_header(fast)

    match = _ISO_RE.match(line)
    if match:
        return LogHeader(
            _iso_timestamp(match), _normal_level(match["level"]), match["logger"], match["thread"],
            match["message"],
        )

    match = _ZOOKEEPER_RE.match(line)
    if match:
        thread, logger = _split_zookeeper_thread(match["thread"])
        level = _normal_level(match["level"])
        return LogHeader(_iso_timestamp(match), level, logger, thread, match["message"])

    match = _ISO_LOOSE_RE.match(line)
    if match:
        return LogHeader(_iso_timestamp(match), _normal_level(match["level"]), "", None, match["message"])
    return None


def iter_records(lines: Iterable[str], source: str, first_line: int = 1) -> Iterator[LogRecord]:
    """Group header lines with their continuation lines into records.

    Lines may keep their line endings. Lines before the first header each become a record
    whose header is None, so nothing read is dropped.
    """
    header: LogHeader | None = None
    parts: list[str] = []
    start = first_line
    number = first_line - 1

    fast_match = _FAST_ISO_RE.match
    for number, raw in enumerate(lines, start=first_line):
        line = raw.rstrip("\r\n")
        if line[:1].isdigit():
            fast = fast_match(line)
            parsed = _fast_header(fast) if fast else parse_header(line)
        else:
            parsed = None

        if parsed is None and parts and header is not None:
            parts.append(line)
            continue

        if parts:
            text = parts[0] if len(parts) == 1 else "\n".join(parts)
            yield LogRecord(header, text, start, number - 1, source)
        header, parts, start = parsed, [line], number

    if parts:
        text = parts[0] if len(parts) == 1 else "\n".join(parts)
        yield LogRecord(header, text, start, number, source)


_DAEMONS = (
    "namenode|secondarynamenode|datanode|journalnode|zkfc|resourcemanager|nodemanager|historyserver"
    "|timelineserver|proxyserver|httpfs|kms|nfs3|portmap|router|dfsrouter|balancer|mover"
)
_DAEMON_RE = re.compile(rf"(?:^|[-_.])(?P<daemon>{_DAEMONS})(?:[-_.]|$)", re.I)
_CONTAINER_RE = re.compile(r"^container_(?:e\d+_)?\d+_\d+_\d+_\d+", re.I)
_UNSAFE_RE = re.compile(r"[^a-z0-9]+")
_ROTATION_RE = re.compile(r"(?:\.(?:log|out|txt))?(?:\.\d+)?(?:\.gz)?$", re.I)


def log_type_from_filename(name: str) -> str:
    """Return the log type of a file name, such as ``namenode``, ``resourcemanager`` or ``container``.

    ``hadoop-hdfs-namenode-host1.log``, its ``.out`` file and rotated copies (``.log.1``) give
    the daemon name. YARN container logs give ``container``. Other names give their stem,
    lower-cased, with runs of other characters replaced by ``_``.
    """
    base = PurePath(name).name
    if _CONTAINER_RE.match(base):
        return "container"

    match = _DAEMON_RE.search(base)
    if match:
        return match["daemon"].lower()

    stem = _ROTATION_RE.sub("", base)
    return _UNSAFE_RE.sub("_", stem.lower()).strip("_") or "unknown"
