"""Helpers for the AI tests: a demo cluster on a background event loop, its registration, polling."""

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from hfd.democluster.cluster import DemoCluster
from tests.democluster.helpers import fast_config
from tests.gateway.helpers import Account, Api, unique_name


class NodeCommandLog(logging.Handler):
    """Collects the commands that the demo nodes run (their "shell history"), from their debug log."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.commands: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("node ") and ": exec " in record.getMessage():
            self.commands.append(record.getMessage())


class BackgroundDemo:
    """A ``DemoCluster`` whose SSH servers run on an event loop in a daemon thread."""

    def __init__(self, cluster_dir: Path, **overrides: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="demo-cluster", daemon=True)
        self.demo = DemoCluster(fast_config(cluster_dir, **overrides))
        self.history = NodeCommandLog()

    def run(self, coro: Coroutine) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def start(self) -> "BackgroundDemo":
        nodes_logger = logging.getLogger("hfd.democluster.nodes")
        nodes_logger.setLevel(logging.DEBUG)
        nodes_logger.addHandler(self.history)
        # The debug lines are for the history only; pytest would print each of them on a failure.
        nodes_logger.propagate = False
        self.thread.start()
        self.run(self.demo.start())
        return self

    def stop(self) -> None:
        self.run(self.demo.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        logging.getLogger("hfd.democluster.nodes").removeHandler(self.history)

    @property
    def manifest(self):
        return self.demo.manifest

    @property
    def temp_root_template(self) -> str:
        """The demo nodes' hadoop.tmp.dir, with ``{node}`` for the node name."""
        return str(self.demo.layout.root / "nodes" / "{node}" / "tmp")

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a plain function of the demo (inject_fault, append_lines, node_state) on its loop."""

        async def invoke() -> Any:
            return function(*args)

        return self.run(invoke())


def register_cluster(api: Api, admin: Account, demo: BackgroundDemo, *, policy: str = "suggest") -> dict:
    """Register the demo cluster with inventory through the gateway; return its uuid and name."""
    manifest = demo.manifest
    key_text = manifest.nodes[0].private_key_path.read_text(encoding="utf-8")
    nodes = [
        {
            "hostname": node.name,
            "ip_address": node.address,
            "ssh_user": node.ssh_user,
            "ssh_private_key": key_text,
            "ssh_port": node.port,
            "log_dirs": [str(path) for path in node.log_dirs],
            "roles": list(node.roles),
            "known_host_key": node.host_public_key,
        }
        for node in manifest.nodes
    ]
    name = unique_name("demo")
    body = {"name": name, "type": "hadoop", "repair_policy": policy, "nodes": nodes}
    response = api.client.post("/clusters", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    return {"uuid": response.json()["uuid"], "name": name}


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something true; return it, or the last value at the timeout."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def exec_logs(api: Api, account: Account) -> list[dict]:
    """Return every exec log entry that ``account`` may see, newest first, page by page."""
    items: list[dict] = []
    page = 1
    while True:
        response = api.client.get("/exec-logs", params={"size": 100, "page": page}, headers=account.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        if not body["items"] or len(items) >= body["total"]:
            return items
        page += 1


def resolve_open_incidents(api: Api, admin: Account, cluster: dict, kind: str) -> None:
    """Resolve the cluster's open incidents of ``kind``, so the next fault opens a new one and is diagnosed again."""
    params = {"cluster": cluster["uuid"], "type": kind, "size": 100}
    items = api.client.get("/faults", params=params, headers=admin.headers).json()["items"]
    for item in items:
        if item["status"] != "resolved":
            response = api.client.put(f"/faults/{item['id']}", json={"status": "resolved"}, headers=admin.headers)
            assert response.status_code == 200, response.text
