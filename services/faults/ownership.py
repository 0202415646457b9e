"""The clusters a caller may see, asked from the inventory service once per request.

Incidents and log records carry the cluster id that the collector put in its events (the
cluster's uuid). Inventory's ``clusters.list`` returns the caller's clusters (every cluster
for an admin) with uuid and name, which gives both the allowed clusters and the names to show.
"""

import logging
from dataclasses import dataclass, field

from libs.common.errors import Forbidden, ServiceError, Unavailable
from libs.common.rpc import Principal, RpcClient, RpcRequest

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ClusterScope:
    """The clusters visible to one principal: cluster names by cluster uuid.

    ``unrestricted`` is True for admins and for internal callers without a principal.
    ``names_known`` is False when inventory was not asked or did not answer, so that
    ``cluster_names`` cannot tell whether a cluster exists.
    """

    unrestricted: bool
    cluster_names: dict[str, str] = field(default_factory=dict)
    names_known: bool = True

    def allows(self, cluster: str) -> bool:
        return self.unrestricted or cluster in self.cluster_names

    def visible_clusters(self) -> list[str] | None:
        """Return the cluster ids a query must be limited to, or None for no limit."""
        return None if self.unrestricted else sorted(self.cluster_names)

    def resolve(self, value: str) -> list[str]:
        """Return the cluster ids that ``value`` (a uuid or a name) stands for within this scope.

        The list is empty when ``value`` names no cluster the caller may see. Without the
        cluster names, an unrestricted caller's ``value`` is taken as a cluster id.
        """
        if value in self.cluster_names:
            return [value]
        matches = [uuid for uuid, name in self.cluster_names.items() if name == value]
        if matches or self.names_known or not self.unrestricted:
            return matches
        return [value]

    def display_name(self, cluster: str) -> str:
        return self.cluster_names.get(cluster, cluster)


async def scope_for(client: RpcClient, request: RpcRequest) -> ClusterScope:
    """Ask inventory which clusters ``request.principal`` owns.

    Admins get an unrestricted scope even when inventory is unavailable, only without cluster
    names. Other callers get ``Unavailable`` in that case, never a wider view.
    """
    principal = request.principal
    unrestricted = principal is None or principal.is_admin
    if principal is None:
        return ClusterScope(unrestricted=True, names_known=False)

    try:
        body = await client.call_ok(
            "inventory",
            "clusters.list",
            RpcRequest(principal=principal, lang=request.lang, request_id=request.request_id),
            timeout=5.0,
        )
    except Unavailable:
        if unrestricted:
            logger.warning("inventory unavailable; admin scope without cluster names request_id=%s",
                           request.request_id)
            return ClusterScope(unrestricted=True, names_known=False)
        raise Unavailable() from None
    except ServiceError as error:
        logger.warning("inventory rejected the ownership query user=%s status=%d code=%s",
                       principal.username, error.status_code, error.code)
        if unrestricted:
            return ClusterScope(unrestricted=True, names_known=False)
        raise Forbidden() from None

    clusters = body.get("clusters", []) if isinstance(body, dict) else []
    scope = ClusterScope(unrestricted=unrestricted)
    for cluster in clusters:
        if isinstance(cluster, dict) and cluster.get("uuid"):
            scope.cluster_names[str(cluster["uuid"])] = str(cluster.get("name") or cluster["uuid"])
    return scope


async def resolve_cluster(client: RpcClient, request: RpcRequest, value: str) -> str | None:
    """Return the uuid of cluster ``value`` (uuid or name) from inventory's ``clusters.get``.

    Returns None when inventory has no such cluster or the caller does not own it, because a
    caller must not learn that another user's cluster exists. Raises ``Unavailable`` when inventory is
    unavailable.
    """
    principal: Principal | None = request.principal
    reply = await client.call(
        "inventory",
        "clusters.get",
        RpcRequest(principal=principal, body={"cluster": value}, lang=request.lang, request_id=request.request_id),
        timeout=5.0,
    )
    if reply.status in (403, 404):
        return None
    if reply.status >= 300 or not isinstance(reply.body, dict):
        raise Unavailable()
    body = reply.body
    return str(body.get("cluster_uuid") or body.get("uuid") or value)


async def node_exists(client: RpcClient, request: RpcRequest, cluster: str, name: str) -> bool:
    """Tell whether cluster ``cluster`` has a node called ``name``, by inventory's ``nodes.resolve``.

    Inventory returns 404 for a node of a cluster the caller does not own, so that is False too.
    """
    reply = await client.call(
        "inventory",
        "nodes.resolve",
        RpcRequest(
            principal=request.principal,
            body={"name": name, "cluster": cluster},
            lang=request.lang,
            request_id=request.request_id,
        ),
        timeout=5.0,
    )
    if reply.status >= 500:
        raise Unavailable()
    return reply.status < 300
