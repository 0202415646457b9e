"""Who may run which repair, under the cluster's repair policy.

- ``off``: no proposal ever runs; proposals are recorded as skipped.
- ``suggest`` (the default): proposals wait for a person's approval.
- ``auto``: actions the catalog marks safe run without a person; the others wait.

A person's request (``auto`` true in ``POST /ai/diagnose-repair``, or an approval) is held
to the caller's role as well: observers never repair, operators run safe actions only,
admins any action. Actions marked ``person_only`` run only through an explicit approval.
"""

from typing import Literal

from services.ai.repairs.actions import RepairAction

RepairPolicy = Literal["off", "suggest", "auto"]
Decision = Literal["run", "pending", "skipped"]
REPAIR_POLICIES: tuple[str, ...] = ("off", "suggest", "auto")


def normalise_policy(value: object) -> RepairPolicy:
    """Return the policy, treating a missing or unknown value as ``suggest``."""
    return value if value in REPAIR_POLICIES else "suggest"  # type: ignore[return-value]


def decide_unattended(policy: RepairPolicy, action: type[RepairAction], safe: bool) -> Decision:
    """Decide what happens to a proposal of a diagnosis that no person asked for."""
    if policy == "off":
        return "skipped"
    if policy == "auto" and safe and not action.person_only:
        return "run"
    return "pending"


def decide_requested(policy: RepairPolicy, role: str, auto: bool, action: type[RepairAction], safe: bool) -> Decision:
    """Decide what happens to a proposal of a diagnosis a person requested with ``auto``."""
    if policy == "off":
        return "skipped"
    if not auto or action.person_only or not may_run(role, safe):
        return "pending"
    return "run"


def may_run(role: str, safe: bool) -> bool:
    """Tell whether a person with ``role`` may run (or approve) an action of that safety."""
    if role == "admin":
        return True
    return role == "operator" and safe
