"""Collector benchmark: real log lines appended on demo cluster nodes, read back from JetStream.

For each node count, the script starts a demo cluster (asyncssh nodes on 127.0.1.x), an
embedded nats-server and the collector service as a subprocess. Then it appends real Hadoop
log lines (``libs.common.datasets.data_dir()/daemon-logs``) at a fixed total rate, to one
extra DataNode log file per node. A core NATS subscription on the LOGS subjects sees each batch when JetStream
receives it. Reported per run:

* records/s: records received divided by the time from the first append to the last record;
* p50/p99 latency: from the append of the chunk that holds a record to the arrival of its batch.

Usage::

    .venv/bin/python bench/bench_collector.py --nodes 1 4 16 --rate 50000 --seconds 20
"""

import argparse
import asyncio
import bisect
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nats

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from hfd.democluster import DemoCluster, DemoClusterConfig  # noqa: E402
from hfd.embedded import EmbeddedNats  # noqa: E402
from libs.common.datasets import data_dir  # noqa: E402
from libs.common.names import Names  # noqa: E402
from libs.common.rpc import RpcClient, RpcRequest  # noqa: E402
from tests.infra import Stack, start_infra, stop_infra  # noqa: E402

TICK_SECONDS = 0.02


def load_lines() -> list[bytes]:
    folder = data_dir() / "daemon-logs"
    if not folder.is_dir():
        sys.exit(f"real Hadoop logs not found at {folder}; set HFD_DATA_DIR")
    lines: list[bytes] = []
    for path in sorted(folder.glob("*.log")):
        lines.extend(line for line in path.read_bytes().splitlines(keepends=True) if line.strip())
    return lines


class Appender:
    """Appends lines to one file per node and remembers when each chunk was written."""

    def __init__(self, paths: list[Path], lines: list[bytes]) -> None:
        self.paths = paths
        self.lines = lines
        self.handles = [path.open("ab", buffering=0) for path in paths]
        self.starts: dict[str, list[int]] = {str(path): [] for path in paths}
        self.times: dict[str, list[float]] = {str(path): [] for path in paths}
        self.cursor = 0
        self.appended_lines = 0

    def append(self, per_node: int) -> None:
        for path, handle in zip(self.paths, self.handles, strict=True):
            chunk = []
            for _ in range(per_node):
                chunk.append(self.lines[self.cursor % len(self.lines)])
                self.cursor += 1
            offset = handle.seek(0, os.SEEK_END)
            self.starts[str(path)].append(offset)
            self.times[str(path)].append(time.perf_counter())
            handle.write(b"".join(chunk))
            self.appended_lines += per_node

    def appended_at(self, path: str, offset: int) -> float:
        index = bisect.bisect_right(self.starts[path], offset) - 1
        return self.times[path][index]

    def sizes(self) -> dict[str, int]:
        return {str(path): path.stat().st_size for path in self.paths}

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


async def register(client: RpcClient, cluster: DemoCluster, cluster_uuid: str) -> None:
    for node in cluster.manifest.nodes:
        body = {
            "cluster_uuid": cluster_uuid,
            "cluster_name": cluster.manifest.name,
            "node_uuid": str(uuid.uuid4()),
            "name": node.name,
            "address": node.address,
            "port": node.port,
            "ssh_user": node.ssh_user,
            "private_key": node.private_key_path.read_text(),
            "known_host_key": node.host_public_key,
            "log_dirs": [str(folder) for folder in node.log_dirs],
        }
        reply = await client.call("collector", "nodes.upsert", RpcRequest(body=body), timeout=30)
        if reply.status != 200:
            raise RuntimeError(f"node registration failed: {reply.body}")


async def run_once(infra, nodes: int, rate: int, seconds: float, lines: list[bytes], folder: Path) -> dict:
    config = DemoClusterConfig(
        cluster_dir=folder / f"demo-{nodes}",
        name=f"bench{nodes}",
        nodes=nodes,
        first_address="127.0.1.2",
        lines_per_second=0.2,
        fault_interval=0,
        seed=1,
    )
    cluster = DemoCluster(config)
    await cluster.start()
    env = {
        "HFD_COLLECTOR_KNOWN_HOSTS": str(folder / "known_hosts"),
        "HFD_COLLECTOR_ACTIVE_POLL_DELAY": "0.05",
        "HFD_COLLECTOR_METRIC_INTERVAL": "3600",
        "HFD_COLLECTOR_OPS_ENABLED": "false",
        "HFD_LOG_LEVEL": "WARNING",
    }
    stack = await asyncio.to_thread(Stack(infra, ["collector"], env).start)
    names = Names(infra.prefix)
    nc = await nats.connect(infra.nats_url)
    paths = [Path(node.log_dirs[0]) / f"hadoop-bench-datanode-{node.name}.log" for node in cluster.manifest.nodes]
    for path in paths:
        path.touch()
    appender = Appender(paths, lines)
    received: list[float] = []
    ends: dict[str, int] = {}
    bench_files = {str(path) for path in paths}

    async def on_batch(msg) -> None:
        now = time.perf_counter()
        batch = json.loads(msg.data)
        if batch["file"] not in bench_files:
            return
        for entry in batch["entries"]:
            received.append(now - appender.appended_at(batch["file"], entry["offset"]))
            ends[batch["file"]] = max(ends.get(batch["file"], 0), entry["offset"] + entry["length"])

    try:
        await nc.subscribe(names.subject("logs.>"), cb=on_batch)
        await register(RpcClient(nc, names), cluster, str(uuid.uuid4()))
        await asyncio.sleep(3)

        per_tick = max(1, round(rate * TICK_SECONDS / nodes))
        started = time.perf_counter()
        next_tick = started
        while time.perf_counter() - started < seconds:
            appender.append(per_tick)
            next_tick += TICK_SECONDS
            await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
        appended_seconds = time.perf_counter() - started

        sizes = appender.sizes()
        deadline = time.perf_counter() + 120
        while True:
            behind = any(ends.get(path, 0) < size for path, size in sizes.items())
            if not behind or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.1)
        finished = time.perf_counter()
        complete = all(ends.get(path, 0) >= size for path, size in sizes.items())
    finally:
        appender.close()
        await nc.close()
        await asyncio.to_thread(stack.stop)
        await cluster.stop()

    latencies = sorted(received)
    return {
        "nodes": nodes,
        "offered_lines_per_s": round(appender.appended_lines / appended_seconds),
        "records": len(latencies),
        "records_per_s": round(len(latencies) / (finished - started)),
        "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000) if latencies else None,
        "complete": complete,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 4, 16], help="node counts to run")
    parser.add_argument("--rate", type=int, default=50_000, help="lines per second appended, all nodes together")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of appending per run")
    args = parser.parse_args()

    lines = load_lines()
    folder = Path(tempfile.mkdtemp(prefix="hfd-bench-collector-"))
    nats_server = EmbeddedNats(folder / "nats")
    os.environ["HFD_TEST_NATS_URL"] = nats_server.start()
    infra = await asyncio.to_thread(start_infra)
    try:
        for nodes in args.nodes:
            result = await run_once(infra, nodes, args.rate, args.seconds, lines, folder)
            print(json.dumps(result), flush=True)
    finally:
        await asyncio.to_thread(stop_infra, infra)
        nats_server.stop()


if __name__ == "__main__":
    asyncio.run(main())
