"""The command catalogue: every command the collector may run on a node and its free-text spellings.

Every command that the collector runs on a node for a person or for the AI service is an
entry of ``COMMANDS``. An entry has an id, a category that sets the minimum role, a pydantic
model of its typed arguments, and a function that builds the argv from validated arguments
only. The SSH pool quotes every argv element with ``shlex.quote``, so no text from a request
reaches the remote shell unquoted.
"""

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.collector.command_args import (
    Args,
    CleanTempArgs,
    GrepArgs,
    HdfsControlArgs,
    HdfsDaemon,
    HdfsDaemonArgs,
    JpsArgs,
    LogDirArgs,
    MapredControlArgs,
    MapredDaemon,
    MapredDaemonArgs,
    NoArgs,
    ResolveArgs,
    RestartArgs,
    TailArgs,
    YarnControlArgs,
    YarnDaemon,
    YarnDaemonArgs,
    YarnNodesArgs,
)
from services.collector.remote_paths import NodeScope


class Category(StrEnum):
    LOG_VIEW = "log_view"
    READ_ONLY = "read_only"
    SERVICE_CONTROL = "service_control"
    MAINTENANCE = "maintenance"


# --- Commands ----------------------------------------------------------------------------

Argv = list[str]


@dataclass(frozen=True)
class Usage:
    """One accepted spelling of a command in free text.

    ``tokens`` are literal words, or ``{name}`` placeholders that bind one word to argument
    ``name``; ``fixed`` adds arguments implied by this spelling.
    """

    tokens: tuple[str, ...]
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def literal_count(self) -> int:
        return sum(1 for token in self.tokens if not token.startswith("{"))


@dataclass(frozen=True)
class CommandSpec:
    """One allowed command: its typed arguments and how its argv steps are built."""

    id: str
    category: Category
    summary: str
    args_model: type[Args]
    build: Callable[[Any], list[Argv]]
    usages: tuple[Usage, ...] = ()
    remote_path_args: tuple[str, ...] = ()


def _u(text: str, **fixed: Any) -> Usage:
    return Usage(tuple(text.split()), fixed)


def _one(*argv: str) -> Callable[[Any], list[Argv]]:
    return lambda _args: [list(argv)]


# The Hadoop 3 launcher whose --daemon option starts and stops each daemon.
_DAEMON_TOOLS: dict[str, str] = {
    daemon.value: tool
    for family, tool in ((HdfsDaemon, "hdfs"), (YarnDaemon, "yarn"), (MapredDaemon, "mapred"))
    for daemon in family
}


def daemon_tool(daemon: str) -> str:
    """Return the launcher (``hdfs``, ``yarn`` or ``mapred``) that starts and stops ``daemon``.

    The launcher also names the policy's start and stop command: ``hdfs_daemon``, ``yarn_daemon``
    or ``mapred_daemon``. Raises KeyError for a daemon outside the policy's types.
    """
    return _DAEMON_TOOLS[daemon]


def _build_grep(args: GrepArgs) -> list[Argv]:
    argv = ["grep", "-F", "-m", str(args.max_matches)]
    if args.ignore_case:
        argv.append("-i")
    if args.count_only:
        argv.append("-c")
    return [[*argv, "-e", args.text, "--", args.path]]


def _build_clean_temp(args: CleanTempArgs) -> list[Argv]:
    # -P never follows symlinks, -xdev stays on the directory's file system, and -mindepth 1
    # keeps the directory itself.
    argv = ["find", "-P", args.path, "-xdev", "-mindepth", "1"]
    if args.older_than_minutes:
        argv += ["-mmin", f"+{args.older_than_minutes}"]
    return [[*argv, "-delete"]]


def _build_restart(args: RestartArgs) -> list[Argv]:
    tool = daemon_tool(args.daemon.value)
    return [[tool, "--daemon", "stop", args.daemon.value], [tool, "--daemon", "start", args.daemon.value]]


# find prints "<mtime> <size> <name>" for each regular file, NUL-terminated so that no file
# name can forge another entry.
LIST_FILES_FORMAT = "%T@ %s %f\\0"

# fmt: off
_SPECS = (
    # Bounded reads behind the log endpoints; never matched from free text.
    CommandSpec("log_files", Category.LOG_VIEW, "List the regular files of a log directory.", LogDirArgs,
                lambda a: [["find", "-H", a.path, "-maxdepth", "1", "-type", "f", "-printf", LIST_FILES_FORMAT]]),
    # The file comes from "log_files", which lists only regular files, so it gets no path check.
    CommandSpec("log_tail", Category.LOG_VIEW, "Read the last lines of a listed log file.", TailArgs,
                lambda a: [["tail", "-n", str(a.lines), "--", a.path]]),
    CommandSpec("path_resolve", Category.LOG_VIEW, "Resolve symbolic links in paths.", ResolveArgs,
                lambda a: [["readlink", "-m", "-z", "--", *a.paths]]),
    # Read-only diagnostics; the ids of the fault catalog's diagnostics come first.
    CommandSpec("hdfs_report", Category.READ_ONLY, "HDFS capacity and DataNode report.", NoArgs,
                _one("hdfs", "dfsadmin", "-report"), (_u("hdfs dfsadmin -report"),)),
    CommandSpec("safemode_get", Category.READ_ONLY, "Whether the NameNode is in safe mode.", NoArgs,
                _one("hdfs", "dfsadmin", "-safemode", "get"), (_u("hdfs dfsadmin -safemode get"),)),
    CommandSpec("yarn_nodes", Category.READ_ONLY, "YARN NodeManagers and their states.", YarnNodesArgs,
                lambda a: [["yarn", "node", "-list", *(["-all"] if a.include_all else [])]],
                (_u("yarn node -list -all"), _u("yarn node -list", include_all=False))),
    CommandSpec("jps", Category.READ_ONLY, "Running Java processes.", JpsArgs,
                lambda a: [["jps", *(["-l"] if a.long_names else [])]], (_u("jps"), _u("jps -l", long_names=True))),
    CommandSpec("df", Category.READ_ONLY, "Disk usage, human-readable.", NoArgs, _one("df", "-h"), (_u("df -h"),)),
    CommandSpec("df_posix", Category.READ_ONLY, "Disk usage in POSIX format.", NoArgs, _one("df", "-P"),
                (_u("df -P"),)),
    CommandSpec("free", Category.READ_ONLY, "Memory usage in MiB.", NoArgs, _one("free", "-m"), (_u("free -m"),)),
    CommandSpec("uptime", Category.READ_ONLY, "Uptime and load averages.", NoArgs, _one("uptime"), (_u("uptime"),)),
    CommandSpec("tail", Category.READ_ONLY, "Last lines of a file in a log directory.", TailArgs,
                lambda a: [["tail", "-n", str(a.lines), "--", a.path]],
                (_u("tail -n {lines} {path}"), _u("tail {path}")), ("path",)),
    CommandSpec("grep", Category.READ_ONLY, "Fixed-string search in a file in a log directory.", GrepArgs,
                _build_grep,
                (_u("grep {text} {path}"), _u("grep -i {text} {path}", ignore_case=True),
                 _u("grep -c {text} {path}", count_only=True),
                 _u("grep -i -c {text} {path}", ignore_case=True, count_only=True),
                 _u("grep -F {text} {path}"), _u("grep -F -i {text} {path}", ignore_case=True)),
                ("path",)),
    CommandSpec("ls_logs", Category.READ_ONLY, "Long listing of a log directory.", LogDirArgs,
                lambda a: [["ls", "-l", "--", a.path]], (_u("ls -l {path}"),), ("path",)),
    CommandSpec("hdfs_daemon_status", Category.READ_ONLY, "Whether an HDFS daemon runs.", HdfsDaemonArgs,
                lambda a: [["hdfs", "--daemon", "status", a.daemon.value]], (_u("hdfs --daemon status {daemon}"),)),
    CommandSpec("yarn_daemon_status", Category.READ_ONLY, "Whether a YARN daemon runs.", YarnDaemonArgs,
                lambda a: [["yarn", "--daemon", "status", a.daemon.value]], (_u("yarn --daemon status {daemon}"),)),
    CommandSpec("mapred_daemon_status", Category.READ_ONLY, "Whether a MapReduce daemon runs.", MapredDaemonArgs,
                lambda a: [["mapred", "--daemon", "status", a.daemon.value]],
                (_u("mapred --daemon status {daemon}"),)),
    # Service control.
    CommandSpec("hadoop_daemon", Category.SERVICE_CONTROL, "Start or stop an HDFS daemon (Hadoop 2 script).",
                HdfsControlArgs, lambda a: [["hadoop-daemon.sh", a.action.value, a.daemon.value]],
                (_u("hadoop-daemon.sh {action} {daemon}"),)),
    CommandSpec("hdfs_daemon", Category.SERVICE_CONTROL, "Start or stop an HDFS daemon.", HdfsControlArgs,
                lambda a: [["hdfs", "--daemon", a.action.value, a.daemon.value]],
                (_u("hdfs --daemon {action} {daemon}"),)),
    CommandSpec("yarn_daemon", Category.SERVICE_CONTROL, "Start or stop a YARN daemon.", YarnControlArgs,
                lambda a: [["yarn", "--daemon", a.action.value, a.daemon.value]],
                (_u("yarn --daemon {action} {daemon}"),)),
    CommandSpec("mapred_daemon", Category.SERVICE_CONTROL, "Start or stop a MapReduce daemon (the JobHistoryServer).",
                MapredControlArgs, lambda a: [["mapred", "--daemon", a.action.value, a.daemon.value]],
                (_u("mapred --daemon {action} {daemon}"),)),
    CommandSpec("restart_daemon", Category.SERVICE_CONTROL, "Stop, then start, an HDFS, YARN or MapReduce daemon.",
                RestartArgs, _build_restart),
    CommandSpec("leave_safe_mode", Category.SERVICE_CONTROL, "Make the NameNode leave safe mode.", NoArgs,
                _one("hdfs", "dfsadmin", "-safemode", "leave"), (_u("hdfs dfsadmin -safemode leave"),)),
    CommandSpec("start_dfs", Category.SERVICE_CONTROL, "Start HDFS from the master.", NoArgs,
                _one("start-dfs.sh"), (_u("start-dfs.sh"),)),
    CommandSpec("stop_dfs", Category.SERVICE_CONTROL, "Stop HDFS from the master.", NoArgs,
                _one("stop-dfs.sh"), (_u("stop-dfs.sh"),)),
    CommandSpec("start_yarn", Category.SERVICE_CONTROL, "Start YARN from the master.", NoArgs,
                _one("start-yarn.sh"), (_u("start-yarn.sh"),)),
    CommandSpec("stop_yarn", Category.SERVICE_CONTROL, "Stop YARN from the master.", NoArgs,
                _one("stop-yarn.sh"), (_u("stop-yarn.sh"),)),
    # Maintenance; only through commands.run, because no free-text spelling of it is safe.
    CommandSpec("clean_temp_dir", Category.MAINTENANCE, "Delete the entries of a temporary directory.",
                CleanTempArgs, _build_clean_temp, remote_path_args=("path",)),
)
# fmt: on
COMMANDS: dict[str, CommandSpec] = {spec.id: spec for spec in _SPECS}


def get_command(command_id: str) -> CommandSpec | None:
    return COMMANDS.get(command_id)


def validate_args(spec: CommandSpec, args: dict[str, Any], scope: NodeScope) -> Args:
    """Validate ``args`` for ``spec`` against the node's directories; raise pydantic's ``ValidationError``."""
    return spec.args_model.model_validate(args, context={"scope": scope})


def command_text(steps: list[Argv]) -> str:
    """Return the argv steps as the shell text the pool runs, for the exec log."""
    return "; ".join(shlex.join(step) for step in steps)


# --- Free text ---------------------------------------------------------------------------

MAX_COMMAND_LENGTH = 1000
# Shell metacharacters, glob characters, and characters that only mean something to a shell.
SHELL_METACHARACTERS = frozenset(";|&$`<>(){}*?[]\\!#~")


class CommandLineError(ValueError):
    """A free-text command that cannot be safely split; ``code`` is an i18n message code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def split_command_line(text: str) -> list[str]:
    """Split free text into words with ``shlex``, rejecting every shell metacharacter first."""
    if not text.strip():
        raise CommandLineError("command_empty")
    if len(text) > MAX_COMMAND_LENGTH:
        raise CommandLineError("command_too_long")
    if any(ch in SHELL_METACHARACTERS or (ord(ch) < 32 and ch != " ") or ord(ch) == 127 for ch in text):
        raise CommandLineError("shell_metacharacter")
    try:
        words = shlex.split(text, posix=True)
    except ValueError:
        raise CommandLineError("command_unbalanced_quotes") from None
    if not words:
        raise CommandLineError("command_empty")
    return words


def match_command(words: list[str]) -> tuple[CommandSpec, dict[str, Any]] | None:
    """Find the allowed command that ``words`` spell, with its untyped arguments.

    When several spellings fit, the one with the most literal words wins, so
    ``hdfs --daemon status namenode`` is the status query and not a start or stop.
    """
    best: tuple[int, CommandSpec, dict[str, Any]] | None = None
    for spec in _SPECS:
        for usage in spec.usages:
            bound = _bind(usage, words)
            if bound is not None and (best is None or usage.literal_count > best[0]):
                best = (usage.literal_count, spec, bound)
    return None if best is None else (best[1], best[2])


def _bind(usage: Usage, words: list[str]) -> dict[str, Any] | None:
    if len(usage.tokens) != len(words):
        return None
    bound = dict(usage.fixed)
    for token, word in zip(usage.tokens, words, strict=True):
        if token.startswith("{"):
            bound[token[1:-1]] = word
        elif token != word:
            return None
    return bound
