"""Finding a node's own Hadoop log folders, for workers that discovery registered with the master's.

Three sources are read in order, and the first that gives a usable folder wins:

1. ``jvm_arguments``: the ``-Dhadoop.log.dir=`` and ``-Dyarn.log.dir=`` options of the
   running java processes (``ps -C java -o args=``), which Hadoop's launch scripts set from
   HADOOP_LOG_DIR and YARN_LOG_DIR.
2. ``environment``: HADOOP_LOG_DIR and YARN_LOG_DIR of the SSH session (``printenv NAME``).
3. ``hadoop_env``: ``export HADOOP_LOG_DIR=...`` and ``export YARN_LOG_DIR=...`` lines of
   ``hadoop-env.sh`` in HADOOP_CONF_DIR (from the session) or ``/etc/hadoop/conf``. Only a
   literal absolute path counts; a value that uses a shell variable is skipped.

The commands are policy entries with typed arguments, authorised for the caller and written to
the exec log like any other run. They are kept out of ``policy.COMMANDS`` because only this
probe needs them, so neither ``commands.run`` nor free text can reach them. Everything read
off the node is treated as hostile: long lines are skipped, and a folder must pass the same
check as the log folders inventory accepts (``libs.common.log_dirs.check_log_dir``) and the
policy's ``normalise_path``. A folder that fails is logged and ignored.
"""

import logging
import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from libs.common.errors import Forbidden
from libs.common.log_dirs import check_log_dir, normalise_log_dir
from libs.common.rpc import Principal
from services.collector.command_args import Args, NoArgs
from services.collector.command_catalog import Category, CommandSpec
from services.collector.commands import CommandRunner, RunContext, RunOutcome
from services.collector.flows import SYSTEM_PRINCIPAL
from services.collector.node_info import NodeInfo
from services.collector.node_target import NodeTarget
from services.collector.policy import authorize
from services.collector.remote_paths import normalise_path

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 20
MAX_FOLDERS = 16
# ps prints a whole command line per process, and Hadoop's class paths make them long.
MAX_LINE_LENGTH = 64 * 1024
MAX_OUTPUT_BYTES = 512 * 1024
DEFAULT_CONF_DIR = "/etc/hadoop/conf"

_JVM_OPTION = re.compile(r"(?:^|\s)-D(?:hadoop|yarn)\.log\.dir=(\S+)")
_ENV_LINE = re.compile(r"""^\s*(?:export\s+)?(?:HADOOP|YARN)_LOG_DIR=(["']?)([^"'\s#]+)\1\s*(?:#.*)?$""")
ENV_FILE_PATTERN = r"^[[:space:]]*(export[[:space:]]+)?(HADOOP|YARN)_LOG_DIR="


class HadoopVariable(StrEnum):
    HADOOP_LOG_DIR = "HADOOP_LOG_DIR"
    YARN_LOG_DIR = "YARN_LOG_DIR"
    HADOOP_CONF_DIR = "HADOOP_CONF_DIR"


def _check_env_file(value: str) -> str:
    path = normalise_path(value)
    if not path.endswith("/hadoop-env.sh"):
        raise PydanticCustomError("path_not_allowed", "only a hadoop-env.sh file may be read")
    return path


class VariableArgs(Args):
    name: HadoopVariable


class EnvFileArgs(Args):
    path: Annotated[str, AfterValidator(_check_env_file)]


# fmt: off
PROBE_COMMANDS: dict[str, CommandSpec] = {spec.id: spec for spec in (
    CommandSpec("java_command_lines", Category.READ_ONLY, "Command lines of the running java processes.", NoArgs,
                lambda _args: [["ps", "-C", "java", "-o", "args="]]),
    CommandSpec("hadoop_variable", Category.READ_ONLY, "One Hadoop variable of the SSH session.", VariableArgs,
                lambda a: [["printenv", a.name.value]]),
    CommandSpec("hadoop_env_log_dirs", Category.READ_ONLY, "Log folder lines of hadoop-env.sh.", EnvFileArgs,
                lambda a: [["grep", "-E", "-m", str(MAX_FOLDERS), "--", ENV_FILE_PATTERN, a.path]]),
)}
# fmt: on


def usable_folder(value: str, node: NodeInfo | None = None) -> str | None:
    """Return the folder in normal form when it passes the log folder checks. Otherwise log it and return None."""
    try:
        return normalise_path(check_log_dir(value))
    except PydanticCustomError as error:
        logger.warning(
            "probed log folder ignored node=%s cluster=%s reason=%s folder=%.200r",
            node.name if node else "-",
            node.cluster_uuid if node else "-",
            error.type,
            value,
        )
        return None


def _collect(values: list[str], node: NodeInfo | None) -> list[str]:
    folders: list[str] = []
    for value in values:
        folder = usable_folder(value, node)
        if folder is not None and folder not in folders:
            folders.append(folder)
    return folders[:MAX_FOLDERS]


def _complete_lines(outcome: RunOutcome) -> str:
    """Return the output without its last line when the output was cut, because a cut path is a different path."""
    if outcome.truncated:
        return outcome.stdout.rsplit("\n", 1)[0]
    return outcome.stdout


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if len(line) <= MAX_LINE_LENGTH]


def parse_java_command_lines(output: str, node: NodeInfo | None = None) -> list[str]:
    """Return the usable ``-Dhadoop.log.dir`` and ``-Dyarn.log.dir`` folders in ``ps`` output."""
    return _collect([match for line in _lines(output) for match in _JVM_OPTION.findall(line)], node)


def parse_env_file(output: str, node: NodeInfo | None = None) -> list[str]:
    """Return the usable literal folders of ``HADOOP_LOG_DIR=`` and ``YARN_LOG_DIR=`` lines."""
    return _collect([match[2] for line in _lines(output) if (match := _ENV_LINE.match(line))], node)


def _single_line(output: str) -> str | None:
    lines = output.splitlines()
    if len(lines) != 1 or len(lines[0]) > MAX_LINE_LENGTH:
        return None
    return lines[0].strip()


def parse_variable(output: str, node: NodeInfo | None = None) -> str | None:
    """Return the folder that ``printenv`` printed, or None for no output, several lines or an unusable path."""
    value = _single_line(output)
    return usable_folder(value, node) if value is not None else None


def parse_conf_dir(output: str) -> str | None:
    """Return the HADOOP_CONF_DIR that ``printenv`` printed in normal form, or None.

    A configuration folder such as /etc/hadoop/conf is not a log folder, so only its syntax is
    checked. ``EnvFileArgs`` limits what is read there to ``hadoop-env.sh``.
    """
    value = _single_line(output)
    if value is None:
        return None
    try:
        return normalise_path(normalise_log_dir(value))
    except PydanticCustomError:
        return None


class LogDirProbe:
    """Runs the probe commands on one node as one principal."""

    def __init__(self, runner: CommandRunner, target: NodeTarget, principal: Principal | None, lang: str) -> None:
        self.runner = runner
        self.node = NodeInfo.from_target(target)
        actor = "user" if principal is not None else "system"
        self.context = RunContext(principal or SYSTEM_PRINCIPAL, actor, "log folder probe", None, lang)

    async def run(self) -> dict:
        """Return ``{"log_dirs": [...], "source": name or None}``; an empty list means nothing usable was found."""
        folders = parse_java_command_lines(_complete_lines(await self._run("java_command_lines", {})), self.node)
        if folders:
            return self._found(folders, "jvm_arguments")

        values = [
            await self._variable(HadoopVariable.HADOOP_LOG_DIR),
            await self._variable(HadoopVariable.YARN_LOG_DIR),
        ]
        folders = _collect([value for value in values if value is not None], self.node)
        if folders:
            return self._found(folders, "environment")

        conf_dir = await self._conf_dir() or DEFAULT_CONF_DIR
        outcome = await self._run("hadoop_env_log_dirs", {"path": f"{conf_dir}/hadoop-env.sh"})
        folders = parse_env_file(_complete_lines(outcome), self.node) if outcome.exit_code == 0 else []
        if folders:
            return self._found(folders, "hadoop_env")
        logger.info("no log folder found on the node node=%s cluster=%s", self.node.name, self.node.cluster_uuid)
        return {"log_dirs": [], "source": None}

    def _found(self, folders: list[str], source: str) -> dict:
        logger.info(
            "log folders found on the node node=%s cluster=%s source=%s count=%d",
            self.node.name,
            self.node.cluster_uuid,
            source,
            len(folders),
        )
        return {"log_dirs": folders, "source": source}

    async def _variable(self, name: HadoopVariable) -> str | None:
        outcome = await self._run("hadoop_variable", {"name": name.value})
        return parse_variable(outcome.stdout, self.node) if outcome.exit_code == 0 else None

    async def _conf_dir(self) -> str | None:
        outcome = await self._run("hadoop_variable", {"name": HadoopVariable.HADOOP_CONF_DIR.value})
        return parse_conf_dir(outcome.stdout) if outcome.exit_code == 0 else None

    async def _run(self, command_id: str, args: dict) -> RunOutcome:
        spec = PROBE_COMMANDS[command_id]
        decision = authorize(spec, self.context.principal, actor="user")
        if not decision.allowed:
            logger.warning(
                "log folder probe rejected command=%s user=%s reason=%s",
                command_id,
                self.context.principal.username,
                decision.reason,
            )
            raise Forbidden()
        typed_args = spec.args_model.model_validate(args)
        return await self.runner.execute(
            context=self.context,
            node=self.node,
            spec=spec,
            args=typed_args,
            timeout=PROBE_TIMEOUT,
            max_output=MAX_OUTPUT_BYTES,
        )
