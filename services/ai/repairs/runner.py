"""The one guarded path every repair takes: checks, commands, post-check, resolution.

Steps:

1. Mark the repair running, only from ``pending``, so two approvals cannot both run it.
2. Check the action's own limits (the temp roots of ``clean_temp_dir``).
3. Run its read-only precondition commands and judge their output.
4. Run its commands through the collector's ``commands.run`` with ``actor: "ai"``.
5. Run its verification commands, wait the check window, and ask the faults service
   whether the incident had new occurrences.
6. Resolve the incident through the faults service's ``incidents.resolve`` when it stayed
   quiet, store the outcome, and publish the diagnosis again with the repair status.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from libs.common.db import Database
from libs.common.errors import Conflict, NotFound, ServiceError
from libs.common.names import Names
from libs.common.rpc import Principal
from libs.common.timeutil import utcnow
from services.ai import service
from services.ai.config import AiSettings
from services.ai.events import publish_diagnosis
from services.ai.models import RepairRecord
from services.ai.repairs.actions import (
    ACTION_CLASSES,
    CheckResult,
    CleanTempDir,
    CommandCall,
    RaiseSettingAndRestart,
    RepairAction,
    RestartDaemon,
    build_action,
)
from services.ai.telemetry import REPAIRS
from services.ai.upstream import Upstream

logger = logging.getLogger(__name__)


@dataclass
class RepairOutcome:
    """Outcome of a repair run, for the record and the API."""

    success: bool
    details: str
    exec_ids: list[str] = field(default_factory=list)


class RepairFailed(Exception):
    """A step of the repair failed; the message names the step and the reason."""


class PreconditionNotMet(RepairFailed):
    """The action does not apply now (its precondition failed), so it was not run."""


class RepairRunner:
    """Runs repairs for the AI service and records what happened."""

    def __init__(self, db: Database, settings: AiSettings, js, names: Names) -> None:
        self.db = db
        self.settings = settings
        self.js = js
        self.names = names

    async def run(
        self, repair_id: str, upstream: Upstream, principal: Principal | None, *, decided_by: str
    ) -> RepairOutcome:
        """Run the pending repair ``repair_id`` as ``principal`` (None: unattended); raise NotFound or Conflict.

        Only an admin's commands run under the admin's own principal. For an unattended repair,
        and for an operator's approval of a safe action, the commands run as the system
        principal with the safe-action override, which the collector honours only on clusters
        whose repair policy is ``auto``.
        """
        record = await self._claim(repair_id, decided_by)
        outcome = RepairOutcome(success=False, details="")
        status = "failed"
        try:
            action = build_action(record.action, dict(record.params))
            await self._execute(record, action, upstream, principal, outcome)
            status = "succeeded" if outcome.success else "failed"
        except PreconditionNotMet as error:
            outcome.details, status = str(error), "skipped"
        except (RepairFailed, ValidationError, KeyError) as error:
            outcome.details = str(error)
        except ServiceError as error:
            outcome.details = f"a service call failed: {error.code}"
        except Exception:  # the repair must end in a final state whatever went wrong
            logger.exception("repair crashed repair=%s action=%s", record.id, record.action_id)
            outcome.details = "internal error; see the AI service log"

        await self._finish(record, outcome, status)
        REPAIRS.labels(record.action_id, status).inc()
        return outcome

    async def _claim(self, repair_id: str, decided_by: str) -> RepairRecord:
        async with self.db.session() as session:
            record = await service.get_repair(session, repair_id=repair_id, lock=True)
            if record is None:
                raise NotFound()
            if record.status != "pending":
                raise Conflict("repair_not_pending")
            await service.update_repair(session, repair_id=repair_id, status="running", decided_by=decided_by)
        logger.info(
            "repair started repair=%s action=%s node=%s by=%s", repair_id, record.action_id, record.node, decided_by
        )
        return record

    async def _execute(
        self,
        record: RepairRecord,
        action: RepairAction,
        upstream: Upstream,
        principal: Principal | None,
        outcome: RepairOutcome,
    ) -> None:
        if record.node_uuid is None:
            raise RepairFailed(f"node {record.node} of the repair is not known to inventory")
        if isinstance(action, CleanTempDir):
            action = await self._resolve_temp_dir(action, record, upstream)
        if isinstance(action, RestartDaemon | RaiseSettingAndRestart):
            await self._check_daemon_node(action.daemon, record, upstream)

        command_principal = principal if principal is not None and principal.is_admin else None
        runner = _CommandRunner(upstream, command_principal, record, self.settings, record.safe, outcome)

        check = action.precondition(await runner.outputs(action.precondition_commands(), "precondition"))
        if not check.ok:
            raise PreconditionNotMet(f"precondition not met: {check.reason}")

        for call in action.commands():
            await runner.run(call, "repair", require_success=True)
        finished = utcnow()

        verification = action.verify(await runner.outputs(action.verification_commands(), "check"))
        if not verification.ok:
            raise RepairFailed(f"the check after the repair failed: {verification.reason}")
        if not action.changes_state:
            outcome.success = True
            outcome.details = f"ran {record.action_id}: {verification.reason}"
            return

        quiet = await self._incident_quiet(record, upstream, principal, finished)
        if not quiet.ok:
            raise RepairFailed(f"the fault has not cleared: {quiet.reason}")
        # The same start as the quiet check, so an occurrence after that check keeps the incident open.
        quiet_from = finished + timedelta(seconds=self.settings.repair_ingest_grace_seconds)
        if record.incident_id and not await upstream.resolve_incident(
            principal, record.incident_id, reason="repair_succeeded", since=quiet_from.isoformat()
        ):
            raise RepairFailed("the fault has not cleared: it occurred again after the check")
        outcome.success = True
        outcome.details = f"{record.action_id} succeeded; {verification.reason}; {quiet.reason}"

    async def _resolve_temp_dir(self, action: CleanTempDir, record: RepairRecord, upstream: Upstream) -> CleanTempDir:
        node = await upstream.resolve_node(None, record.node, record.cluster_uuid)
        try:
            return action.resolve(self.settings.temp_roots, record.node, str(node.get("ssh_user", "")))
        except ValueError as error:
            raise RepairFailed(str(error)) from None

    async def _check_daemon_node(self, daemon: str, record: RepairRecord, upstream: Upstream) -> None:
        """Raise RepairFailed, before any command, when inventory's roles show the node does not run ``daemon``.

        A node without recorded roles passes, and the node itself then reports a missing daemon.
        """
        node = await upstream.resolve_node(None, record.node, record.cluster_uuid)
        roles = sorted({str(role).lower() for role in node.get("roles") or []})
        if not roles or daemon in roles:
            return
        hosts: list[str] = []
        if record.cluster_uuid:
            nodes = await upstream.list_nodes(None, record.cluster_uuid)
            hosts = sorted(str(item["name"]) for item in nodes if daemon in (item.get("roles") or []))
        where = f"It runs on {', '.join(hosts)}" if hosts else "No node of the cluster lists it"
        raise RepairFailed(
            f"{daemon} does not run on {record.node} (inventory roles: {', '.join(roles)}), so the command "
            f"was not sent. {where}. Diagnose the incident again to get a proposal for the right node."
        )

    async def _incident_quiet(
        self, record: RepairRecord, upstream: Upstream, principal: Principal | None, since: datetime
    ) -> CheckResult:
        if not record.incident_id:
            return CheckResult(True, "no incident to watch")
        # Records written before the repair can still be on their way through the collector,
        # so the quiet window starts after a grace period for collection lag.
        grace = self.settings.repair_ingest_grace_seconds
        window = self.settings.repair_check_window_seconds
        await asyncio.sleep(grace + window)
        start = since + timedelta(seconds=grace)
        if await upstream.new_occurrences_since(principal, record.incident_id, start.isoformat()):
            return CheckResult(False, f"new occurrences arrived in the {window:.0f}s window after the repair")
        return CheckResult(True, f"no new occurrence in the {window:.0f}s window after the repair")

    async def _finish(self, record: RepairRecord, outcome: RepairOutcome, status: str) -> None:
        """Store the outcome; a state-changing action also sets and republishes the diagnosis's repair status."""
        changes_state = record.action in ACTION_CLASSES and ACTION_CLASSES[record.action].changes_state
        async with self.db.session() as session:
            await service.update_repair(
                session,
                repair_id=record.id,
                status=status,
                details=outcome.details.replace("\x00", "")[:4000],
                exec_ids=outcome.exec_ids,
            )
            if changes_state:
                await service.set_repair_status(session, diagnosis_id=record.diagnosis_id, status=status)
            diagnosis = await service.get(session, diagnosis_id=record.diagnosis_id)
        log = logger.info if outcome.success else logger.warning
        log("repair finished repair=%s status=%s details=%s", record.id, status, outcome.details)

        if changes_state and diagnosis is not None and diagnosis.incident_id:
            try:
                await publish_diagnosis(self.js, self.names, diagnosis, msg_id=f"{diagnosis.id}:repair:{record.id}")
            except Exception as error:  # the stored status stays right; the event is best-effort here
                logger.warning("diagnosis update not published diagnosis=%s error=%s", diagnosis.id, error)


class _CommandRunner:
    """Runs the commands of one repair and keeps their exec ids."""

    def __init__(
        self,
        upstream: Upstream,
        principal: Principal | None,
        record: RepairRecord,
        settings: AiSettings,
        safe: bool,
        outcome: RepairOutcome,
    ) -> None:
        self.upstream = upstream
        self.principal = principal
        self.record = record
        self.settings = settings
        self.safe = safe
        self.outcome = outcome

    async def run(self, call: CommandCall, purpose: str, *, require_success: bool) -> dict:
        result = await self.upstream.run_command(
            self.principal,
            str(self.record.node_uuid),
            call.command_id,
            args=call.args,
            timeout=self.settings.repair_command_timeout_seconds,
            description=f"{purpose}: {self.record.action_id} for incident {self.record.incident_id or '-'}",
            fault_id=self.record.incident_id,
            safe_action=self.safe and purpose == "repair",
        )
        if result.get("exec_id"):
            self.outcome.exec_ids.append(str(result["exec_id"]))
        if require_success and result.get("exit_code") != 0:
            raise RepairFailed(
                f"{call.command_id} exited with {result.get('exit_code')}: {result.get('stderr', '')[:300]}"
            )
        return result

    async def outputs(self, calls: list[CommandCall], purpose: str) -> list[str]:
        results = [await self.run(call, purpose, require_success=False) for call in calls]
        return [str(result.get("stdout", "")) for result in results]
