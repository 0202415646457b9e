"""Repair runs that no person approves, one per cluster and one per incident across replicas.

A run started for a FAULTS event holds two advisory locks on a lock session of its own
(``services.ai.locks``):

- the incident's, taken with a try-lock when the run is scheduled: while a run of the incident
  is under way in any replica, the repairs of its newer diagnoses are skipped;
- the cluster's, waited for before the first repair, so that two incidents of one fault (seen
  on several nodes) are not repaired at the same time.

Both are released when the run ends, or when the replica that holds them dies. Repairs that a
person starts or approves take the same two locks in the same order, waiting a bounded time
(``attended.py``).
"""

import asyncio
import logging

from libs.common.db import Database
from libs.common.errors import ServiceError
from libs.common.rpc import Principal, RpcClient
from services.ai import service
from services.ai.locks import AdvisoryLocks, LockKind, LockSession
from services.ai.repairs.actions import ACTION_CLASSES
from services.ai.repairs.runner import RepairRunner
from services.ai.upstream import Upstream

logger = logging.getLogger(__name__)

ALREADY_RUNNING = "a repair of this incident is already running"


class UnattendedRepairs:
    """Repair runs, each in order, started by FAULTS events (as the AI) or by a person's request."""

    def __init__(self, db: Database, locks: AdvisoryLocks, runner: RepairRunner, client: RpcClient) -> None:
        self.db = db
        self.locks = locks
        self.runner = runner
        self.client = client
        self._tasks: set[asyncio.Task] = set()

    async def start(self, *, incident_id: str, cluster: str, repair_ids: list[str]) -> bool:
        """Start a background run of ``repair_ids`` and return True, or skip them and return False.

        The repairs are skipped (status ``skipped``) when a run of the same incident, in this
        replica or another, holds the incident's lock.
        """
        session = await self.locks.open()
        try:
            started = await session.try_acquire(LockKind.INCIDENT_REPAIRS, incident_id)
        except BaseException:
            session.abort()
            raise
        if not started:
            await session.close()
            logger.info("repairs skipped, a run is under way incident=%s repairs=%s", incident_id, repair_ids)
            await self.skip(repair_ids, ALREADY_RUNNING)
            return False

        coro = self._run_locked(session, incident_id, cluster, repair_ids)
        task = asyncio.create_task(coro, name=f"repairs-{incident_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # A task cancelled before its first step never enters the session's ``async with``.
        task.add_done_callback(lambda _task: session.abort())
        return True

    async def _run_locked(self, session: LockSession, incident_id: str, cluster: str, repair_ids: list[str]) -> None:
        async with session:
            if not await session.try_acquire(LockKind.CLUSTER_REPAIRS, cluster):
                logger.info("repair run waits for the cluster's lock cluster=%s incident=%s", cluster, incident_id)
                await session.acquire(LockKind.CLUSTER_REPAIRS, cluster)
            try:
                await self.run(repair_ids)
            except Exception:  # the task has no caller that could handle the error
                logger.exception("unattended repair run failed incident=%s cluster=%s", incident_id, cluster)

    async def run(self, repair_ids: list[str], principal: Principal | None = None) -> None:
        """Run repairs in order until one clears the fault; later state-changing ones are skipped."""
        upstream = Upstream(self.client, request_id=f"repair-{repair_ids[0]}")
        cleared = False
        for repair_id in repair_ids:
            async with self.db.session() as session:
                row = await service.get_repair(session, repair_id=repair_id)
            if row is None:
                continue
            if cleared and ACTION_CLASSES[row.action].changes_state:
                await self.skip([repair_id], "an earlier repair cleared the fault")
                continue
            try:
                decided_by = principal.username if principal else "hfd-ai (auto)"
                outcome = await self.runner.run(repair_id, upstream, principal, decided_by=decided_by)
            except ServiceError as error:
                logger.warning("unattended repair not run repair=%s code=%s", repair_id, error.code)
                continue
            cleared = cleared or (outcome.success and ACTION_CLASSES[row.action].changes_state)

    async def skip(self, repair_ids: list[str], reason: str) -> None:
        async with self.db.session() as session:
            for repair_id in repair_ids:
                await service.update_repair(session, repair_id=repair_id, status="skipped", details=reason)

    async def stop(self) -> None:
        """Cancel the runs under way; their lock sessions close, which releases the locks."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
