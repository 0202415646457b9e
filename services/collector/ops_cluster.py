"""The cluster start and stop endpoints, which run each node's daemons in dependency order."""

import uuid

from pydantic_core import PydanticCustomError

from libs.common.rpc import RpcRequest
from services.collector.command_catalog import COMMANDS, CommandSpec, daemon_tool
from services.collector.commands import RunContext
from services.collector.node_info import NodeInfo
from services.collector.ops_base import OpsEndpointBase, checked_param, require_principal
from services.collector.ops_errors import OpsError

# The JobHistoryServer starts last because it reads the history of finished MapReduce jobs from HDFS.
CLUSTER_START_ORDER = (
    "namenode",
    "secondarynamenode",
    "journalnode",
    "datanode",
    "resourcemanager",
    "nodemanager",
    "historyserver",
)


class ClusterControlEndpoints(OpsEndpointBase):
    """``ops.cluster_start`` and ``ops.cluster_stop``."""

    async def cluster_start(self, request: RpcRequest) -> dict:
        return await self._cluster_control(request, "start")

    async def cluster_stop(self, request: RpcRequest) -> dict:
        return await self._cluster_control(request, "stop")

    async def _cluster_control(self, request: RpcRequest, action: str) -> dict:
        """Start or stop a cluster's Hadoop daemons one by one (``POST /ops/clusters/{uuid}/start|stop``).

        Each node with roles in inventory gets ``hdfs|yarn|mapred --daemon ACTION DAEMON`` for
        each of its daemons, in dependency order (reversed to stop). When inventory lists no
        roles, the master runs ``start-dfs.sh`` and ``start-yarn.sh`` (or the stop scripts),
        which leave the JobHistoryServer alone.
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
                command = COMMANDS[f"{daemon_tool(daemon)}_daemon"]
                steps.append((node, command, {"action": action, "daemon": daemon}))
    if steps:
        return steps if action == "start" else list(reversed(steps))

    master = next((node for node in nodes if node.name == master_name), nodes[0])
    scripts = ("start_dfs", "start_yarn") if action == "start" else ("stop_yarn", "stop_dfs")
    return [(master, COMMANDS[script], {}) for script in scripts]
