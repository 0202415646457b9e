"""Throughput and latency of the gateway, through NATS and with the auth handlers called in-process.

Starts a private test database and NATS prefix (as the tests do), the auth service and the
gateway as processes, and a second gateway process whose RPC client calls the auth handler
functions directly instead of over NATS. Then it loads ``GET /api/v1/user/me`` and
``GET /api/v1/users`` on both with ``wrk`` (``apt-get install wrk``) at each concurrency. The
Markdown table it prints has requests per second, p50 and p99 latency, and the CPU time that
the serving processes spent per request (gateway plus auth, or the one in-process gateway).

    .venv/bin/python bench/bench_gateway.py --duration 10 --concurrency 50,200

Both gateways run on the same machine as the load generator, the auth service, NATS and
PostgreSQL, so the numbers include their competition for CPU.
"""

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

ADMIN = ("bench_admin", "Bench9Admin9Pass")
EXTRA_USERS = 20
ENDPOINTS = ("/api/v1/user/me", "/api/v1/users")
STACK_ENV = {
    "HFD_BOOTSTRAP_ADMIN": f"{ADMIN[0]}:{ADMIN[1]}",
    "HFD_LOG_LEVEL": "WARNING",
    "HFD_GATEWAY_LOGIN_ATTEMPTS_PER_ADDRESS": "100000",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve-in-process", help="internal: run the gateway with auth handlers in-process")
    serve.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=int, default=10, help="Seconds per measurement.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of load before each measurement.")
    parser.add_argument("--concurrency", default="50,200", help="Comma-separated open connections.")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (one keeps a core for the servers).")
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    args = parser.parse_args()

    if args.command == "serve-in-process":
        serve_in_process(args.port)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: install it with 'apt-get install wrk'")
    run_benchmark(args)


def run_benchmark(args: argparse.Namespace) -> None:
    from tests.infra import Stack, free_port, start_infra, stop_infra

    infra = start_infra()
    stack = Stack(infra, ["auth", "gateway"], STACK_ENV)
    in_process = None
    try:
        stack.start(90)
        token = prepare_accounts(stack.base_url)
        port = free_port()
        in_process = start_in_process_gateway(infra, port)
        targets = {
            "NATS": (stack.base_url, [stack.processes["gateway"].pid, stack.processes["auth"].pid]),
            "in-process": (f"http://127.0.0.1:{port}", [in_process.pid]),
        }

        results = []
        for endpoint in ENDPOINTS:
            for concurrency in [int(value) for value in args.concurrency.split(",")]:
                for label, (base_url, pids) in targets.items():
                    url = f"{base_url}{endpoint}"
                    wrk(url, token, concurrency, args.warmup, args.threads)
                    load = os.getloadavg()[0]
                    cpu_before = [cpu_seconds(pid) for pid in pids]
                    result = wrk(url, token, concurrency, args.duration, args.threads)
                    cpu_by_process = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
                    cpu_used = sum(cpu_by_process)
                    requests = result["rps"] * args.duration
                    result.update(
                        endpoint=endpoint,
                        concurrency=concurrency,
                        path=label,
                        cpu_ms_per_request=round(cpu_used * 1000 / requests, 3) if requests else None,
                        load_before=round(load, 2),
                        cpu_ms_by_process=[round(value * 1000 / requests, 3) for value in cpu_by_process]
                        if requests
                        else None,
                    )
                    results.append(result)
                    print(json.dumps(result), file=sys.stderr)
    finally:
        if in_process is not None:
            in_process.terminate()
            in_process.wait(15)
        stack.stop()
        stop_infra(infra)

    print(markdown(results))
    print(f"\nload average (1 min) after the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))


def prepare_accounts(base_url: str) -> str:
    """Log the admin in and create ``EXTRA_USERS`` accounts, so that /users lists a realistic page."""
    client = httpx.Client(base_url=f"{base_url}/api/v1", timeout=30)
    token = client.post("/user/login", json={"username": ADMIN[0], "password": ADMIN[1]}).json()["token"]
    for index in range(EXTRA_USERS):
        body = {
            "username": f"bench_user_{index}",
            "email": f"bench_user_{index}@example.com",
            "role": "observer",
            "password": ADMIN[1],
        }
        client.post("/users", json=body, headers={"Authorization": f"Bearer {token}"})
    return token


def start_in_process_gateway(infra, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, __file__, "serve-in-process", "--port", str(port)],
        cwd=REPO_ROOT,
        env=infra.env(**STACK_ENV),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError("in-process gateway did not start")


def wrk(url: str, token: str, concurrency: int, duration: int, threads: int) -> dict:
    """Run wrk; return requests per second, p50 and p99 in milliseconds, non-2xx responses and timeouts.

    wrk stops waiting for a response after 2 seconds and counts it as a timeout, outside the percentiles.
    """
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{duration}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    timeouts = re.search(r"Socket errors: .*timeout (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _milliseconds(re.search(r"\s50%\s+([\d.]+\w+)", output).group(1)),
        "p99_ms": _milliseconds(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time a process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()
    return round(float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


def markdown(results: list[dict]) -> str:
    lines = [
        "| endpoint | concurrency | path | requests/s | p50 ms | p99 ms | non-2xx | timeouts | CPU ms/request |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for item in results:
        lines.append(
            f"| `GET {item['endpoint']}` | {item['concurrency']} | {item['path']} | {item['rps']:.0f} "
            f"| {item['p50_ms']} | {item['p99_ms']} | {item['non_2xx']} | {item['timeouts']} "
            f"| {item['cpu_ms_per_request']} |"
        )
    return "\n".join(lines)


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_1min": os.getloadavg()[0],
    }


# The in-process variant


class InProcessRpc:
    """Stands in for ``RpcClient``: encodes the envelope and the reply as over NATS, but calls the handler directly."""

    def __init__(self, service, handlers: dict) -> None:
        self.service = service
        self.handlers = handlers

    async def call(self, service: str, operation: str, request, *, timeout: float | None = None):
        from libs.common.rpc import RpcReply

        # _dispatch is the same code the NATS endpoint runs: decode, call, encode errors.
        reply = await self.service._dispatch(operation, self.handlers[operation], request.model_dump_json().encode())
        return RpcReply.model_validate_json(reply.model_dump_json())


async def open_auth_handlers():
    """Build the auth service's handlers in this process, on the same database and buckets."""
    from libs.common.bus import connect
    from libs.common.db import Database
    from libs.common.names import Names
    from libs.common.rpc import RpcService
    from libs.common.settings import get_common_settings
    from services.auth.config import get_auth_settings
    from services.auth.context import AuthContext
    from services.auth.handlers import AuthHandlers
    from services.auth.security import Passwords
    from services.auth.state import TokenStateStore

    common = get_common_settings()
    settings = get_auth_settings()
    names = Names(common.nats_prefix)
    nc = await connect(common.nats_url, "bench-in-process-auth")
    database = Database(common.database_url)
    tokens = await TokenStateStore.open(nc.jetstream(), names, access_token_seconds=settings.access_token_seconds)
    context = AuthContext(
        db=database, settings=settings, passwords=Passwords(settings), tokens=tokens, jwt_secret=common.jwt_secret
    )
    rpc = InProcessRpc(RpcService(nc, names, "auth", "bench"), AuthHandlers(context).operations())

    async def close() -> None:
        await database.dispose()
        await nc.close()

    return rpc, close


def serve_in_process(port: int) -> None:
    import uvicorn

    from services.gateway.app import create_app

    app = create_app()
    gateway_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application):
        async with gateway_lifespan(application):
            rpc, close = await open_auth_handlers()
            application.state.rpc = rpc
            try:
                yield
            finally:
                await close()

    app.router.lifespan_context = lifespan
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_config=None, access_log=False)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
