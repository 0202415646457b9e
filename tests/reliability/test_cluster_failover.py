"""Reliability on a NATS cluster of three with two replicas of every service.

The demo cluster writes logs while the test kills processes with SIGKILL, one after another.
First goes the NATS server that leads the LOGS stream. Then one replica each of gateway, auth,
inventory, faults (the holder of the consumers lease), ai and collector (the one holding more
node leases). Then the killed NATS server starts again and must catch up, and the test's own
PostgreSQL server is killed and started again, which every service must survive without a
restart. Then the demo stops writing and the test waits until everything is drained.
The LOGS stream must hold every record of every file exactly once. The faults and AI
databases must hold exactly the incidents, WARN+ records and diagnoses that one uninterrupted
replica would have produced.

The summary (records, incidents, recovery seconds per step) is printed and written to
``HFD_RELIABILITY_SUMMARY`` (default ``var/reliability-summary.json``); docs/reliability.md
reports a run.
"""

import asyncio
import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from libs.common.events import FaultEvent
from libs.common.names import Names
from tests.infra import REPO_ROOT
from tests.reliability.api import ApiMonitor, GatewayClient, register_demo_cluster
from tests.reliability.expected import expected_from_batches, load_stored, sent_incidents
from tests.reliability.probes import AI_DURABLE, FAULTS_LOGS_DURABLE, ClusterBus, Database, wait_until
from tests.reliability.records import compare_records, live_files, read_stream
from tests.reliability.recovery import crash_postgres, restart_nats_server
from tests.reliability.sequence import FailoverRun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(540)]

STEADY_SECONDS = 20.0
SECONDS_BETWEEN_KILLS = 12.0
DRAIN_TIMEOUT_SECONDS = 120.0
SUMMARY_PATH = Path(os.environ.get("HFD_RELIABILITY_SUMMARY", REPO_ROOT / "var" / "reliability-summary.json"))


def write_summary(text: str) -> None:
    SUMMARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_PATH.write_text(text + "\n", encoding="utf-8")


async def wait_for_collection(run: FailoverRun, timeout: float = 60.0) -> None:
    """Wait until both collectors hold node leases and every node has published to LOGS."""
    node_uuids = list(run.node_names)

    async def split_and_publishing() -> bool:
        holders = await run.bus.collector_holders(node_uuids)
        if None in holders.values() or len(set(holders.values())) != 2:
            return False
        return set(run.node_names.values()) <= set(run.bus.last_publish)

    seconds = await wait_until(split_and_publishing, timeout)
    holders = await run.bus.collector_holders(node_uuids)
    assert seconds is not None, f"collectors did not split the nodes and publish: holders {holders}"


async def kill_one_after_another(run: FailoverRun) -> None:
    steps = [
        run.kill_nats_server,
        lambda: run.kill_request_service("gateway", "GET", "/clusters", "GET /clusters succeeds on the other gateway"),
        lambda: run.kill_request_service("auth", "POST", "/user/login", "a login through the gateway succeeds"),
        lambda: run.kill_request_service("inventory", "GET", "/clusters", "GET /clusters succeeds"),
        run.kill_faults_leader,
        run.kill_ai_replica,
        run.kill_busiest_collector,
    ]
    for step in steps:
        started = time.monotonic()
        result = await step()
        print(f"killed {result.step} {result.target}: recovered after {result.seconds} s")
        await asyncio.sleep(max(0.0, SECONDS_BETWEEN_KILLS - (time.monotonic() - started)))


async def restart_nats_then_crash_postgres(run: FailoverRun) -> None:
    for step in (restart_nats_server, crash_postgres):
        result = await step(run)
        print(f"{result.step} {result.target}: recovered after {result.seconds} s")


async def drain(run: FailoverRun) -> float | None:
    """Stop the demo's writing; wait until every file is collected to its end and every consumer is idle."""
    run.demo.run(run.demo.demo.stop_writing())
    stopped = time.monotonic()
    run.writing_seconds = stopped - run.demo.started_at
    files = live_files(run.demo.manifest)
    uuid_of = {name: node_uuid for node_uuid, name in run.node_names.items()}

    async def collected_to_end() -> bool:
        positions = await run.db.positions(list(run.node_names))
        for item in files:
            stored = positions.get((uuid_of[item.node], item.path))
            if stored != (item.inode, len(item.data), False):
                return False
        return True

    async def idle() -> bool:
        if await run.bus.consumer_backlog("LOGS", FAULTS_LOGS_DURABLE):
            return False
        if await run.db.outbox_size():
            return False
        if await run.db.undiagnosed(run.cluster_uuid):
            return False
        return await run.bus.consumer_backlog("FAULTS", AI_DURABLE) == 0

    async def drained() -> bool:
        return await collected_to_end() and await idle()

    return await wait_until(drained, DRAIN_TIMEOUT_SECONDS, since=stopped, interval=1.0)


async def test_failover_loses_and_duplicates_nothing(infra, postgres, nats_cluster, demo, replicas):
    names = Names(infra.prefix)
    api = GatewayClient(replicas.gateway_urls)
    bus = await ClusterBus(nats_cluster.urls, names).connect()
    db = Database(infra.database_url)
    try:
        await api.call_until_ok("POST", "/user/login", timeout=30)
        cluster_uuid = await register_demo_cluster(api, demo.manifest, "rel-demo")
        bus.cluster_uuid = cluster_uuid
        await bus.follow_log_publishes()
        node_names = await db.nodes(cluster_uuid)
        assert len(node_names) == len(demo.manifest.nodes), f"collector nodes: {node_names}"
        run = FailoverRun(nats_cluster, replicas, api, bus, db, demo, postgres, cluster_uuid, node_names)

        steady_started = time.monotonic()
        await wait_for_collection(run)
        monitor = ApiMonitor(api)
        monitor_stopping = asyncio.Event()
        monitor_task = asyncio.create_task(monitor.run(monitor_stopping))
        await asyncio.sleep(max(0.0, STEADY_SECONDS - (time.monotonic() - steady_started)))
        await kill_one_after_another(run)
        monitor_stopping.set()
        await monitor_task
        await restart_nats_then_crash_postgres(run)
        drain_seconds = await drain(run)

        logs = await read_stream(bus.js, names.stream("LOGS"), names.subject(f"logs.{cluster_uuid}.>"))
        faults = await read_stream(bus.js, names.stream("FAULTS"), names.subject(f"faults.{cluster_uuid}.>"))
        stored = await load_stored(infra.database_url, cluster_uuid)
    except BaseException:
        print(replicas.log_tails())
        raise
    finally:
        await bus.close()
        await api.close()

    report, batches = compare_records(logs, live_files(demo.manifest))
    expected = expected_from_batches(batches)
    events = [FaultEvent.model_validate_json(message.data) for message in faults]
    sent = sent_incidents(events)

    log_incidents = stored.log_incidents()
    stored_counts = Counter(row["fingerprint"] for row in log_incidents)
    stored_occurrences = {row["fingerprint"]: row["count"] for row in log_incidents}
    missing = sorted(set(expected.counts) - set(stored_counts))
    unexpected = sorted(set(stored_counts) - set(expected.counts))
    twice = sorted(key for key, count in stored_counts.items() if count > 1)
    count_differences = {
        key: {"expected": expected.counts[key], "stored": stored_occurrences[key]}
        for key in sorted(set(expected.counts) & set(stored_occurrences))
        if expected.counts[key] != stored_occurrences[key]
    }
    diagnosed_twice = {incident: count for incident, count in stored.diagnoses.items() if count > 1}
    sent_undiagnosed = sorted(sent - set(stored.diagnoses))
    never_sent = sorted({row["id"] for row in stored.incidents} - sent)

    summary = {
        "machine": {"cpus": os.cpu_count()},
        "writing_seconds": round(run.writing_seconds, 1),
        "records": report.records,
        "batches": report.batches,
        "files": report.files,
        "file_bytes": report.file_bytes,
        "duplicate_msg_ids": len(report.duplicate_msg_ids),
        "repeated_positions": len(report.repeated_positions),
        "gaps": len(report.gaps),
        "text_mismatches": len(report.text_mismatches),
        "short_files": len(report.short_files),
        "warn_rows": {"expected": expected.warn_rows, "stored": stored.warn_rows},
        "log_incidents": {
            "expected": len(expected.counts),
            "stored": len(log_incidents),
            "by_kind": dict(Counter(row["kind"] for row in log_incidents)),
            "missing": missing,
            "unexpected": unexpected,
            "stored_twice": twice,
            "count_differences": count_differences,
        },
        "metric_incidents": dict(Counter(row["kind"] for row in stored.metric_incidents())),
        "fault_events": dict(Counter(event.event for event in events)),
        "diagnoses": {
            "total": sum(stored.diagnoses.values()),
            "incidents": len(stored.diagnoses),
            "by_trigger": dict(stored.diagnosis_triggers),
            "diagnosed_twice": diagnosed_twice,
            "sent_undiagnosed": sent_undiagnosed,
        },
        "incidents_without_event": never_sent,
        "api_during_kills": monitor.summary(),
        "drain_seconds": drain_seconds,
        "steps": run.summary(),
        "exited_processes": replicas.exited(),
    }
    text = json.dumps(summary, indent=2, ensure_ascii=False, default=str)
    print(text)
    write_summary(text)
    if summary["exited_processes"]:
        print(replicas.exited_log_tails())

    assert drain_seconds is not None, "files not collected to the end or consumers not idle after writing stopped"
    assert report.records > 0, "no records in LOGS"
    assert report.duplicate_msg_ids == [], f"message ids twice in LOGS: {report.duplicate_msg_ids[:5]}"
    assert report.repeated_positions == [], f"records twice in LOGS: {report.repeated_positions[:5]}"
    assert report.gaps == [], f"records missing between offsets: {report.gaps[:5]}"
    assert report.text_mismatches == [], f"record text differs from the file: {report.text_mismatches[:5]}"
    assert report.short_files == [], f"files not covered to their end: {report.short_files[:5]}"
    assert report.files_without_records == [], f"files without records: {report.files_without_records[:5]}"
    assert stored.warn_rows == expected.warn_rows, "WARN+ rows in faults.log_records differ from the records"
    assert missing == [], f"expected incidents not stored: {missing}"
    assert unexpected == [], f"incidents stored that offline detection does not find: {unexpected}"
    assert twice == [], f"incidents stored twice: {twice}"
    assert never_sent == [], f"incidents without a FAULTS event: {never_sent}"
    assert sent_undiagnosed == [], f"incidents sent to the AI service without a diagnosis: {sent_undiagnosed}"
    assert diagnosed_twice == {}, f"incidents diagnosed more than once: {diagnosed_twice}"
    assert all(result.seconds is not None for result in run.results), f"a recovery check timed out: {run.summary()}"
    assert replicas.exited() == [], f"service processes exited: {replicas.exited()}"
