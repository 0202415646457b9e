"""The steps after the kills: the killed NATS server starts again, then PostgreSQL crashes and starts again.

Like the kills, each step records the seconds until its checks passed, None for a check that
did not pass within its timeout.
"""

import asyncio
import time

from tests.reliability.api import ApiMonitor
from tests.reliability.probes import AI_DURABLE, FAULTS_LOGS_DURABLE, wait_until
from tests.reliability.sequence import STEP_TIMEOUT_SECONDS, FailoverRun, StepResult, slowest

# How long PostgreSQL stays down, counted from the SIGKILL: about what a supervisor takes to
# notice the crash and start the server again.
DATABASE_DOWN_SECONDS = 5.0
# A gateway call per service that reads that service's tables.
DATABASE_CALLS = {
    "auth": ("POST", "/user/login"),
    "inventory": ("GET", "/clusters"),
    "collector": ("GET", "/hadoop/collectors/status/"),
    "faults": ("GET", "/faults"),
    "ai": ("GET", "/repairs"),
}


async def restart_nats_server(run: FailoverRun) -> StepResult:
    """Start the killed NATS server again; wait until every stream and durable consumer has 3 current replicas."""
    name = run.killed_nats_server
    assert name is not None, "no NATS server was killed"
    started = time.monotonic()
    await asyncio.to_thread(run.nats.restart, name)
    listening = time.monotonic() - started

    async def logs_current() -> bool:
        return not await run.bus.streams_behind("LOGS")

    async def streams_current() -> bool:
        return not await run.bus.streams_behind()

    async def consumers_current() -> bool:
        return not await run.bus.consumers_behind()

    logs_seconds = await wait_until(logs_current, STEP_TIMEOUT_SECONDS, since=started)
    streams_seconds = await wait_until(streams_current, STEP_TIMEOUT_SECONDS, since=started)
    consumers_seconds = await wait_until(consumers_current, STEP_TIMEOUT_SECONDS, since=started)
    details = {
        "listening_s": listening,
        "logs_current_s": logs_seconds,
        "streams_current_s": streams_seconds,
        "consumers_current_s": consumers_seconds,
        "streams": len(await run.bus.js.streams_info()),
    }
    if None in (logs_seconds, streams_seconds, consumers_seconds):
        details["streams_behind"] = await run.bus.streams_behind()
        details["consumers_behind"] = await run.bus.consumers_behind()
    return run.record(
        StepResult(
            "nats-server restart",
            f"{name}, same ports and store folder",
            "LOGS, then every stream and key-value bucket, then every durable consumer reports all three "
            "replicas current",
            slowest(logs_seconds, streams_seconds, consumers_seconds),
            details,
        )
    )


async def crash_postgres(run: FailoverRun) -> StepResult:
    """Kill PostgreSQL with SIGKILL, start it again on the same port and data, and wait until every service uses it.

    No service process is restarted. After the restart these checks run at once:

    - a gateway call per service succeeds;
    - the faults consumer acknowledges a LOGS message stored after the restart, so every
      earlier one is committed;
    - a record written to each node is published and its offset committed;
    - the AI consumer acknowledges a FAULTS event stored after the restart, and every incident
      has a diagnosis. A fault injected at the restart makes such an event likely.

    The checks' seconds count from the restart, the step's from the kill.
    """
    monitor = ApiMonitor(run.api)
    monitor_stopping = asyncio.Event()
    monitor_task = asyncio.create_task(monitor.run(monitor_stopping))

    killed = time.monotonic()
    killed_pids = await asyncio.to_thread(run.postgres.kill)
    await asyncio.sleep(max(0.0, DATABASE_DOWN_SECONDS - (time.monotonic() - killed)))
    await asyncio.to_thread(run.postgres.restart)
    restarted = time.monotonic()
    down = restarted - killed

    logs_at_restart = await run.bus.last_seq("LOGS")
    faults_at_restart = await run.bus.last_seq("FAULTS")
    injected = run.inject_new_fault()

    async def logs_committed() -> bool:
        return await run.bus.consumer_ack_floor("LOGS", FAULTS_LOGS_DURABLE) > logs_at_restart

    async def faults_handled() -> bool:
        if await run.bus.consumer_ack_floor("FAULTS", AI_DURABLE) <= faults_at_restart:
            return False
        if await run.db.undiagnosed(run.cluster_uuid):
            return False
        return await run.bus.consumer_backlog("FAULTS", AI_DURABLE) == 0

    api_checks = {
        service: run.api_recovery(method, path, since=restarted) for service, (method, path) in DATABASE_CALLS.items()
    }
    results = await asyncio.gather(
        wait_until(logs_committed, STEP_TIMEOUT_SECONDS, since=restarted),
        run.collect_markers(list(run.node_names.values()), since=restarted),
        wait_until(faults_handled, STEP_TIMEOUT_SECONDS * 1.5, since=restarted, interval=0.5),
        *api_checks.values(),
    )
    committed_seconds, markers_seconds, handled_seconds, *api_seconds = results
    monitor_stopping.set()
    await monitor_task

    exited = run.replicas.exited()
    last_check = slowest(committed_seconds, markers_seconds, handled_seconds, *api_seconds)
    details = {
        "killed_processes": len(killed_pids),
        "down_s": down,
        "crash_recovery_logged": run.postgres.recovered_from_crash(),
        "api_after_restart_s": dict(zip(api_checks, api_seconds, strict=True)),
        "faults_committed_after_restart_s": committed_seconds,
        "markers_collected_after_restart_s": markers_seconds,
        "injected": injected,
        "ai_handled_after_restart_s": handled_seconds,
        "api_during_outage": monitor.summary(),
        "exited_processes": exited,
    }
    return run.record(
        StepResult(
            "postgresql",
            f"postmaster and its {len(killed_pids) - 1} processes, restarted after {down:.1f} s",
            "after the restart, without restarting a service: a gateway call per service succeeds, the "
            f"{FAULTS_LOGS_DURABLE} consumer commits a LOGS message stored after the restart, a record written to "
            f"each node is published and committed, the {AI_DURABLE} consumer acknowledges a FAULTS event stored "
            "after the restart and every incident has a diagnosis",
            None if last_check is None or exited else down + last_check,
            details,
        )
    )
