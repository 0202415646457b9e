"""A service process whose background task crashes exits with a failure status."""

import subprocess
import sys

from tests.infra import REPO_ROOT

CRASHING_SERVICE = """
import asyncio

from libs.common.service import run_service


async def start(ctx):
    async def crash():
        await asyncio.sleep(0.2)
        raise RuntimeError("background work failed")

    ctx.spawn(crash(), "crashing-task")


run_service("crashtest", start, database=False)
"""


def test_service_exit_status_after_task_crash(infra):
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_SERVICE],
        cwd=REPO_ROOT,
        env=infra.env(HFD_METRICS_PORT="-1"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "background task crashed" in result.stdout + result.stderr
