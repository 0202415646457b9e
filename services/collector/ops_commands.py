"""The command endpoints: a policy command by id for other services, and free text for people."""

import logging

from libs.common.rpc import RpcRequest
from services.collector.command_catalog import (
    COMMANDS,
    Category,
    CommandLineError,
    match_command,
    split_command_line,
)
from services.collector.commands import RunContext
from services.collector.node_info import NodeInfo
from services.collector.ops_base import OpsEndpointBase, checked_param, require_principal
from services.collector.ops_errors import OpsError, invalid_field
from services.collector.ops_models import ExecuteRequest, RunCommandRequest, check_node_name
from services.collector.policy import authorize

logger = logging.getLogger(__name__)


class CommandEndpoints(OpsEndpointBase):
    """``commands.run`` and ``ops.execute``."""

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
