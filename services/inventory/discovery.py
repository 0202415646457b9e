"""Discovery of a cluster's workers through its master node.

The collector runs ``hdfs dfsadmin -report`` and ``yarn node -list`` on the master and
returns the hosts it found. Their names and addresses come from a remote system, so each is
checked like user input. A host that fails the check is skipped and listed with the reason. New hosts are
stored as ``discovered`` nodes that use the master's SSH user and log directories, and the
request's ``worker_ssh_port`` or else the master's port. The collector connects to them with
the master's credentials (``credentials_from_node``). After the reply, each new worker's own
log folders are read off the node in the background (``logdirs.probe_workers``).
"""

import logging
import uuid

from pydantic_core import PydanticCustomError

from libs.common.errors import ValidationFailed, field_error
from services.inventory import collector, logdirs, service, validation
from services.inventory.collector import Caller, Credentials
from services.inventory.context import InventoryContext
from services.inventory.flows import get_writable_cluster, hand_over
from services.inventory.models import Node
from services.inventory.schemas import DiscoveredHost, DiscoverOptions

logger = logging.getLogger(__name__)


def check_host(host: DiscoveredHost) -> tuple[str, str, list[str]]:
    """Return the host's (name, address, roles); raise ``PydanticCustomError`` naming what is invalid.

    An address of the form ``IPv4:port`` is accepted and its port dropped, because
    ``dfsadmin -report`` prints data node addresses that way. A host without an address (a
    NodeManager that is no DataNode, as ``yarn node -list`` prints no address) raises
    ``missing_address``. Unknown role names are dropped.
    """
    name = validation.check_hostname(host.name)
    address = host.address.strip()
    if not address:
        raise PydanticCustomError("missing_address", "missing_address")
    if address.count(":") == 1:
        address = address.split(":", 1)[0]
    address = validation.check_ip_address(address)
    roles = []
    for role in host.roles:
        try:
            roles.append(validation.check_role(role))
        except PydanticCustomError:
            continue
    return name, address, sorted(set(roles))


async def discover_workers(
    ctx: InventoryContext, caller: Caller, cluster_uuid: uuid.UUID, options: DiscoverOptions | None = None
) -> dict:
    """Add the workers the master reports as ``discovered`` nodes and update roles of known ones."""
    options = options or DiscoverOptions()
    principal = caller.principal
    assert principal is not None
    async with ctx.db.session() as session:
        cluster = await get_writable_cluster(session, cluster_uuid, principal)
        master = await service.get_master_node(session, cluster=cluster)
    if master is None:
        raise ValidationFailed([field_error("uuid", "no_master_node", caller.lang)], status_code=409)

    reply = await collector.discover(ctx, caller, cluster_uuid=cluster.uuid, node_uuid=master.uuid)
    hosts, skipped = [], []
    for host in reply.hosts:
        try:
            hosts.append(check_host(host))
        except PydanticCustomError as error:
            skipped.append({"name": host.name[:253], "reason": error.type})

    added, existing = [], []
    async with ctx.db.session() as session:
        cluster = await get_writable_cluster(session, cluster_uuid, principal)
        known = list(await service.list_nodes(session, cluster_uuid=cluster.uuid))
        planned = []
        for name, address, roles in hosts:
            node = _find_known(known, name, address)
            if node is not None:
                await service.update_node_roles(session, node=node, roles=roles)
                existing.append(node.name)
                continue
            values = _discovered_values(master, name, address, roles, options.worker_ssh_port)
            node = await service.create_node(session, values=values, field="hosts", lang=caller.lang)
            known.append(node)
            planned.append((f"hosts[{name}]", node, Credentials()))
            added.append(name)
        # NOTE: no limit on the number of new workers here. Hundreds of them can outlast the
        # gateway's timeout (10 seconds by default) while the collector stores them one by one.
        await hand_over(ctx, caller, cluster, planned, credentials_from=master.uuid)
        await service.refresh_health(session, cluster_uuids={cluster.uuid})

    # The nodes are committed now, so the probe's own transaction finds them.
    logdirs.start_probe(ctx, caller, cluster.uuid, [node.uuid for _, node, _ in planned], list(master.log_dirs))
    logger.info(
        "workers discovered cluster=%s master=%s added=%d existing=%d skipped=%d",
        cluster.uuid,
        master.uuid,
        len(added),
        len(existing),
        len(skipped),
    )
    return {"ok": True, "added": added, "existing": existing, "skipped": skipped}


def _find_known(nodes: list[Node], name: str, address: str) -> Node | None:
    """Return the node with this name, else the one with this address (hosts reported by address)."""
    lowered = name.lower()
    by_name = next((node for node in nodes if node.name.lower() == lowered), None)
    return by_name or next((node for node in nodes if node.ip == address), None)


def _discovered_values(master: Node, name: str, address: str, roles: list[str], port: int | None) -> dict:
    return {
        "uuid": uuid.uuid4(),
        "cluster_uuid": master.cluster_uuid,
        "name": name,
        "ip": address,
        "ssh_port": port or master.ssh_port,
        "ssh_user": master.ssh_user,
        "log_dirs": list(master.log_dirs),
        "roles": roles,
        "source": "discovered",
        "credentials_from": master.uuid,
    }
