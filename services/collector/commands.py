"""Running policy commands on nodes: path confinement, execution and the exec log.

``CommandRunner.execute`` is the one way a policy command reaches a node. It first confines
path arguments on the node itself with ``readlink -m``, run as the policy's ``path_resolve``
command, which catches a symbolic link out of a log directory. Then it builds the argv from
the validated arguments and writes the exec log row before the run and completes it after.
"""

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from libs.common.db import Database
from libs.common.log_dirs import allowed_log_dirs
from libs.common.rpc import Principal
from services.collector import exec_models
from services.collector.command_args import Args
from services.collector.command_catalog import COMMANDS, CommandSpec, command_text, validate_args
from services.collector.node_info import NodeInfo, node_scope
from services.collector.ops_errors import OpsError, invalid_field
from services.collector.ops_settings import OpsSettings
from services.collector.remote_paths import NodeScope
from services.collector.ssh import SshPool
from services.collector.ssh_errors import NodeUnreachable, UnknownNode

logger = logging.getLogger(__name__)


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

        # A log folder that is a symbolic link into a system folder must not open that folder.
        real_log_dirs, rejected = allowed_log_dirs(resolved[len(asked) : len(asked) + len(scope.log_dirs)])
        if rejected:
            logger.warning(
                "log folders ignored: their real path breaks the log folder rule node=%s cluster=%s folders=%s",
                node.name,
                node.cluster_name,
                ",".join(repr(folder)[:200] for folder in rejected),
            )
        real_scope = NodeScope(
            log_dirs=tuple(real_log_dirs),
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
