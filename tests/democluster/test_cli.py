"""The demo-cluster command as a process: start, print, stop on SIGTERM; bad options."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from hfd.democluster.manifest import load_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]


def start_command(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hfd.democluster", *args],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def read_until(process: subprocess.Popen, marker: str, timeout: float = 20.0) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not printed; output so far: {''.join(seen)!r}")


def test_command_runs_until_sigterm(tmp_path):
    cluster_dir = tmp_path / "cluster"
    process = start_command("--nodes", "2", "--dir", str(cluster_dir), "--fault-interval", "0", "--seed", "3")
    try:
        output = read_until(process, "Press Ctrl-C to stop.")
        manifest = load_manifest(cluster_dir)

        assert f"Manifest:    {cluster_dir.resolve() / 'cluster.json'}" in output
        for node in manifest.nodes:
            assert f"{node.address}:{node.port}" in output
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        datanode_log = manifest.node("demo-dn1").log_dirs[0] / "hadoop-hadoop-datanode-demo-dn1.log"
        assert "SHUTDOWN_MSG: Shutting down DataNode" in datanode_log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_rejects_outside_address(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hfd.democluster", "--dir", str(tmp_path), "--first-address", "10.0.0.2"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
    )

    assert result.returncode == 2
    assert "127.0.0.0/8" in result.stderr
