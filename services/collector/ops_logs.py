"""The log reading endpoints: read-log, the internal tail, and the views of a node's newest log files."""

import asyncio
import logging
import re
from dataclasses import dataclass

from libs.common.logformat import log_type_from_filename
from libs.common.rpc import RpcRequest
from services.collector.command_catalog import COMMANDS, validate_args
from services.collector.commands import RunContext, RunOutcome
from services.collector.line_filter import PatternTimeout, filter_lines
from services.collector.node_info import NodeInfo, node_scope
from services.collector.ops_base import OpsEndpointBase, checked_param, require_principal
from services.collector.ops_errors import OpsError, invalid_field
from services.collector.ops_models import LogQuery, ReadLogRequest, TailRequest, check_log_type, check_node_name
from services.collector.policy import authorize, is_system_ai

logger = logging.getLogger(__name__)

# A rotated copy (".log.1") or a compressed one is older than the live file of its type.
_ROTATED_RE = re.compile(r"\.\d+$|\.gz$")
_SAFE_FILE_NAME_RE = re.compile(r"^[A-Za-z0-9._,+=@:-]+$")

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


@dataclass(frozen=True)
class LogFile:
    directory: str
    name: str
    mtime: float
    size: int

    @property
    def path(self) -> str:
        return f"{self.directory.rstrip('/')}/{self.name}"


class LogEndpoints(OpsEndpointBase):
    """``ops.read_log``, ``logs.tail`` and the ``logs.*`` views."""

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

        context = RunContext(principal, "user", f"read-log {body.path}", None, request.lang)
        outcome = await self._tail_file(context, node, body.path, body.lines, body.timeout)
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
            lines = output_lines(await self._tail_file(context, node, body.path, body.lines, body.timeout))
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

    async def _tail_file(
        self, context: RunContext, node: NodeInfo, path: str, lines: int, timeout: float
    ) -> RunOutcome:
        """Run the policy's ``tail`` command on ``path``, if the caller's role and actor may run it."""
        spec = COMMANDS["tail"]
        if not authorize(spec, context.principal, actor=context.actor).allowed:
            raise self._role_denied(spec, context.lang)
        args = self._typed_args(spec, {"path": path, "lines": lines}, node, context.lang)
        return await self.runner.execute(
            context=context,
            node=node,
            spec=spec,
            args=args,
            timeout=timeout,
            max_output=self.settings.log_read_max_output,
        )

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
