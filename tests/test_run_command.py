"""``hfd run`` as a user starts it: embedded servers, every service, a bootstrap admin."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from hfd.embedded import free_port

pytestmark = pytest.mark.slow


def _clean_env(var_dir) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HFD_")}
    env["HFD_BOOTSTRAP_ADMIN"] = "rootadmin:Bootstr4pPassword"
    env["HFD_LOG_FORMAT"] = "console"
    return env


def _wait_healthy(base_url: str, process: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last = {}
    while time.monotonic() < deadline:
        assert process.poll() is None, "hfd run exited early"
        try:
            last = httpx.get(f"{base_url}/api/v1/health", timeout=3).json()
            if last.get("status") == "ok":
                return last
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"stack not healthy in {timeout}s: {last}")


def test_run_embedded_login_and_clean_stop(tmp_path):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hfd.cli", "run", "--port", str(port), "--var", str(tmp_path / "var")],
            env=_clean_env(tmp_path / "var"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        health = _wait_healthy(base_url, process, timeout=150)
        login = httpx.post(
            f"{base_url}/api/v1/user/login",
            json={"username": "rootadmin", "password": "Bootstr4pPassword"},
            timeout=10,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise

    output = log_path.read_text(errors="replace")
    assert health["database"] == "connected"
    assert login.status_code == 200, output[-3000:]
    assert login.json()["token"]
    assert status == 0, output[-3000:]
    assert not (tmp_path / "var" / "postgres" / "postmaster.pid").exists()
