"""Running policy commands on nodes: node lookup, path confinement, execution and the exec log.

``CommandRunner.execute`` is the one way a policy command reaches a node. It first confines
path arguments on the node itself with ``readlink -m``, run as the policy's ``path_resolve``
command, which catches a symbolic link out of a log directory. Then it builds the argv from
the validated arguments and writes the exec log row before the run and completes it after.
"""

import asyncio
import json
import logging
import re
import sys
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.db import Database
from libs.common.errors import Forbidden, ServiceError, Unavailable, ValidationFailed, field_error
from libs.common.i18n import message
from libs.common.rpc import Principal, RpcClient, RpcRequest
from services.collector import exec_models
from services.collector.policy import (
    COMMANDS,
    Args,
    CommandSpec,
    NodeScope,
    command_text,
    normalise_path,
    pattern_shape,
    validate_args,
)
from services.collector.ssh import NodeUnreachable, SshPool, UnknownNode

logger = logging.getLogger(__name__)


class OpsSettings(BaseSettings):
    """Settings of command runs and log reads, from ``HFD_COLLECTOR_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="HFD_COLLECTOR_", extra="ignore")

    temp_roots: str = Field(
        default="/tmp/hadoop-{user}",  # noqa: S108 - Hadoop's default hadoop.tmp.dir, on the node
        description="Comma-separated directories whose contents clean_temp_dir may delete; {node} and {user} "
        "are replaced by the node's name and SSH user.",
    )
    command_max_output: int = Field(default=1_048_576, ge=1024, description="Bytes of output kept per command.")
    log_read_max_output: int = Field(default=4 * 1_048_576, ge=1024, description="Bytes kept per log read.")
    pattern_budget_seconds: float = Field(
        default=3.0, gt=0, le=60, description="Seconds a read-log pattern may spend on the fetched lines."
    )
    all_logs_node_timeout: float = Field(default=15.0, gt=0, le=300, description="Seconds per node for logs/all.")
    all_logs_max_lines: int = Field(default=20_000, ge=1, description="Lines returned by logs/all in total.")
    all_logs_concurrency: int = Field(default=8, ge=1, le=64, description="Nodes that logs/all reads at once.")


# --- Errors ------------------------------------------------------------------------------


class OpsError(ServiceError):
    """An error with a string ``detail`` (as the contract's 403 and 404), the field, and a message."""

    def __init__(self, detail: str, *, status_code: int, message_code: str, field: str | None, lang: str, **values):
        super().__init__(detail, status_code=status_code)
        self.field = field
        self.message = message(message_code, lang, **values)  # type: ignore[arg-type]

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


def invalid_field(field: str, code: str, lang: str, status_code: int = 422, **values: object) -> ValidationFailed:
    return ValidationFailed([field_error(field, code, lang, **values)], status_code=status_code)


def validation_errors(error: ValidationError, lang: str, *, prefix: str = "", field: str | None = None) -> list:
    """Turn pydantic errors into field errors, keeping i18n codes raised by the validators."""
    failures = []
    for item in error.errors():
        name = field or prefix + ".".join(str(part) for part in item["loc"])
        if item["type"] == "missing":
            code = "field_required"
        elif message(item["type"], "en") != item["type"]:
            code = item["type"]
        else:
            code = "invalid_value"
        failure = field_error(name or "body", code, lang, **item.get("ctx", {}))
        if code == "invalid_value":
            failure.message = f"{failure.message}: {item['msg']}"
        failures.append(failure)
    return failures


class PatternTimeout(Exception):
    """The pattern did not finish on the fetched lines within the budget."""


# Runs in a child interpreter, so that a pattern that takes too long can be killed.
_FILTER_PROGRAM = (
    "import json, re, sys\n"
    "request = json.load(sys.stdin)\n"
    "pattern = re.compile(request['pattern'])\n"
    "json.dump([i for i, line in enumerate(request['lines']) if pattern.search(line)], sys.stdout)\n"
)


async def filter_lines(pattern: str, lines: list[str], *, budget: float) -> list[str]:
    """Return the lines that ``pattern`` matches, or raise ``PatternTimeout`` after ``budget`` seconds.

    A pattern without repeats runs in this process, because it takes time linear in the line
    length. Others run in a child interpreter that is killed when the budget runs out.
    """
    if pattern_shape(pattern).repeats == 0:
        compiled = re.compile(pattern)
        return [line for line in lines if compiled.search(line)]

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        "-c",
        _FILTER_PROGRAM,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    payload = json.dumps({"pattern": pattern, "lines": lines}).encode()
    try:
        output, _ = await asyncio.wait_for(process.communicate(payload), timeout=budget)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise PatternTimeout() from None
    if process.returncode != 0:
        raise PatternTimeout()
    return [lines[index] for index in json.loads(output)]


# --- Nodes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInfo:
    """A node as the ops side uses it, from inventory (ownership checked) or the SSH pool."""

    node_uuid: str
    name: str
    address: str
    cluster_uuid: str
    cluster_name: str
    log_dirs: tuple[str, ...]
    ssh_user: str
    roles: tuple[str, ...] = ()

    @classmethod
    def from_inventory(cls, data: dict[str, Any]) -> "NodeInfo":
        return cls(
            node_uuid=str(data["node_uuid"]),
            name=data["name"],
            address=data.get("address", ""),
            cluster_uuid=str(data["cluster_uuid"]),
            cluster_name=data["cluster_name"],
            log_dirs=tuple(data.get("log_dirs") or ()),
            ssh_user=data.get("ssh_user", ""),
            roles=tuple(data.get("roles") or ()),
        )


class Inventory:
    """The inventory calls of the ops side; error replies become the errors that HTTP callers receive."""

    def __init__(self, client: RpcClient, timeout: float = 10.0) -> None:
        self.client = client
        self.timeout = timeout

    async def call(self, operation: str, body: dict[str, Any], *, principal: Principal | None, request: RpcRequest):
        envelope = RpcRequest(principal=principal, body=body, lang=request.lang, request_id=request.request_id)
        reply = await self.client.call("inventory", operation, envelope, timeout=self.timeout)
        return reply.status, reply.body

    async def resolve_node(self, request: RpcRequest, *, name: str, cluster: str | None, field: str) -> NodeInfo:
        status, body = await self.call(
            "nodes.resolve", {"name": name, "cluster": cluster}, principal=request.principal, request=request
        )
        if status == 200:
            return NodeInfo.from_inventory(body)
        raise self._error(status, body, request.lang, field=field, what="node_not_found")

    async def list_nodes(self, request: RpcRequest, *, cluster: str | None) -> list[NodeInfo]:
        status, body = await self.call(
            "nodes.list_for_principal", {"cluster": cluster}, principal=request.principal, request=request
        )
        if status == 200:
            return [NodeInfo.from_inventory(item) for item in body.get("nodes", [])]
        raise self._error(status, body, request.lang, field="cluster", what="cluster_not_found")

    async def visible_cluster_uuids(self, request: RpcRequest) -> set[str]:
        """Return the uuids of the clusters the caller may see (inventory's ``clusters.list``)."""
        status, body = await self.call("clusters.list", {}, principal=request.principal, request=request)
        if status != 200:
            raise self._error(status, body, request.lang, field="cluster", what="cluster_not_found")
        return {str(item["uuid"]) for item in body.get("clusters", [])}

    async def get_cluster(self, request: RpcRequest, *, cluster: str, principal: Principal | None, field: str):
        status, body = await self.call("clusters.get", {"cluster": cluster}, principal=principal, request=request)
        if status == 200:
            return body
        raise self._error(status, body, request.lang, field=field, what="cluster_not_found")

    def _error(self, status: int, body: Any, lang: str, *, field: str, what: str) -> ServiceError:
        detail = body.get("detail") if isinstance(body, dict) else None
        if status == 404:
            return OpsError("not_found", status_code=404, message_code=what, field=field, lang=lang)
        if status == 403:
            return Forbidden()
        if status == 409:
            return OpsError(str(detail), status_code=409, message_code="ambiguous_node", field="cluster", lang=lang)
        if status in (400, 422):
            return invalid_field(field, "invalid_value", lang)
        logger.warning("inventory call failed status=%s detail=%s", status, detail)
        return Unavailable()


def node_scope(node: NodeInfo, settings: OpsSettings) -> NodeScope:
    """Return the node's log directories and temporary roots in normal form; invalid entries are dropped."""
    log_dirs = _valid_paths(node.log_dirs, node)
    templates = [part.strip() for part in settings.temp_roots.split(",") if part.strip()]
    expanded = [template.replace("{node}", node.name).replace("{user}", node.ssh_user) for template in templates]
    temp_roots = [root for root in _valid_paths(expanded, node) if root != "/"]
    return NodeScope(log_dirs=tuple(log_dirs), temp_roots=tuple(temp_roots))


def _valid_paths(paths: Any, node: NodeInfo) -> list[str]:
    valid = []
    for path in paths:
        try:
            valid.append(normalise_path(str(path)))
        except PydanticCustomError:
            logger.warning("invalid directory ignored node=%s cluster=%s", node.name, node.cluster_name)
    return valid


# --- Running -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunContext:
    """The principal, actor and reason of an authorised run, as the exec log records them."""

    principal: Principal
    actor: str
    description: str | None
    fault_id: str | None
    lang: str


@dataclass
class RunOutcome:
    exec_id: str
    log_id: int
    exit_code: int | None
    stdout: str
    stderr: str
    status: str
    duration_ms: int
    truncated: bool

    def reply(self) -> dict[str, Any]:
        return {
            "exec_id": self.exec_id,
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "truncated": self.truncated,
        }


class CommandRunner:
    """Runs authorised policy commands on nodes and records each run in the exec log."""

    def __init__(self, *, pool: SshPool, db: Database, settings: OpsSettings) -> None:
        self.pool = pool
        self.db = db
        self.settings = settings

    async def execute(
        self,
        *,
        context: RunContext,
        node: NodeInfo,
        spec: CommandSpec,
        args: Args,
        timeout: float,
        max_output: int | None = None,
    ) -> RunOutcome:
        """Confine path arguments on the node, then run the command and record it.

        The caller has already authorised ``spec`` for ``context.principal``. Raises
        ``ValidationFailed`` when a path leaves its directories through a symbolic link and
        ``OpsError`` (503) when the node cannot be reached.

        NOTE: the link check runs just before the command, not atomically with it. An account
        that can write in the log directory could swap a file for a link in between; the SSH
        user's own file permissions are the last boundary.
        """
        if spec.remote_path_args:
            args = await self._confine_paths(context, node, spec, args, timeout)
        steps = spec.build(args)
        return await self._run(context, node, spec.id, steps, timeout, max_output or self.settings.command_max_output)

    async def _confine_paths(
        self, context: RunContext, node: NodeInfo, spec: CommandSpec, args: Args, timeout: float
    ) -> Args:
        scope = node_scope(node, self.settings)
        asked = [getattr(args, name) for name in spec.remote_path_args]
        roots = [*scope.log_dirs, *scope.temp_roots]
        resolve = COMMANDS["path_resolve"]
        try:
            resolve_args = resolve.args_model.model_validate({"paths": [*asked, *roots]})
        except ValidationError:
            raise invalid_field(spec.remote_path_args[0], "path_check_failed", context.lang) from None
        check = RunContext(
            context.principal, context.actor, f"path check for {spec.id}", context.fault_id, context.lang
        )

        outcome = await self._run(check, node, resolve.id, resolve.build(resolve_args), timeout, 65536)
        resolved = outcome.stdout.split("\0")[:-1] if outcome.stdout.endswith("\0") else []
        if outcome.status != "success" or len(resolved) != len(asked) + len(roots):
            logger.warning("path check failed node=%s command=%s status=%s", node.name, spec.id, outcome.status)
            raise invalid_field(spec.remote_path_args[0], "path_check_failed", context.lang)

        real_scope = NodeScope(
            log_dirs=tuple(resolved[len(asked) : len(asked) + len(scope.log_dirs)]),
            temp_roots=tuple(resolved[len(asked) + len(scope.log_dirs) :]),
        )
        values = {**args.model_dump(), **dict(zip(spec.remote_path_args, resolved[: len(asked)], strict=True))}
        try:
            return validate_args(spec, values, real_scope)
        except ValidationError:
            logger.warning(
                "path rejected: a symbolic link leads outside its directories node=%s cluster=%s command=%s",
                node.name,
                node.cluster_name,
                spec.id,
            )
            raise invalid_field(spec.remote_path_args[0], "path_symlink_outside", context.lang) from None

    async def _run(
        self,
        context: RunContext,
        node: NodeInfo,
        command_id: str,
        steps: list[list[str]],
        timeout: float,
        max_output: int,
    ) -> RunOutcome:
        principal = context.principal
        start = exec_models.RunStart(
            from_user_id=principal.user_id,
            username=principal.username,
            cluster_uuid=node.cluster_uuid,
            cluster_name=node.cluster_name,
            node_uuid=node.node_uuid,
            node=node.name,
            command_type=command_id,
            command=command_text(steps),
            description=context.description,
            fault_id=context.fault_id,
            actor=context.actor,
        )
        async with self.db.session() as session:
            row = await exec_models.start_run(session, run=start)
            log_id, exec_id = row.id, row.exec_id
        logger.info(
            "command started exec_id=%s node=%s cluster=%s command=%s user=%s actor=%s",
            exec_id,
            node.name,
            node.cluster_name,
            command_id,
            principal.username,
            context.actor,
        )

        try:
            outcome = await self._run_steps(node, steps, timeout, max_output)
        except asyncio.CancelledError:
            # The caller gave up (a per-node deadline of logs/all); the row must not stay "running".
            await asyncio.shield(self._finish(log_id, exec_models.RunEnd(None, "timeout", 0, 0, False)))
            raise
        except (NodeUnreachable, UnknownNode) as error:
            await self._finish(log_id, exec_models.RunEnd(None, "unreachable", 0, 0, False))
            logger.warning("command failed: node unreachable exec_id=%s node=%s error=%s", exec_id, node.name, error)
            raise OpsError(
                "node_unreachable",
                status_code=503,
                message_code="node_unreachable",
                field=None,
                lang=context.lang,
                node=node.name,
            ) from None

        outcome.exec_id, outcome.log_id = exec_id, log_id
        output_bytes = len(outcome.stdout.encode()) + len(outcome.stderr.encode())
        end = exec_models.RunEnd(
            outcome.exit_code, outcome.status, outcome.duration_ms, output_bytes, outcome.truncated
        )
        await self._finish(log_id, end)
        logger.info(
            "command finished exec_id=%s node=%s command=%s status=%s exit_code=%s duration_ms=%d",
            exec_id,
            node.name,
            command_id,
            outcome.status,
            outcome.exit_code,
            outcome.duration_ms,
        )
        return outcome

    async def _run_steps(self, node: NodeInfo, steps: list[list[str]], timeout: float, max_output: int) -> RunOutcome:
        """Run the steps in order; a step that times out ends the run. The last exit code counts."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        stdout, stderr = [], []
        outcome = RunOutcome("", 0, None, "", "", "failed", 0, False)

        for argv in steps:
            remaining = max(1.0, deadline - loop.time())
            result = await self.pool.run(node.node_uuid, argv, timeout=remaining, max_output=max_output)
            stdout.append(result.stdout)
            stderr.append(result.stderr)
            outcome.duration_ms += result.duration_ms
            outcome.truncated = outcome.truncated or result.truncated
            outcome.exit_code = result.exit_code
            if result.timed_out:
                outcome.status = "timeout"
                break
            outcome.status = "success" if result.exit_code == 0 else "failed"

        outcome.stdout, outcome.stderr = "".join(stdout), "".join(stderr)
        return outcome

    async def _finish(self, log_id: int, end: exec_models.RunEnd) -> None:
        async with self.db.session() as session:
            await exec_models.finish_run(session, log_id=log_id, end=end)
