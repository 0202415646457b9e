"""Log4j records as Hadoop daemons write them.

Hadoop's log4j.properties lays out daemon logs as ``%d{ISO8601} %p %c: %m%n``, for example
``2026-12-04 10:01:02,345 INFO org.apache.hadoop.hdfs.server.datanode.DataNode: message``.
A logged exception follows the message as extra lines: the exception's ``toString()``, then
one ``\\tat`` line per stack frame and ``Caused by:`` sections.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from hfd.democluster.daemons import HADOOP_VERSION, JAVA_VERSION, DaemonSpec


@dataclass(frozen=True)
class Record:
    """One log event: a header line and optional continuation lines (a stack trace)."""

    level: str
    logger: str
    message: str
    detail: tuple[str, ...] = field(default_factory=tuple)


def format_log4j_time(when: datetime) -> str:
    """Format a datetime as log4j's ISO8601 date layout, ``yyyy-MM-dd HH:mm:ss,SSS``."""
    return when.strftime("%Y-%m-%d %H:%M:%S,") + f"{when.microsecond // 1000:03d}"


def format_record(record: Record, when: datetime | None = None) -> str:
    """Render a record as the text Hadoop appends to the log, ending with a newline."""
    stamp = format_log4j_time(when or datetime.now(UTC))
    lines = [f"{stamp} {record.level} {record.logger}: {record.message}", *record.detail]
    return "\n".join(lines) + "\n"


def exception_lines(
    header: str, frames: list[str], cause: tuple[str, list[str]] | None = None, more: int = 0
) -> tuple[str, ...]:
    """Build the lines of a Java stack trace.

    ``header`` is the exception's toString() (``java.io.IOException: message``), ``frames``
    are ``Class.method(File.java:123)`` strings, and ``cause`` an optional (header, frames)
    pair printed after ``Caused by:`` with ``more`` frames elided as ``... N more``.
    """
    lines = [header, *(f"\tat {frame}" for frame in frames)]
    if cause is not None:
        cause_header, cause_frames = cause
        lines.append(f"Caused by: {cause_header}")
        lines.extend(f"\tat {frame}" for frame in cause_frames)
        if more:
            lines.append(f"\t... {more} more")
    return tuple(lines)


def startup_banner(spec: DaemonSpec, host: str, address: str, user: str, hadoop_home: str) -> Record:
    """Return the STARTUP_MSG record every Hadoop daemon logs first."""
    share = f"{hadoop_home}/share/hadoop"
    classpath = ":".join(
        [
            f"{hadoop_home}/etc/hadoop",
            f"{share}/common/lib/*",
            f"{share}/common/*",
            f"{share}/hdfs",
            f"{share}/hdfs/lib/*",
            f"{share}/hdfs/*",
            f"{share}/yarn/lib/*",
            f"{share}/yarn/*",
        ]
    )
    detail = (
        "/************************************************************",
        f"STARTUP_MSG: Starting {spec.display_name}",
        f"STARTUP_MSG:   user = {user}",
        f"STARTUP_MSG:   host = {host}/{address}",
        "STARTUP_MSG:   args = []",
        f"STARTUP_MSG:   version = {HADOOP_VERSION}",
        f"STARTUP_MSG:   classpath = {classpath}",
        f"STARTUP_MSG:   build = Unknown -r Unknown; compiled by '{user}' on 2026-01-15T09:30Z",
        f"STARTUP_MSG:   java = {JAVA_VERSION}",
        "************************************************************/",
    )
    return Record("INFO", spec.main_class, "STARTUP_MSG: ", detail)


def signal_handlers_record(spec: DaemonSpec) -> Record:
    return Record("INFO", spec.main_class, "registered UNIX signal handlers for [TERM, HUP, INT]")


def sigterm_record(spec: DaemonSpec) -> Record:
    return Record("ERROR", spec.main_class, "RECEIVED SIGNAL 15: SIGTERM")


def shutdown_banner(spec: DaemonSpec, host: str, address: str) -> Record:
    """Return the SHUTDOWN_MSG record a daemon logs from its shutdown hook."""
    detail = (
        "/************************************************************",
        f"SHUTDOWN_MSG: Shutting down {spec.display_name} at {host}/{address}",
        "************************************************************/",
    )
    return Record("INFO", spec.main_class, "SHUTDOWN_MSG: ", detail)


# Standard output of bash's ``ulimit -a``, which Hadoop's daemon scripts write at the top of
# each daemon's .out file.
ULIMIT_LINES = (
    "core file size          (blocks, -c) 0",
    "data seg size           (kbytes, -d) unlimited",
    "scheduling priority             (-e) 0",
    "file size               (blocks, -f) unlimited",
    "pending signals                 (-i) 31197",
    "max locked memory       (kbytes, -l) 64",
    "max memory size         (kbytes, -m) unlimited",
    "open files                      (-n) 1024",
    "pipe size            (512 bytes, -p) 8",
    "POSIX message queues     (bytes, -q) 819200",
    "real-time priority              (-r) 0",
    "stack size              (kbytes, -s) 8192",
    "cpu time               (seconds, -t) unlimited",
    "max user processes              (-u) 31197",
    "virtual memory          (kbytes, -v) unlimited",
    "file locks                      (-x) unlimited",
)


def out_file_text(user: str) -> str:
    """Return the content of a freshly started daemon's .out file."""
    return "\n".join([f"ulimit -a for user {user}", *ULIMIT_LINES]) + "\n"
