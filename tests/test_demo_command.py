"""``hfd demo`` as a user runs it: the stack, a demo cluster, incidents and diagnoses in the API."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hfd.embedded import free_port

pytestmark = pytest.mark.slow

# Faults an operator finds in the six daemon logs of the shared data (one per replayed node).
REPLAY_EXPECTED_KINDS = {
    "no_datanodes_available",
    "namenode_unreachable",
    "host_resolution_failure",
    "port_in_use",
    "security_misconfiguration",
}


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HFD_")}
    env["HFD_LOG_FORMAT"] = "console"
    return env


def _start_demo(tmp_path: Path, *arguments: str) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log_path = tmp_path / "demo.log"
    command = [sys.executable, "-m", "hfd.cli", "demo", "--port", str(port), "--var", str(tmp_path / "var")]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*command, *arguments],
            env=_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}/api/v1", log_path


def _login(base_url: str, var_dir: Path, process: subprocess.Popen, timeout: float) -> httpx.Client:
    deadline = time.monotonic() + timeout
    credentials = var_dir / "demo-admin.json"
    while time.monotonic() < deadline:
        assert process.poll() is None, "hfd demo exited early"
        if credentials.exists():
            saved = json.loads(credentials.read_text())
            try:
                response = httpx.post(f"{base_url}/user/login", json=saved, timeout=5)
                if response.status_code == 200:
                    token = response.json()["token"]
                    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            except httpx.HTTPError:
                pass
        time.sleep(1)
    raise AssertionError("could not log in to the demo's API")


def _wait_for(client: httpx.Client, process: subprocess.Popen, check, timeout: float):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert process.poll() is None, "hfd demo exited early"
        try:
            last = check(client)
            if last:
                return last
        except (httpx.HTTPError, KeyError):
            pass
        time.sleep(2)
    return last


def _cluster_incidents(client: httpx.Client) -> list[dict]:
    clusters = client.get("/clusters").json()["clusters"]
    if not clusters:
        return []
    return client.get("/faults", params={"cluster": clusters[0]["uuid"], "size": 100}).json()["items"]


def _stop(process: subprocess.Popen, log_path: Path) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"hfd demo did not stop:\n{log_path.read_text(errors='replace')[-3000:]}") from None


def test_demo_generated_logs_show_diagnosed_incidents(tmp_path):
    process, base_url, log_path = _start_demo(tmp_path, "--fault-interval", "10")
    try:
        client = _login(base_url, tmp_path / "var", process, timeout=180)
        incidents = _wait_for(client, process, _cluster_incidents, timeout=150)

        def diagnosed(api: httpx.Client):
            for item in _cluster_incidents(api):
                response = api.get(f"/incidents/{item['id']}/diagnosis")
                if response.status_code == 200:
                    return response.json()
            return None

        diagnosis = _wait_for(client, process, diagnosed, timeout=60)
    finally:
        status = _stop(process, log_path)

    output = log_path.read_text(errors="replace")
    assert incidents, output[-3000:]
    assert diagnosis, output[-3000:]
    assert status == 0, output[-3000:]
    assert (tmp_path / "var" / "postgres" / "PG_VERSION").exists()


@pytest.mark.realdata
def test_demo_replay_of_real_logs_finds_their_faults(tmp_path, real_data):
    logs = real_data / "daemon-logs"
    process, base_url, log_path = _start_demo(tmp_path, "--logs", str(logs), "--speed", "1000")
    try:
        client = _login(base_url, tmp_path / "var", process, timeout=180)

        def all_kinds(api: httpx.Client):
            kinds = {item["type"] for item in _cluster_incidents(api)}
            return kinds if REPLAY_EXPECTED_KINDS <= kinds else None

        kinds = _wait_for(client, process, all_kinds, timeout=180)
        found = {item["type"] for item in _cluster_incidents(client)}
    finally:
        status = _stop(process, log_path)

    assert kinds, f"missing kinds: {REPLAY_EXPECTED_KINDS - found}; found {found}"
    assert status == 0
