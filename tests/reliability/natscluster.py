"""A NATS cluster of three ``nats-server`` processes with JetStream, on 127.0.0.1.

Each server has its own client port, route port, store folder and server name (JetStream
clustering needs names), and solicits routes to the other two.
"""

import asyncio
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import nats

from hfd.embedded import LOOPBACK, free_port, nats_server_binary, port_open

CLUSTER_NAME = "hfd-reliability"


@dataclass
class NatsNode:
    """One server of the cluster and its process, once started."""

    name: str
    client_port: int
    route_port: int
    store_dir: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.client_port}"

    @property
    def route_url(self) -> str:
        return f"nats://{LOOPBACK}:{self.route_port}"

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class NatsCluster:
    """Start, inspect, kill and remove the three servers."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        self.nodes = [
            NatsNode(f"n{index + 1}", free_port(), free_port(), root / f"n{index + 1}") for index in range(size)
        ]

    @property
    def url(self) -> str:
        """Every client URL, comma-separated, as ``HFD_NATS_URL`` takes them."""
        return ",".join(node.url for node in self.nodes)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, name: str) -> NatsNode:
        return next(node for node in self.nodes if node.name == name)

    def start(self, timeout: float = 60.0) -> "NatsCluster":
        for node in self.nodes:
            self._start_node(node)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            self._wait_listening(node, deadline)
        asyncio.run(self._wait_jetstream(deadline))
        return self

    def _start_node(self, node: NatsNode) -> None:
        node.store_dir.mkdir(parents=True, exist_ok=True)
        routes = ",".join(other.route_url for other in self.nodes if other is not node)
        command = [
            nats_server_binary(),
            "-a", LOOPBACK,
            "-p", str(node.client_port),
            "--server_name", node.name,
            "--cluster_name", CLUSTER_NAME,
            "--cluster", node.route_url,
            "--routes", routes,
            "-js",
            "-sd", str(node.store_dir),
        ]  # fmt: skip
        log = open(node.log_path, "ab")  # noqa: SIM115 - the child keeps it open until it exits
        node.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def _wait_listening(self, node: NatsNode, deadline: float) -> None:
        while not port_open(LOOPBACK, node.client_port):
            if not node.alive():
                raise RuntimeError(f"nats-server {node.name} exited:\n{self.log_tail(node.name)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server {node.name} not listening on {node.url}")
            time.sleep(0.05)

    async def _wait_jetstream(self, deadline: float) -> None:
        """Wait until every server returns JetStream account info, which needs an elected meta leader."""
        for node in self.nodes:
            nc = await nats.connect(node.url, allow_reconnect=False)
            try:
                js = nc.jetstream()
                while True:
                    try:
                        await js.account_info()
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise TimeoutError(
                                f"JetStream not ready through {node.name}:\n{self.log_tail(node.name)}"
                            ) from None
                        await asyncio.sleep(0.2)
            finally:
                await nc.close()

    def kill(self, name: str) -> None:
        """Send SIGKILL to one server and wait for it to exit."""
        node = self.node(name)
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(10)

    def restart(self, name: str, timeout: float = 30.0) -> None:
        """Start a killed server again with its ports, name, routes and store folder; wait until it listens."""
        node = self.node(name)
        if node.alive():
            raise RuntimeError(f"nats-server {name} is still running")
        self._start_node(node)
        self._wait_listening(node, time.monotonic() + timeout)

    def stop(self) -> None:
        """Stop every server still running and delete the store folders."""
        for node in self.nodes:
            if node.alive():
                node.process.terminate()
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                node.process.wait(10)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.node(name).log_path
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""
