"""The collector's operations endpoints: commands, log reading, cluster start and stop.

``register`` adds every endpoint to the collector's RPC service. Gateway routes reach
``ops.*``, ``logs.*`` (the log reading endpoints) and ``exec_logs.*``. The AI service and
other services call ``commands.run`` and ``logs.tail``, which the gateway never routes.

Every handler checks the caller's role, has inventory check the cluster ownership, and
validates every argument before anything runs on a node.
"""

import logging
from typing import Any

from libs.common.service import ServiceContext
from services.collector.commands import CommandRunner
from services.collector.exec_models import ExecLogHandlers
from services.collector.inventory_client import Inventory
from services.collector.ops_cluster import ClusterControlEndpoints
from services.collector.ops_commands import CommandEndpoints
from services.collector.ops_logs import LogEndpoints
from services.collector.ops_settings import OpsSettings
from services.collector.ssh import SshPool

logger = logging.getLogger(__name__)


def register(ctx: ServiceContext, pool: SshPool, settings: Any) -> None:
    """Add the operations endpoints to the collector's RPC service."""
    ops_settings = OpsSettings()
    inventory = Inventory(ctx.client, timeout=getattr(settings, "inventory_timeout", 10.0))
    runner = CommandRunner(pool=pool, db=ctx.db, settings=ops_settings)
    handlers = OpsHandlers(runner=runner, inventory=inventory, settings=ops_settings, pool=pool)
    exec_logs = ExecLogHandlers(ctx.db, inventory)
    ctx.rpc.add_all({**handlers.operations(), **exec_logs.operations()})
    logger.info("ops endpoints registered temp_roots=%s", ops_settings.temp_roots)


class OpsHandlers(CommandEndpoints, LogEndpoints, ClusterControlEndpoints):
    """The endpoint functions, bound to one runner and one inventory client."""

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
