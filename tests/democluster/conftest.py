"""Fixtures of the demo cluster tests: a running cluster in a temporary folder."""

from pathlib import Path

import pytest

from hfd.democluster.cluster import DemoCluster
from tests.conftest import infra  # noqa: F401 - an instance of its own for this package
from tests.democluster.helpers import fast_config


@pytest.fixture
async def cluster(tmp_path: Path):
    """A running three-node cluster (demo-nn1, demo-dn1, demo-dn2) with generated logs."""
    demo = DemoCluster(fast_config(tmp_path / "cluster"))
    await demo.start()
    try:
        yield demo
    finally:
        await demo.stop()
