"""The repair locks of the runs that a person starts or approves (attended runs).

An attended run holds the advisory locks that an unattended run holds (``unattended.py``), in
the same order on a lock session of its own: first the incident's lock, when the repairs belong
to an incident, then the cluster's. With one order, an attended run and an unattended run never
each hold the lock that the other waits for.

- The cluster's lock keeps the run from overlapping any other repair run of the cluster.
- The incident's lock makes an unattended run of the same incident, scheduled while the person's
  run is under way, skip its repairs. Without it, that run would repeat the repair as soon as the
  person's run ended.

A person waits at most ``repair_lock_timeout_seconds`` for both locks together. After that the
request fails with 409 ``cluster_repair_running``. No repair has been claimed by then, so every
repair of the request stays ``pending`` and can be approved later. The 409 body lists them in
``repairIds`` and, for a new diagnosis, names it in ``diagnosisId``.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from libs.common.errors import Conflict
from services.ai.locks import AdvisoryLocks, LockKind, LockSession, LockTimeout
from services.ai.models import RepairRecord

logger = logging.getLogger(__name__)

CLUSTER_REPAIR_RUNNING = "cluster_repair_running"
# PostgreSQL's lock_timeout has millisecond resolution; a spent deadline still gets one try.
MIN_WAIT_SECONDS = 0.001


class RepairLockBusy(Conflict):
    """409 ``cluster_repair_running``, naming the repairs that stay pending and their diagnosis."""

    def __init__(self, repair_ids: list[str], diagnosis_id: str | None = None) -> None:
        super().__init__(CLUSTER_REPAIR_RUNNING)
        self.repair_ids = repair_ids
        self.diagnosis_id = diagnosis_id

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.code, "repairIds": self.repair_ids}
        if self.diagnosis_id is not None:
            body["diagnosisId"] = self.diagnosis_id
        return body


def cluster_lock_id(row: RepairRecord) -> str:
    """Return the id that the cluster's repair lock hashes: the cluster's uuid, as FAULTS events name it."""
    return row.cluster_uuid or row.cluster


@asynccontextmanager
async def hold_repair_locks(
    locks: AdvisoryLocks,
    *,
    incident_id: str | None,
    cluster: str,
    timeout: float,
    repair_ids: list[str],
    diagnosis_id: str | None = None,
) -> AsyncIterator[None]:
    """Hold the incident's and the cluster's repair locks for the block.

    Raises RepairLockBusy (409 ``cluster_repair_running``) when another session still has one
    of them ``timeout`` seconds after the call. Pass ``diagnosis_id`` when the request created
    the diagnosis, so that the error names it.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout
    async with await locks.open() as session:
        try:
            if incident_id:
                await _acquire(session, LockKind.INCIDENT_REPAIRS, incident_id, deadline)
            await _acquire(session, LockKind.CLUSTER_REPAIRS, cluster, deadline)
        except LockTimeout as error:
            logger.info(
                "repairs not run, repair lock wait timed out cluster=%s incident=%s repairs=%s waited=%.1fs error=%s",
                cluster,
                incident_id,
                repair_ids,
                loop.time() - started,
                error,
            )
            raise RepairLockBusy(repair_ids, diagnosis_id) from None
        yield


async def _acquire(session: LockSession, kind: LockKind, object_id: str, deadline: float) -> None:
    if await session.try_acquire(kind, object_id):
        return
    logger.info("attended repair waits for the %s lock id=%s", kind.name, object_id)
    remaining = deadline - asyncio.get_running_loop().time()
    await session.acquire(kind, object_id, timeout=max(remaining, MIN_WAIT_SECONDS))
