"""Unattended repair runs of two replicas exclude each other through PostgreSQL advisory locks,
and exclude the runs that a person starts or approves (``hold_repair_locks``).

Each ``UnattendedRepairs`` here plays one replica: every lock session it opens is a connection
of its own, as in a separate process. The repairs name no node known to inventory, so a run
fails (status ``failed``) at its first step without calling another service.
"""

import asyncio
import uuid

import nats
import pytest

from libs.common.db import Database
from libs.common.errors import Conflict
from libs.common.names import Names
from libs.common.rpc import RpcClient
from services.ai import service
from services.ai.config import AiSettings
from services.ai.locks import AdvisoryLocks, LockKind
from services.ai.models import DiagnosisRecord, RepairRecord
from services.ai.repairs.attended import CLUSTER_REPAIR_RUNNING, hold_repair_locks
from services.ai.repairs.runner import RepairRunner
from services.ai.repairs.unattended import ALREADY_RUNNING, UnattendedRepairs
from tests.ai.test_locks import wait_released

WAIT_SECONDS = 1.0


@pytest.fixture
async def replicas(infra, stack):
    """A database and two ``UnattendedRepairs`` that share nothing but PostgreSQL and NATS."""
    database = Database(infra.database_url, pool_size=2)
    nc = await nats.connect(infra.nats_url)
    names = Names(infra.prefix)
    locks = AdvisoryLocks(infra.database_url)
    runs = []
    for _ in range(2):
        runner = RepairRunner(database, AiSettings(), nc.jetstream(), names)
        runs.append(UnattendedRepairs(database, locks, runner, RpcClient(nc, names)))
    yield database, runs
    for run in runs:
        await run.stop()
    await nc.close()
    await database.dispose()


async def add_repairs(database: Database, incident_id: str, cluster: str, count: int) -> list[str]:
    """Store a diagnosis of ``incident_id`` with ``count`` pending diagnostic repairs; return their ids."""
    diagnosis = DiagnosisRecord(
        id=uuid.uuid4().hex,
        incident_id=incident_id,
        cluster=cluster,
        node="demo-dn2",
        trigger="detected",
        diagnoser="offline",
        content={"summary": {"zh": "x", "en": "x"}},
        incident_count=1,
    )
    repairs = [
        RepairRecord(
            id=uuid.uuid4().hex,
            diagnosis_id=diagnosis.id,
            incident_id=incident_id,
            cluster=cluster,
            node="demo-dn2",
            action_id="jps",
            action="run_diagnostic",
            params={"command": "jps"},
            safe=True,
            status="pending",
        )
        for _ in range(count)
    ]
    async with database.session() as session:
        await service.create_diagnosis(session, record=diagnosis)
        for repair in repairs:
            await service.create_repair(session, record=repair)
    return [repair.id for repair in repairs]


async def repair_rows(database: Database, repair_ids: list[str]) -> list[RepairRecord]:
    async with database.session() as session:
        return [await service.get_repair(session, repair_id=repair_id) for repair_id in repair_ids]


async def wait_finished(database: Database, repair_ids: list[str], timeout: float = 10.0) -> list[str]:
    """Poll until no repair is pending or running; return their statuses."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        statuses = [row.status for row in await repair_rows(database, repair_ids)]
        done = not {"pending", "running"} & set(statuses)
        if done or asyncio.get_running_loop().time() > deadline:
            return statuses
        await asyncio.sleep(0.1)


async def test_second_replica_skips_running_incident(replicas):
    database, (first, second) = replicas
    incident_id, cluster = f"unattended-{uuid.uuid4().hex[:12]}", f"cluster-{uuid.uuid4().hex[:8]}"
    first_ids = await add_repairs(database, incident_id, cluster, 1)
    second_ids = await add_repairs(database, incident_id, cluster, 2)

    # Another run has the cluster lock, so the first replica's run waits with the incident lock taken.
    async with first.locks.hold(LockKind.CLUSTER_REPAIRS, cluster):
        assert await first.start(incident_id=incident_id, cluster=cluster, repair_ids=first_ids) is True
        assert await second.start(incident_id=incident_id, cluster=cluster, repair_ids=second_ids) is False

        skipped = await repair_rows(database, second_ids)
        assert [row.status for row in skipped] == ["skipped", "skipped"]
        assert {row.details for row in skipped} == {ALREADY_RUNNING}

    assert await wait_finished(database, first_ids) == ["failed"]


async def test_replica_starts_incident_after_run_ends(infra, replicas):
    database, (first, second) = replicas
    incident_id, cluster = f"unattended-{uuid.uuid4().hex[:12]}", f"cluster-{uuid.uuid4().hex[:8]}"
    first_ids = await add_repairs(database, incident_id, cluster, 1)
    second_ids = await add_repairs(database, incident_id, cluster, 1)

    assert await first.start(incident_id=incident_id, cluster=cluster, repair_ids=first_ids) is True
    assert await wait_finished(database, first_ids) == ["failed"]
    assert await wait_released(infra, LockKind.INCIDENT_REPAIRS, incident_id) == 0

    assert await second.start(incident_id=incident_id, cluster=cluster, repair_ids=second_ids) is True
    assert await wait_finished(database, second_ids) == ["failed"]


async def test_runs_wait_for_cluster_lock(replicas):
    database, (first, second) = replicas
    cluster = f"cluster-{uuid.uuid4().hex[:8]}"
    first_incident, second_incident = (f"unattended-{uuid.uuid4().hex[:12]}" for _ in range(2))
    first_ids = await add_repairs(database, first_incident, cluster, 1)
    second_ids = await add_repairs(database, second_incident, cluster, 1)

    async with first.locks.hold(LockKind.CLUSTER_REPAIRS, cluster):
        assert await first.start(incident_id=first_incident, cluster=cluster, repair_ids=first_ids) is True
        assert await second.start(incident_id=second_incident, cluster=cluster, repair_ids=second_ids) is True
        await asyncio.sleep(WAIT_SECONDS)
        waiting = await repair_rows(database, first_ids + second_ids)
        assert [row.status for row in waiting] == ["pending", "pending"]

    assert await wait_finished(database, first_ids + second_ids) == ["failed", "failed"]


async def test_attended_run_skips_unattended_incident(replicas):
    database, (first, _) = replicas
    incident_id, cluster = f"unattended-{uuid.uuid4().hex[:12]}", f"cluster-{uuid.uuid4().hex[:8]}"
    repair_ids = await add_repairs(database, incident_id, cluster, 1)

    async with hold_repair_locks(first.locks, incident_id=incident_id, cluster=cluster, timeout=1.0, repair_ids=[]):
        assert await first.start(incident_id=incident_id, cluster=cluster, repair_ids=repair_ids) is False

    [row] = await repair_rows(database, repair_ids)
    assert row.status == "skipped"


async def test_attended_run_waits_for_incident_lock(replicas):
    _, (first, _) = replicas
    incident_id, cluster = f"unattended-{uuid.uuid4().hex[:12]}", f"cluster-{uuid.uuid4().hex[:8]}"

    # An unattended run of the incident holds its lock while it waits for the cluster's.
    async with first.locks.hold(LockKind.INCIDENT_REPAIRS, incident_id):
        with pytest.raises(Conflict) as raised:
            async with hold_repair_locks(
                first.locks, incident_id=incident_id, cluster=cluster, timeout=WAIT_SECONDS, repair_ids=[]
            ):
                pytest.fail("the attended run took the locks while the incident's lock was held")

    assert raised.value.code == CLUSTER_REPAIR_RUNNING
