"""Helpers for the demo cluster tests: settings, SSH clients and polling."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh

from hfd.democluster.config import DemoClusterConfig
from hfd.democluster.manifest import ClusterManifest


def fast_config(cluster_dir: Path, **overrides) -> DemoClusterConfig:
    """Settings for tests: quick traffic and state polls, no fault schedule, fixed seed."""
    settings = {
        "cluster_dir": cluster_dir,
        "nodes": 3,
        "lines_per_second": 20.0,
        "fault_interval": 0.0,
        "state_poll_interval": 0.05,
        "seed": 7,
    }
    settings.update(overrides)
    return DemoClusterConfig(**settings)


def connect(manifest: ClusterManifest, node_name: str, **options) -> asyncssh.connect:
    """Open an SSH connection to a node with the manifest's key, checking its host key."""
    node = manifest.node(node_name)
    settings = {
        "username": node.ssh_user,
        "client_keys": [str(node.private_key_path)],
        "known_hosts": asyncssh.import_known_hosts(manifest.known_hosts_text()),
        "agent_path": None,
        "config": (),
    }
    settings.update(options)
    return asyncssh.connect(node.address, node.port, **settings)


async def run(manifest: ClusterManifest, node_name: str, command: str) -> asyncssh.SSHCompletedProcess:
    async with connect(manifest, node_name) as conn:
        return await conn.run(command)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it returns True or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(interval)
    return condition()


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="surrogateescape") if path.exists() else ""
