"""Fixtures of the deployment tests: a nats-server with the users of deploy/nats/accounts.conf."""

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import infra  # noqa: F401 - an instance of its own for this package
from tests.deploy.natsserver import NatsUnderTest


@pytest.fixture(scope="module")
def nats_server() -> NatsUnderTest:
    """A nats-server of this test module alone, so its streams and durables start empty."""
    work_dir = Path(tempfile.mkdtemp(prefix="hfd-deploy-"))
    server = NatsUnderTest(work_dir).start()
    yield server
    server.stop()
    shutil.rmtree(work_dir, ignore_errors=True)
