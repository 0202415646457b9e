"""Throughput of the faults LOGS consumer on the real Hadoop logs, with real PostgreSQL and NATS.

The script publishes every ``*.log`` under the real-logs folder to a private ``LOGS`` stream as
``LogBatch`` messages of 100 records (the collector's ``batch_max_records``), one node per
folder. Then it fetches them in groups of N messages and times ``LogConsumer.handle`` on each
group. That call is one database transaction: message keys, detection, incidents, stored WARN+
records, outbox events and the engines' saved state. The time spent saving engine state
(``EngineRegistry.checkpoint``) is also reported on its own. Fetching, acknowledging and the
outbox relay are left out. Each run gets a new database and NATS prefix (``tests.infra``).

Run: .venv/bin/python bench/bench_consumer.py [--per-transaction 1 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from libs.common.bus import ensure_streams  # noqa: E402
from libs.common.catalog import load_catalog  # noqa: E402
from libs.common.datasets import data_dir  # noqa: E402
from libs.common.db import Database, migrate  # noqa: E402
from libs.common.events import LogBatch, LogEntry  # noqa: E402
from libs.common.logformat import iter_records, log_type_from_filename  # noqa: E402
from libs.common.names import Names  # noqa: E402
from services.faults.config import FaultsSettings  # noqa: E402
from services.faults.consumers import ConsumerDeps, LogConsumer  # noqa: E402
from services.faults.engines import EngineRegistry  # noqa: E402
from services.faults.events import OutboxRelay  # noqa: E402
from services.faults.models import SCHEMA  # noqa: E402
from tests.infra import start_infra, stop_infra  # noqa: E402

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "faults" / "migrations"
RECORDS_PER_MESSAGE = 100


class TimedRegistry(EngineRegistry):
    """An engine registry that adds up the time spent in :meth:`checkpoint`."""

    checkpoint_seconds = 0.0

    async def checkpoint(self, session, keys, now):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return await super().checkpoint(session, keys, now)
        finally:
            self.checkpoint_seconds += time.perf_counter() - started


def build_batches(root: Path) -> list[LogBatch]:
    """Split every log file under ``root`` into batches of whole records, as the collector publishes them."""
    batches = []
    for path in sorted(root.rglob("*.log")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        texts = [record.text for record in iter_records(lines, str(path))]
        offset = 0
        for first in range(0, len(texts), RECORDS_PER_MESSAGE):
            entries = []
            for text in texts[first:first + RECORDS_PER_MESSAGE]:
                length = len(text.encode()) + 1
                entries.append(LogEntry(offset=offset, length=length, text=text))
                offset += length
            batches.append(LogBatch(cluster="bench", node=path.parent.name, log_type=log_type_from_filename(path.name),
                                    file=str(path), inode=1, entries=entries))
    return batches


async def _no_fence(session) -> None:
    """Let every transaction commit: the benchmark runs one consumer alone."""


async def run_once(batches: list[LogBatch], per_transaction: int) -> tuple[float, float, int]:
    """Publish ``batches`` to a new stream and database and consume them.

    Return the seconds spent in ``LogConsumer.handle``, the part of them spent saving engine
    state, and the number of transactions.
    """
    infra = await asyncio.to_thread(start_infra)
    try:
        await migrate(infra.database_url, SCHEMA, MIGRATIONS)
        db = Database(infra.database_url, pool_size=2)
        nc = await nats.connect(infra.nats_url)
        js, names = nc.jetstream(), Names(infra.prefix)
        await ensure_streams(js, names, ["LOGS"])
        for batch in batches:
            await js.publish(names.logs(batch.cluster, batch.node, batch.log_type), batch.model_dump_json().encode())

        catalog = load_catalog()
        registry = TimedRegistry(catalog)
        deps = ConsumerDeps(db=db, js=js, names=names, catalog=catalog, settings=FaultsSettings(),
                            registry=registry, relay=OutboxRelay(db, js), fence=_no_fence)
        consumer = LogConsumer(deps)
        subscription = await js.pull_subscribe(names.subject("logs.bench.>"), stream=names.stream("LOGS"))
        spent, done, transactions = 0.0, 0, 0
        while done < len(batches):
            messages = await subscription.fetch(per_transaction, timeout=5)
            started = time.perf_counter()
            await consumer.handle(messages)
            spent += time.perf_counter() - started
            for message in messages:
                await message.ack()
            done += len(messages)
            transactions += 1
        await nc.close()
        await db.dispose()
        return spent, registry.checkpoint_seconds, transactions
    finally:
        await asyncio.to_thread(stop_infra, infra)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-transaction", type=int, nargs="+", default=[1, 20],
                        help="messages handled in one transaction; one measurement per value")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is reported")
    args = parser.parse_args()

    root = data_dir()
    if not root.is_dir():
        print(f"real Hadoop logs not found at {root}; set HFD_DATA_DIR", file=sys.stderr)
        return 2
    batches = build_batches(root)
    records = sum(len(batch.entries) for batch in batches)

    print(f"input: {len(batches)} messages, {records:,} records")
    print("| messages per transaction | records/s (median) | runs | saving state, ms per transaction (median) |")
    print("|---:|---:|---|---:|")
    for per_transaction in args.per_transaction:
        rates, saving = [], []
        for _ in range(args.repeat):
            seconds, checkpoint_seconds, transactions = asyncio.run(run_once(batches, per_transaction))
            rates.append(records / seconds)
            saving.append(checkpoint_seconds / transactions * 1000)
        runs = ", ".join(f"{rate:,.0f}" for rate in rates)
        print(f"| {per_transaction} | {statistics.median(rates):,.0f} | {runs} | {statistics.median(saving):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
