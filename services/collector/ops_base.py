"""The caller and parameter checks shared by every group of operations endpoints."""

from typing import Any

from pydantic import ValidationError

from libs.common.errors import Forbidden, Unauthorized, ValidationFailed
from libs.common.rpc import Principal, RpcRequest
from services.collector.command_catalog import CommandSpec, validate_args
from services.collector.commands import CommandRunner
from services.collector.inventory_client import Inventory
from services.collector.node_info import NodeInfo, node_scope
from services.collector.ops_errors import OpsError, invalid_field, validation_errors
from services.collector.ops_settings import OpsSettings
from services.collector.policy import ROLE_RANK, is_system_ai
from services.collector.ssh import SshPool


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


class OpsEndpointBase:
    """The runner, inventory client, settings and SSH pool that every endpoint group uses."""

    def __init__(self, *, runner: CommandRunner, inventory: Inventory, settings: OpsSettings, pool: SshPool) -> None:
        self.runner = runner
        self.inventory = inventory
        self.settings = settings
        self.pool = pool

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
            return NodeInfo.from_target(target)
        for node in await self.inventory.list_nodes(request, cluster=target.cluster_uuid):
            if node.node_uuid == node_uuid:
                return node
        raise OpsError(
            "not_found", status_code=404, message_code="node_not_found", field="node_uuid", lang=request.lang
        )
