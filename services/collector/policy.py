"""The command policy: the commands that may run on a node, their typed arguments, and the roles that may run them.

Every command that the collector runs on a node for a person or for the AI service is an
entry of ``COMMANDS``. An entry has an id, a category that sets the minimum role, a pydantic
model of its typed arguments, and a function that builds the argv from validated arguments
only. The SSH pool quotes every argv element with ``shlex.quote``, so no text from a request
reaches the remote shell unquoted.

Roles and categories:

* ``log_view``: bounded reads behind the log endpoints (list the log files, tail the newest
  file of a log type, resolve a path with ``readlink``). Every role, observers included, because
  they only show logs of clusters the caller may already see.
* ``read_only``: diagnostics a person or the AI chooses (``hdfs dfsadmin -report``, ``jps``,
  ``tail`` of a log file, ...). Operators and admins.
* ``service_control`` (start or stop a daemon, leave safe mode) and ``maintenance`` (clean a
  temporary directory): admins only.

The AI service calls ``commands.run`` with ``actor: "ai"`` and the principal of the user it acts
for, so the same role rules apply. Unattended repairs use the system principal
``SYSTEM_AI_PRINCIPAL`` (an operator). It may run a ``service_control`` or ``maintenance`` command
only when the request carries ``policy_override: "auto_repair"`` and ``safe_action: true``
(the AI service marks an action safe from the fault catalog's playbook), and the cluster's
``repair_policy`` in inventory is ``auto``. The collector checks that last condition itself.
"""

import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from re import _constants as sre_constants  # private, but stable in CPython 3.11-3.13
from re import _parser as sre_parser
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from libs.common.rpc import Principal

Actor = Literal["user", "ai"]
AUTO_REPAIR_OVERRIDE = "auto_repair"
SYSTEM_AI_PRINCIPAL = Principal(user_id=0, username="hfd-ai", role="operator")

MAX_PATH_LENGTH = 1024
MAX_LINES = 5000
MAX_SEARCH_TEXT_LENGTH = 256
# Characters allowed in a remote path. Hadoop log and temporary paths need no others, and
# rejecting spaces, '%', quotes and every shell metacharacter keeps encoded traversal out.
_SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9._,+=@:/-]*$")


class Category(StrEnum):
    LOG_VIEW = "log_view"
    READ_ONLY = "read_only"
    SERVICE_CONTROL = "service_control"
    MAINTENANCE = "maintenance"


ROLE_RANK = {"observer": 0, "operator": 1, "admin": 2}
CATEGORY_MIN_ROLE = {
    Category.LOG_VIEW: "observer",
    Category.READ_ONLY: "operator",
    Category.SERVICE_CONTROL: "admin",
    Category.MAINTENANCE: "admin",
}


class HdfsDaemon(StrEnum):
    NAMENODE = "namenode"
    SECONDARYNAMENODE = "secondarynamenode"
    DATANODE = "datanode"
    JOURNALNODE = "journalnode"
    ZKFC = "zkfc"


class YarnDaemon(StrEnum):
    RESOURCEMANAGER = "resourcemanager"
    NODEMANAGER = "nodemanager"
    TIMELINESERVER = "timelineserver"
    PROXYSERVER = "proxyserver"


class DaemonAction(StrEnum):
    START = "start"
    STOP = "stop"


Daemon = HdfsDaemon | YarnDaemon


@dataclass(frozen=True)
class NodeScope:
    """Directories that commands may touch on one node, already in normal form."""

    log_dirs: tuple[str, ...]
    temp_roots: tuple[str, ...] = ()


# --- Paths -------------------------------------------------------------------------------


def normalise_path(value: str) -> str:
    """Return the normal form of an absolute remote path, or raise ``PydanticCustomError``.

    Rejects NUL and control characters, relative paths, any ``..`` component (even one that
    would stay inside a directory after normalisation) and characters outside a small set.
    """
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PydanticCustomError("path_control_character", "path contains a control character")
    if not value.startswith("/"):
        raise PydanticCustomError("path_not_absolute", "path is not absolute")
    if len(value) > MAX_PATH_LENGTH:
        raise PydanticCustomError("path_too_long", "path is too long", {"max": MAX_PATH_LENGTH})
    if ".." in value.split("/"):
        raise PydanticCustomError("path_traversal", "path contains ..")
    if not _SAFE_PATH_RE.fullmatch(value):
        raise PydanticCustomError("path_invalid_characters", "path contains characters that are not allowed")

    normal = posixpath.normpath(value)
    return "/" + normal.lstrip("/")


def is_within(path: str, root: str, *, allow_equal: bool) -> bool:
    """Return whether normal path ``path`` is ``root`` itself (when allowed) or below it."""
    root = root.rstrip("/") or "/"
    if path == root:
        return allow_equal
    return path.startswith(root if root == "/" else root + "/")


def _scope(info: ValidationInfo) -> NodeScope:
    scope = (info.context or {}).get("scope")
    if not isinstance(scope, NodeScope):
        # Fail closed: a path argument can only be checked against a node's directories.
        raise PydanticCustomError("path_outside_log_dirs", "no node scope to check the path against")
    return scope


def _check_log_file(value: str, info: ValidationInfo) -> str:
    path = normalise_path(value)
    if not any(is_within(path, root, allow_equal=False) for root in _scope(info).log_dirs):
        raise PydanticCustomError("path_outside_log_dirs", "path is outside the node's log directories")
    return path


def _check_log_dir(value: str, info: ValidationInfo) -> str:
    path = normalise_path(value)
    if not any(is_within(path, root, allow_equal=True) for root in _scope(info).log_dirs):
        raise PydanticCustomError("path_outside_log_dirs", "path is outside the node's log directories")
    return path


def _check_temp_dir(value: str, info: ValidationInfo) -> str:
    path = normalise_path(value)
    if not any(is_within(path, root, allow_equal=True) for root in _scope(info).temp_roots):
        raise PydanticCustomError("path_outside_temp_roots", "path is outside the configured temporary roots")
    return path


def _check_search_text(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PydanticCustomError("text_control_character", "text contains a control character")
    return value


AbsolutePath = Annotated[str, AfterValidator(normalise_path)]
LogFilePath = Annotated[str, AfterValidator(_check_log_file)]
LogDirPath = Annotated[str, AfterValidator(_check_log_dir)]
TempDirPath = Annotated[str, AfterValidator(_check_temp_dir)]
SearchText = Annotated[str, Field(min_length=1, max_length=MAX_SEARCH_TEXT_LENGTH), AfterValidator(_check_search_text)]
LineCount = Annotated[int, Field(ge=1, le=MAX_LINES)]


# --- Typed arguments ---------------------------------------------------------------------


class Args(BaseModel):
    """Base of every argument model: unknown arguments are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoArgs(Args):
    pass


class JpsArgs(Args):
    long_names: bool = Field(default=False, description="jps -l: full main class names.")


class YarnNodesArgs(Args):
    include_all: bool = Field(default=True, description="yarn node -list -all: nodes in every state.")


class TailArgs(Args):
    path: LogFilePath
    lines: LineCount = 10


class GrepArgs(Args):
    """A fixed-string search (``grep -F``), so the node never evaluates a regular expression."""

    path: LogFilePath
    text: SearchText
    ignore_case: bool = False
    count_only: bool = False
    max_matches: LineCount = 1000


class LogDirArgs(Args):
    path: LogDirPath


class HdfsDaemonArgs(Args):
    daemon: HdfsDaemon


class YarnDaemonArgs(Args):
    daemon: YarnDaemon


class HdfsControlArgs(Args):
    action: DaemonAction
    daemon: HdfsDaemon


class YarnControlArgs(Args):
    action: DaemonAction
    daemon: YarnDaemon


class RestartArgs(Args):
    daemon: Daemon


class CleanTempArgs(Args):
    path: TempDirPath
    older_than_minutes: int = Field(default=0, ge=0, le=525_600, description="0 removes every entry.")


class ResolveArgs(Args):
    paths: list[AbsolutePath] = Field(min_length=1, max_length=64)


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


def _daemon_tool(daemon: Daemon) -> str:
    return "hdfs" if isinstance(daemon, HdfsDaemon) else "yarn"


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
    tool = _daemon_tool(args.daemon)
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
    CommandSpec("restart_daemon", Category.SERVICE_CONTROL, "Stop, then start, an HDFS or YARN daemon.",
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


# --- Authorisation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Outcome of ``authorize``: allowed, or a reason code for the log and the caller."""

    allowed: bool
    reason: str = ""
    needs_auto_policy: bool = False


def is_system_ai(principal: Principal) -> bool:
    return principal.user_id == SYSTEM_AI_PRINCIPAL.user_id and principal.username == SYSTEM_AI_PRINCIPAL.username


def authorize(
    spec: CommandSpec,
    principal: Principal,
    *,
    actor: Actor,
    policy_override: str | None = None,
    safe_action: bool = False,
) -> Decision:
    """Decide whether ``principal`` may run ``spec``, before anything touches the node.

    A decision with ``needs_auto_policy`` is allowed only if the cluster's repair policy is
    ``auto``, which the caller checks with inventory.
    """
    if ROLE_RANK[principal.role] >= ROLE_RANK[CATEGORY_MIN_ROLE[spec.category]]:
        return Decision(True)

    unattended = actor == "ai" and is_system_ai(principal) and policy_override == AUTO_REPAIR_OVERRIDE
    if unattended and spec.category in (Category.SERVICE_CONTROL, Category.MAINTENANCE):
        if not safe_action:
            return Decision(False, "action_not_marked_safe")
        return Decision(True, needs_auto_policy=True)

    return Decision(False, f"role_{principal.role}_cannot_run_{spec.category.value}")


# --- Safe regular expressions ------------------------------------------------------------

MAX_PATTERN_LENGTH = 256
MAX_UNBOUNDED_REPEATS = 4
MAX_NESTED_REPEAT_PRODUCT = 1000
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT}
_UNBOUNDED = float("inf")


@dataclass
class PatternShape:
    repeats: int = 0
    unbounded: int = 0


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a regular expression safe to run; raise ``PydanticCustomError``.

    Rejected: more than 256 characters, syntax errors, backreferences, a repeat inside another
    repeat unless both are bounded and small (``(a+)+``, ``(.*)*``, ``(a{1,9}){1,999}``), an
    alternation under an unbounded repeat (``(a|aa)+``), and more than four unbounded repeats.
    These are the shapes that make backtracking exponential or of high polynomial degree.
    ``filter_lines`` still runs the pattern under a time budget.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PydanticCustomError("pattern_too_long", "pattern too long", {"max": MAX_PATTERN_LENGTH})
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in pattern):
        raise PydanticCustomError("pattern_invalid", "pattern contains a control character")
    try:
        parsed = sre_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        raise PydanticCustomError("pattern_invalid", "pattern does not compile") from None

    shape = PatternShape()
    _inspect(parsed, None, shape)
    if shape.unbounded > MAX_UNBOUNDED_REPEATS:
        raise PydanticCustomError("pattern_too_complex", "too many unbounded repeats", {"max": MAX_UNBOUNDED_REPEATS})
    return pattern


def pattern_shape(pattern: str) -> PatternShape:
    shape = PatternShape()
    _inspect(sre_parser.parse(pattern), None, shape)
    return shape


def _inspect(items: Any, enclosing: float | None, shape: PatternShape) -> None:
    """Walk the parsed pattern; ``enclosing`` is the product of the maxima of the enclosing repeats."""
    for op, value in items:
        if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            raise PydanticCustomError("pattern_backreference", "backreferences are not allowed")
        if op in _REPEATS:
            _inspect_repeat(value, enclosing, shape)
        elif op == sre_constants.SUBPATTERN:
            _inspect(value[-1], enclosing, shape)
        elif op == sre_constants.BRANCH:
            for branch in value[1]:
                _inspect(branch, enclosing, shape)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            _inspect(value[1], enclosing, shape)
        elif op == sre_constants.ATOMIC_GROUP:
            _inspect(value, enclosing, shape)


def _inspect_repeat(value: Any, enclosing: float | None, shape: PatternShape) -> None:
    _low, high, body = value
    maximum = _UNBOUNDED if high == sre_constants.MAXREPEAT else high
    shape.repeats += 1
    if maximum <= 1:
        _inspect(body, enclosing, shape)
        return

    if enclosing is not None and (
        maximum == _UNBOUNDED or enclosing == _UNBOUNDED or enclosing * maximum > MAX_NESTED_REPEAT_PRODUCT
    ):
        raise PydanticCustomError("pattern_nested_quantifier", "nested quantifiers are not allowed")
    if maximum == _UNBOUNDED:
        shape.unbounded += 1
        if _contains_branch(body):
            raise PydanticCustomError("pattern_nested_quantifier", "alternation under a repeat is not allowed")
    _inspect(body, maximum if enclosing is None else enclosing * maximum, shape)


def _contains_branch(items: Any) -> bool:
    for op, value in items:
        if op == sre_constants.BRANCH:
            return True
        if op == sre_constants.SUBPATTERN and _contains_branch(value[-1]):
            return True
    return False


# --- Names and request bodies ------------------------------------------------------------

# A host name as RFC 1123 allows it: dot-separated labels of letters, digits and inner hyphens.
_NODE_NAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_LOG_TYPE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")


def check_node_name(value: str) -> str:
    if not _NODE_NAME_RE.fullmatch(value):
        raise PydanticCustomError("invalid_node_name", "invalid node name")
    return value


def check_log_type(value: str) -> str:
    if not _LOG_TYPE_RE.fullmatch(value):
        raise PydanticCustomError("invalid_log_type_name", "invalid log type")
    return value


NodeName = Annotated[str, Field(max_length=253), AfterValidator(check_node_name)]
LogType = Annotated[str, Field(max_length=41), AfterValidator(check_log_type)]
SafePattern = Annotated[str, AfterValidator(check_pattern)]
ClusterKey = Annotated[str, Field(min_length=1, max_length=100)]


class ExecuteRequest(BaseModel):
    """Body of ``POST /hadoop/nodes/{node_name}/execute/``: one allowed command as free text."""

    command: str = Field(max_length=MAX_COMMAND_LENGTH, examples=["hdfs dfsadmin -report"])
    timeout: int = Field(default=30, ge=1, le=300, description="Seconds before the command is stopped.")


class ReadLogRequest(BaseModel):
    """Body of ``POST /ops/read-log``. ``path`` must lie inside one of the node's log directories."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    node: NodeName
    path: AbsolutePath
    lines: LineCount = 200
    pattern: SafePattern | None = Field(
        default=None, description="Python regular expression, applied by the collector."
    )
    ssh_user: str | None = Field(default=None, alias="sshUser", max_length=32)
    timeout: int = Field(default=20, ge=1, le=120, description="Seconds before the read is stopped.")
    cluster: ClusterKey | None = Field(
        default=None, description="Cluster name or uuid when the node name is ambiguous."
    )


class LogQuery(BaseModel):
    """Query of the log reading endpoints."""

    lines: LineCount = 200
    cluster: ClusterKey | None = None
