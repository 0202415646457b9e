"""The collector's operations endpoints: commands, log reading, cluster start and stop.

``register`` adds every endpoint to the collector's RPC service. Gateway routes reach
``ops.*``, ``logs.*`` (the log reading endpoints) and ``exec_logs.*``. The AI service and
other services call ``commands.run`` and ``logs.tail``, which the gateway never routes.

Every handler checks the caller's role, has inventory check the cluster ownership, and
validates every argument before anything runs on a node.
"""

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from libs.common.errors import Forbidden, Unauthorized, ValidationFailed
from libs.common.logformat import log_type_from_filename
from libs.common.rpc import Principal, RpcRequest
from libs.common.service import ServiceContext
from services.collector.commands import (
    CommandRunner,
    Inventory,
    NodeInfo,
    OpsError,
    OpsSettings,
    PatternTimeout,
    RunContext,
    RunOutcome,
    filter_lines,
    invalid_field,
    node_scope,
    validation_errors,
)
from services.collector.exec_models import ExecLogHandlers
from services.collector.policy import (
    COMMANDS,
    ROLE_RANK,
    AbsolutePath,
    Actor,
    Category,
    CommandLineError,
    CommandSpec,
    ExecuteRequest,
    HdfsDaemon,
    LineCount,
    LogQuery,
    LogType,
    ReadLogRequest,
    SafePattern,
    authorize,
    check_log_type,
    check_node_name,
    is_system_ai,
    match_command,
    split_command_line,
    validate_args,
)
from services.collector.ssh import SshPool

logger = logging.getLogger(__name__)

# A rotated copy (".log.1") or a compressed one is older than the live file of its type.
_ROTATED_RE = re.compile(r"\.\d+$|\.gz$")
_SAFE_FILE_NAME_RE = re.compile(r"^[A-Za-z0-9._,+=@:-]+$")
HDFS_DAEMONS = frozenset(daemon.value for daemon in HdfsDaemon)
CLUSTER_START_ORDER = ("namenode", "secondarynamenode", "journalnode", "datanode", "resourcemanager", "nodemanager")



# A reply travels in one NATS message (1 MiB by default), so log content in a reply is capped
# below that, keeping the newest lines.
REPLY_CONTENT_BYTES = 768 * 1024


def keep_tail_bytes(text: str, limit: int) -> tuple[str, bool]:
    """Return the end of ``text`` that fits in ``limit`` UTF-8 bytes, cut at a line start, and whether it was cut."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text, False
    tail = encoded[len(encoded) - limit :].decode(errors="ignore")
    newline = tail.find("\n")
    return (tail[newline + 1 :] if newline >= 0 else tail), True

class RunCommandRequest(BaseModel):
    """Body of the internal ``commands.run``."""

    model_config = ConfigDict(extra="forbid")

    node_uuid: str = Field(min_length=1, max_length=36)
    command_id: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    timeout: int = Field(default=30, ge=1, le=300)
    actor: Actor = "user"
    description: str | None = Field(default=None, max_length=2000)
    fault_id: str | None = Field(default=None, max_length=64)
    policy_override: str | None = Field(default=None, pattern=r"^auto_repair$")
    safe_action: bool = False


class TailRequest(BaseModel):
    """Body of the internal ``logs.tail``: a ``path``, or a ``log_type`` for the newest file of that type."""

    model_config = ConfigDict(extra="forbid")

    node_uuid: str = Field(min_length=1, max_length=36)
    path: AbsolutePath | None = None
    log_type: LogType | None = None
    lines: LineCount = 200
    pattern: SafePattern | None = None
    timeout: int = Field(default=20, ge=1, le=120)
    actor: Actor | None = Field(default=None, description="Unset means ai for the system principal, else user.")


@dataclass(frozen=True)
class LogFile:
    directory: str
    name: str
    mtime: float
    size: int

    @property
    def path(self) -> str:
        return f"{self.directory.rstrip('/')}/{self.name}"


def register(ctx: ServiceContext, pool: SshPool, settings: Any) -> None:
    """Add the operations endpoints to the collector's RPC service."""
    ops_settings = OpsSettings()
    inventory = Inventory(ctx.client, timeout=getattr(settings, "inventory_timeout", 10.0))
    runner = CommandRunner(pool=pool, db=ctx.db, settings=ops_settings)
    handlers = OpsHandlers(runner=runner, inventory=inventory, settings=ops_settings, pool=pool)
    exec_logs = ExecLogHandlers(ctx.db, inventory)
    for operation, handler in {**handlers.operations(), **exec_logs.operations()}.items():
        ctx.rpc.add(operation, handler)
    logger.info("ops endpoints registered temp_roots=%s", ops_settings.temp_roots)


def require_principal(request: RpcRequest, minimum: str = "observer") -> Principal:
    """Return the caller; raise 401 without one and 403 below the ``minimum`` role."""
    if request.principal is None:
        raise Unauthorized("not_authenticated")
    if ROLE_RANK[request.principal.role] < ROLE_RANK[minimum]:
        raise Forbidden("not_admin" if minimum == "admin" else "not_allowed")
    return request.principal


def checked_param(request: RpcRequest, name: str, check) -> str:
    value = request.params.get(name)
    if not isinstance(value, str) or not value:
        raise invalid_field(name, "field_required", request.lang)
    try:
        return check(value)
    except ValueError as error:  # PydanticCustomError is a subclass of ValueError
        code = getattr(error, "type", "invalid_value")
        raise invalid_field(name, code, request.lang) from None


class OpsHandlers:
    """The endpoint functions, bound to one runner and one inventory client."""

    def __init__(self, *, runner: CommandRunner, inventory: Inventory, settings: OpsSettings, pool: SshPool) -> None:
        self.runner = runner
        self.inventory = inventory
        self.settings = settings
        self.pool = pool

    def operations(self) -> dict:
        return {
            "commands.run": self.run_command,
            "logs.tail": self.tail,
            "ops.execute": self.execute,
            "ops.read_log": self.read_log,
            "ops.cluster_start": self.cluster_start,
            "ops.cluster_stop": self.cluster_stop,
            "logs.nodes": self.list_nodes,
            "logs.node_log": self.node_log,
            "logs.all": self.all_logs,
            "logs.files": self.log_files,
        }

    # --- Commands --------------------------------------------------------------------------

    async def run_command(self, request: RpcRequest) -> dict:
        """Run one policy command by id for another service (``commands.run``)."""
        principal = require_principal(request)
        body: RunCommandRequest = request.parse_body(RunCommandRequest)
        spec = COMMANDS.get(body.command_id)
        if spec is None or spec.category == Category.LOG_VIEW:
            raise OpsError(
                "command_not_allowed",
                status_code=403,
                message_code="command_not_allowed",
                field="command_id",
                lang=request.lang,
            )

        decision = authorize(
            spec, principal, actor=body.actor, policy_override=body.policy_override, safe_action=body.safe_action
        )
        if not decision.allowed:
            logger.warning(
                "command rejected command=%s user=%s actor=%s reason=%s",
                spec.id,
                principal.username,
                body.actor,
                decision.reason,
            )
            raise self._role_denied(spec, request.lang)

        node = await self._node_by_uuid(request, body.node_uuid)
        if decision.needs_auto_policy:
            await self._require_auto_policy(request, node)
        args = self._typed_args(spec, body.args, node, request.lang, prefix="args.")
        context = RunContext(principal, body.actor, body.description, body.fault_id, request.lang)
        outcome = await self.runner.execute(context=context, node=node, spec=spec, args=args, timeout=body.timeout)
        return outcome.reply()

    async def execute(self, request: RpcRequest) -> dict:
        """Run a free-text command that matches the policy (``POST /hadoop/nodes/{node_name}/execute/``)."""
        principal = require_principal(request, "operator")
        node_name = checked_param(request, "node_name", check_node_name)
        body: ExecuteRequest = request.parse_body(ExecuteRequest)
        try:
            words = split_command_line(body.command)
        except CommandLineError as error:
            raise invalid_field("command", error.code, request.lang, status_code=400) from None

        matched = match_command(words)
        if matched is None:
            logger.warning(
                "free-text command rejected: not in the policy user=%s node=%s", principal.username, node_name
            )
            raise OpsError(
                "command_not_allowed",
                status_code=403,
                message_code="command_not_allowed",
                field="command",
                lang=request.lang,
            )
        spec, raw_args = matched
        if not authorize(spec, principal, actor="user").allowed:
            raise self._role_denied(spec, request.lang)

        node = await self.inventory.resolve_node(
            request, name=node_name, cluster=request.params.get("cluster"), field="node_name"
        )
        args = self._typed_args(spec, raw_args, node, request.lang, field="command", status_code=400)
        context = RunContext(principal, "user", f"execute: {body.command}", None, request.lang)
        outcome = await self.runner.execute(context=context, node=node, spec=spec, args=args, timeout=body.timeout)
        return {
            "node_name": node.name,
            "command": body.command,
            "stdout": outcome.stdout,
            "stderr": outcome.stderr,
            "status": outcome.status,
            "exit_code": outcome.exit_code,
            "exec_id": outcome.exec_id,
            "truncated": outcome.truncated,
        }

    # --- Log reading -----------------------------------------------------------------------

    async def read_log(self, request: RpcRequest) -> dict:
        """Read the last lines of a log file, optionally filtered (``POST /ops/read-log``)."""
        principal = require_principal(request, "operator")
        body: ReadLogRequest = request.parse_body(ReadLogRequest)
        node = await self.inventory.resolve_node(request, name=body.node, cluster=body.cluster, field="node")
        if body.ssh_user is not None and body.ssh_user != node.ssh_user:
            logger.warning(
                "read-log rejected: sshUser is not the node's SSH user user=%s node=%s", principal.username, node.name
            )
            raise OpsError(
                "not_allowed", status_code=403, message_code="ssh_user_mismatch", field="sshUser", lang=request.lang
            )

        spec = COMMANDS["tail"]
        if not authorize(spec, principal, actor="user").allowed:
            raise self._role_denied(spec, request.lang)
        args = self._typed_args(spec, {"path": body.path, "lines": body.lines}, node, request.lang)
        context = RunContext(principal, "user", f"read-log {body.path}", None, request.lang)
        outcome = await self.runner.execute(
            context=context,
            node=node,
            spec=spec,
            args=args,
            timeout=body.timeout,
            max_output=self.settings.log_read_max_output,
        )
        lines = await self._filtered(output_lines(outcome), body.pattern, request.lang)
        return {"execId": outcome.exec_id, "exitCode": outcome.exit_code, "lines": lines}

    async def tail(self, request: RpcRequest) -> dict:
        """Read the last lines of a file or of the newest file of a log type (internal ``logs.tail``)."""
        principal = require_principal(request)
        body: TailRequest = request.parse_body(TailRequest)
        if (body.path is None) == (body.log_type is None):
            raise invalid_field("path", "path_or_log_type", request.lang)
        node = await self._node_by_uuid(request, body.node_uuid)
        actor = body.actor or ("ai" if is_system_ai(principal) else "user")
        context = RunContext(principal, actor, "logs.tail", None, request.lang)

        if body.path is not None:
            spec = COMMANDS["tail"]
            if not authorize(spec, principal, actor=context.actor).allowed:
                raise self._role_denied(spec, request.lang)
            args = self._typed_args(spec, {"path": body.path, "lines": body.lines}, node, request.lang)
            outcome = await self.runner.execute(
                context=context,
                node=node,
                spec=spec,
                args=args,
                timeout=body.timeout,
                max_output=self.settings.log_read_max_output,
            )
            lines = output_lines(outcome)
        else:
            lines = await self._tail_newest(context, node, body.log_type, body.lines, body.timeout)
            if lines is None:
                raise OpsError(
                    "not_found",
                    status_code=404,
                    message_code="log_file_not_found",
                    field="log_type",
                    lang=request.lang,
                )
        return {"lines": await self._filtered(lines, body.pattern, request.lang)}

    async def list_nodes(self, request: RpcRequest) -> dict:
        """List the names of the caller's nodes (``GET /hadoop/nodes/``)."""
        require_principal(request)
        query: LogQuery = request.parse_params(LogQuery)
        nodes = await self.inventory.list_nodes(request, cluster=query.cluster)
        return {"nodes": sorted({node.name for node in nodes})}

    async def node_log(self, request: RpcRequest) -> dict:
        """Return the tail of a node's newest log file of a type (``GET /hadoop/logs/{node_name}/{log_type}/``)."""
        principal = require_principal(request)
        node_name = checked_param(request, "node_name", check_node_name)
        log_type = checked_param(request, "log_type", check_log_type)
        query: LogQuery = request.parse_params(LogQuery)
        node = await self.inventory.resolve_node(request, name=node_name, cluster=query.cluster, field="node_name")

        context = RunContext(principal, "user", f"view {log_type} log", None, request.lang)
        lines = await self._tail_newest(context, node, log_type, query.lines, self.settings.all_logs_node_timeout)
        if lines is None:
            raise OpsError(
                "not_found", status_code=404, message_code="log_file_not_found", field="log_type", lang=request.lang
            )
        content, truncated = keep_tail_bytes("\n".join(lines), REPLY_CONTENT_BYTES)
        return {"node_name": node.name, "log_type": log_type, "log_content": content, "truncated": truncated}

    async def all_logs(self, request: RpcRequest) -> dict:
        """Read the newest file of a log type on every node of the caller (``GET /hadoop/logs/all/{log_type}/``).

        Each node gets ``min(lines, all_logs_max_lines / node count)`` lines and its own timeout;
        a node that fails is listed with an ``error`` instead of failing the request.
        """
        principal = require_principal(request)
        log_type = checked_param(request, "log_type", check_log_type)
        query: LogQuery = request.parse_params(LogQuery)
        nodes = await self.inventory.list_nodes(request, cluster=query.cluster)
        if not nodes:
            return {"logs": []}

        per_node = max(1, min(query.lines, self.settings.all_logs_max_lines // len(nodes)))
        limit = asyncio.Semaphore(self.settings.all_logs_concurrency)
        context = RunContext(principal, "user", f"view {log_type} logs of all nodes", None, request.lang)

        async def read(node: NodeInfo) -> dict | None:
            async with limit:
                return await self._node_entry(context, node, log_type, per_node)

        entries = [entry for entry in await asyncio.gather(*(read(node) for node in nodes)) if entry is not None]
        per_entry_bytes = REPLY_CONTENT_BYTES // max(1, len(entries))
        for entry in entries:
            entry["log_content"], entry["truncated"] = keep_tail_bytes(entry["log_content"], per_entry_bytes)
        return {"logs": entries}

    async def log_files(self, request: RpcRequest) -> dict:
        """List the files in a node's log directories (``GET /hadoop/logs/files/{node_name}/``)."""
        principal = require_principal(request)
        node_name = checked_param(request, "node_name", check_node_name)
        query: LogQuery = request.parse_params(LogQuery)
        node = await self.inventory.resolve_node(request, name=node_name, cluster=query.cluster, field="node_name")
        context = RunContext(principal, "user", "list log files", None, request.lang)
        files = await self._list_files(context, node, self.settings.all_logs_node_timeout)
        return {"node_name": node.name, "log_files": sorted({file.name for file in files})}

    # --- Cluster start and stop ------------------------------------------------------------

    async def cluster_start(self, request: RpcRequest) -> dict:
        return await self._cluster_control(request, "start")

    async def cluster_stop(self, request: RpcRequest) -> dict:
        return await self._cluster_control(request, "stop")

    async def _cluster_control(self, request: RpcRequest, action: str) -> dict:
        """Start or stop HDFS and YARN of a cluster, daemon by daemon (``POST /ops/clusters/{uuid}/start|stop``).

        Each node with roles in inventory gets ``hdfs|yarn --daemon ACTION DAEMON`` for each
        of its daemons, in dependency order (reversed to stop). When inventory lists no roles,
        the master runs ``start-dfs.sh`` and ``start-yarn.sh`` (or the stop scripts).
        """
        principal = require_principal(request, "admin")
        cluster_uuid = checked_param(request, "uuid", _check_uuid)
        cluster = await self.inventory.get_cluster(request, cluster=cluster_uuid, principal=principal, field="uuid")
        nodes = await self.inventory.list_nodes(request, cluster=cluster_uuid)
        if not nodes:
            raise OpsError(
                "not_found", status_code=404, message_code="cluster_has_no_nodes", field="uuid", lang=request.lang
            )

        plan = _control_plan(nodes, cluster.get("host"), action)
        context = RunContext(principal, "user", f"cluster {action}", None, request.lang)
        logs: list[str] = []
        ok = True
        for node, spec, args in plan:
            typed = spec.args_model.model_validate(args)
            try:
                outcome = await self.runner.execute(context=context, node=node, spec=spec, args=typed, timeout=120)
            except OpsError as error:
                ok = False
                logs.append(f"[{node.name}] {error.message}")
                continue
            ok = ok and outcome.status == "success"
            logs.append(f"[{node.name}] $ {' '.join(spec.build(typed)[0])} ({outcome.status})")
            logs.extend(f"[{node.name}] {line}" for line in (outcome.stdout + outcome.stderr).splitlines())
        return {"ok": ok, "cluster_uuid": cluster_uuid, "action": action, "logs": logs}

    # --- Helpers ---------------------------------------------------------------------------

    def _role_denied(self, spec: CommandSpec, lang: str) -> OpsError:
        return OpsError(
            "not_allowed",
            status_code=403,
            message_code=f"role_denied_{spec.category.value}",
            field="command",
            lang=lang,
        )

    def _typed_args(
        self,
        spec: CommandSpec,
        raw: dict[str, Any],
        node: NodeInfo,
        lang: str,
        *,
        prefix: str = "",
        field: str | None = None,
        status_code: int = 422,
    ):
        try:
            return validate_args(spec, raw, node_scope(node, self.settings))
        except ValidationError as error:
            failures = validation_errors(error, lang, prefix=prefix, field=field)
            if field is not None:
                names = [".".join(str(part) for part in item["loc"]) for item in error.errors()]
                for failure, name in zip(failures, names, strict=True):
                    failure.message = f"{name}: {failure.message}"
            raise ValidationFailed(failures, status_code=status_code) from None

    async def _node_by_uuid(self, request: RpcRequest, node_uuid: str) -> NodeInfo:
        """Find a node by uuid: from the pool for the system principal, else through inventory's ownership check."""
        target = self.pool.node(node_uuid)
        if target is None:
            raise OpsError(
                "not_found", status_code=404, message_code="node_not_found", field="node_uuid", lang=request.lang
            )
        if request.principal is not None and is_system_ai(request.principal):
            return NodeInfo(
                node_uuid=target.node_uuid,
                name=target.name,
                address=target.address,
                cluster_uuid=target.cluster_uuid,
                cluster_name=target.cluster_name,
                log_dirs=tuple(target.log_dirs),
                ssh_user=target.user,
            )
        for node in await self.inventory.list_nodes(request, cluster=target.cluster_uuid):
            if node.node_uuid == node_uuid:
                return node
        raise OpsError(
            "not_found", status_code=404, message_code="node_not_found", field="node_uuid", lang=request.lang
        )

    async def _require_auto_policy(self, request: RpcRequest, node: NodeInfo) -> None:
        cluster = await self.inventory.get_cluster(
            request, cluster=node.cluster_uuid, principal=None, field="node_uuid"
        )
        if cluster.get("repair_policy") != "auto":
            logger.warning(
                "unattended repair rejected: repair policy is not auto cluster=%s policy=%s",
                node.cluster_name,
                cluster.get("repair_policy"),
            )
            raise OpsError(
                "not_allowed", status_code=403, message_code="repair_policy_not_auto", field=None, lang=request.lang
            )

    async def _filtered(self, lines: list[str], pattern: str | None, lang: str) -> list[str]:
        if pattern is None:
            return lines
        try:
            return await filter_lines(pattern, lines, budget=self.settings.pattern_budget_seconds)
        except PatternTimeout:
            raise invalid_field("pattern", "pattern_timeout", lang) from None

    async def _list_files(self, context: RunContext, node: NodeInfo, timeout: float) -> list[LogFile]:
        """List the regular files of every log directory of the node, one ``find`` per directory."""
        spec = COMMANDS["log_files"]
        scope = node_scope(node, self.settings)
        files: list[LogFile] = []
        for directory in scope.log_dirs:
            args = validate_args(spec, {"path": directory}, scope)
            outcome = await self.runner.execute(context=context, node=node, spec=spec, args=args, timeout=timeout)
            files.extend(_parse_listing(directory, outcome.stdout))
        return files

    async def _tail_newest(
        self, context: RunContext, node: NodeInfo, log_type: str, lines: int, timeout: float
    ) -> list[str] | None:
        """Return the last ``lines`` lines of the node's newest file of ``log_type``, or None without one."""
        newest = _newest_of_type(await self._list_files(context, node, timeout), log_type)
        if newest is None:
            return None
        spec = COMMANDS["log_tail"]
        args = validate_args(spec, {"path": newest.path, "lines": lines}, node_scope(node, self.settings))
        outcome = await self.runner.execute(
            context=context,
            node=node,
            spec=spec,
            args=args,
            timeout=timeout,
            max_output=self.settings.log_read_max_output,
        )
        return output_lines(outcome)

    async def _node_entry(self, context: RunContext, node: NodeInfo, log_type: str, lines: int) -> dict | None:
        """Read one node for logs/all: its listing and its tail share the per-node timeout."""
        timeout = self.settings.all_logs_node_timeout
        try:
            read = self._tail_newest(context, node, log_type, lines, timeout / 2)
            content = await asyncio.wait_for(read, timeout + 1)
        except OpsError as error:
            return {"node_name": node.name, "log_type": log_type, "log_content": "", "error": error.code}
        except TimeoutError:
            logger.warning("log read timed out node=%s cluster=%s", node.name, node.cluster_name)
            return {"node_name": node.name, "log_type": log_type, "log_content": "", "error": "timeout"}
        if content is None:
            return None
        return {"node_name": node.name, "log_type": log_type, "log_content": "\n".join(content)}


def output_lines(outcome: RunOutcome) -> list[str]:
    """Split a command's stdout into lines; a line cut by the output limit is dropped."""
    lines = outcome.stdout.splitlines()
    if outcome.truncated and lines and not outcome.stdout.endswith("\n"):
        lines.pop()
    return lines


def _parse_listing(directory: str, stdout: str) -> list[LogFile]:
    """Parse ``find -printf '%T@ %s %f\\0'`` output; names with unusual characters are skipped."""
    files = []
    for entry in stdout.split("\0"):
        parts = entry.split(" ", 2)
        if len(parts) != 3 or not _SAFE_FILE_NAME_RE.fullmatch(parts[2]):
            continue
        try:
            files.append(LogFile(directory, parts[2], float(parts[0]), int(parts[1])))
        except ValueError:
            continue
    return files


def _newest_of_type(files: list[LogFile], log_type: str) -> LogFile | None:
    """Pick the live file of the type (not rotated, not compressed) modified last."""
    candidates = [file for file in files if log_type_from_filename(file.name) == log_type]
    if not candidates:
        return None
    return max(candidates, key=lambda file: (not _ROTATED_RE.search(file.name), file.mtime))


def _check_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise PydanticCustomError("invalid_uuid", "invalid uuid") from None


def _control_plan(
    nodes: list[NodeInfo], master_name: str | None, action: str
) -> list[tuple[NodeInfo, CommandSpec, dict]]:
    """Return (node, command, arguments) steps that start or stop the cluster's daemons."""
    steps = []
    for daemon in CLUSTER_START_ORDER:
        for node in nodes:
            if daemon in node.roles:
                command = "hdfs_daemon" if daemon in HDFS_DAEMONS else "yarn_daemon"
                steps.append((node, COMMANDS[command], {"action": action, "daemon": daemon}))
    if steps:
        return steps if action == "start" else list(reversed(steps))

    master = next((node for node in nodes if node.name == master_name), nodes[0])
    scripts = ("start_dfs", "start_yarn") if action == "start" else ("stop_yarn", "stop_dfs")
    return [(master, COMMANDS[script], {}) for script in scripts]
