"""The command policy: the roles that may run each category of command.

Roles and categories:

* ``log_view``: bounded reads behind the log endpoints (list the log files, tail the newest
  file of a log type, resolve a path with ``readlink``). Every role, observers included, because
  they only show logs of clusters the caller may already see.
* ``read_only``: diagnostics a person or the AI chooses (``hdfs dfsadmin -report``, ``jps``,
  ``tail`` of a log file, ...). Operators and admins.
* ``service_control`` (start or stop a daemon, leave safe mode) and ``maintenance`` (clean a
  temporary directory): admins only.

The AI service calls ``commands.run`` with ``actor: "ai"`` and the principal of the user it acts
for, so the same role rules apply. Unattended repairs use the system principal
``SYSTEM_AI_PRINCIPAL`` (an operator). It may run a ``service_control`` or ``maintenance`` command
only when the request carries ``policy_override: "auto_repair"`` and ``safe_action: true``
(the AI service marks an action safe from the fault catalog's playbook), and the cluster's
``repair_policy`` in inventory is ``auto``. The collector checks that last condition itself.
"""

from dataclasses import dataclass
from typing import Literal

from libs.common.rpc import Principal
from services.collector.command_catalog import Category, CommandSpec

Actor = Literal["user", "ai"]
AUTO_REPAIR_OVERRIDE = "auto_repair"
SYSTEM_AI_PRINCIPAL = Principal(user_id=0, username="hfd-ai", role="operator")

ROLE_RANK = {"observer": 0, "operator": 1, "admin": 2}
CATEGORY_MIN_ROLE = {
    Category.LOG_VIEW: "observer",
    Category.READ_ONLY: "operator",
    Category.SERVICE_CONTROL: "admin",
    Category.MAINTENANCE: "admin",
}


@dataclass(frozen=True)
class Decision:
    """Outcome of ``authorize``: allowed, or a reason code for the log and the caller."""

    allowed: bool
    reason: str = ""
    needs_auto_policy: bool = False


def is_system_ai(principal: Principal) -> bool:
    return principal.user_id == SYSTEM_AI_PRINCIPAL.user_id and principal.username == SYSTEM_AI_PRINCIPAL.username


def authorize(
    spec: CommandSpec,
    principal: Principal,
    *,
    actor: Actor,
    policy_override: str | None = None,
    safe_action: bool = False,
) -> Decision:
    """Decide whether ``principal`` may run ``spec``, before anything touches the node.

    A decision with ``needs_auto_policy`` is allowed only if the cluster's repair policy is
    ``auto``, which the caller checks with inventory.
    """
    if ROLE_RANK[principal.role] >= ROLE_RANK[CATEGORY_MIN_ROLE[spec.category]]:
        return Decision(True)

    unattended = actor == "ai" and is_system_ai(principal) and policy_override == AUTO_REPAIR_OVERRIDE
    if unattended and spec.category in (Category.SERVICE_CONTROL, Category.MAINTENANCE):
        if not safe_action:
            return Decision(False, "action_not_marked_safe")
        return Decision(True, needs_auto_policy=True)

    return Decision(False, f"role_{principal.role}_cannot_run_{spec.category.value}")
