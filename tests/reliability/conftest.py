"""Fixtures of the reliability test: a NATS cluster of three, a PostgreSQL server of its own,
a demo cluster and two replicas of every service."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra import Infra, start_infra, stop_infra
from tests.killable_postgres import KillablePostgres
from tests.reliability.demo import TimedDemo
from tests.reliability.natscluster import NatsCluster
from tests.reliability.replicas import ReplicaSet

# Loopback addresses 127.0.0.200-203; no other test package uses them.
FIRST_ADDRESS = "127.0.0.200"


@pytest.fixture(scope="package")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KillablePostgres]:
    """A PostgreSQL server that the test may kill, on a free loopback port and a data folder of its own."""
    server = KillablePostgres(tmp_path_factory.mktemp("postgres") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def infra(postgres: KillablePostgres) -> Iterator[Infra]:
    """This package's database on the package's own PostgreSQL server, and a NATS prefix.

    The services under test use only the NATS cluster that ``nats_cluster`` starts.
    """
    package_infra = start_infra(admin_database_url=postgres.admin_url)
    try:
        yield package_infra
    finally:
        stop_infra(package_infra)


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    cluster = NatsCluster(tmp_path / "nats")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[TimedDemo]:
    """Four nodes writing about 18 records a second each, with a fault scheduled every 20 s or so.

    Files never rotate during the run (``max_log_bytes`` is far above what is written), so the
    files at the end contain every record ever written and serve as the ground truth.
    """
    cluster = TimedDemo(
        tmp_path / "demo",
        name="rel",
        nodes=4,
        first_address=FIRST_ADDRESS,
        lines_per_second=10.0,
        fault_interval=20.0,
        max_active_faults=12,
        max_log_bytes=1 << 30,
        seed=11,
    )
    cluster.start()
    # BackgroundDemo logs every command the nodes run at DEBUG; the collectors' polls would flood a failure report.
    logging.getLogger("hfd.democluster.nodes").setLevel(logging.INFO)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def replicas(infra: Infra, nats_cluster: NatsCluster, demo: TimedDemo, tmp_path: Path) -> Iterator[ReplicaSet]:
    """Both replica sets, started after the demo nodes listen and stopped before they go."""
    replica_set = ReplicaSet(infra, nats_cluster.url, tmp_path)
    try:
        replica_set.start()
        yield replica_set
    finally:
        replica_set.stop()
