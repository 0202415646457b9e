"""The demo's view: a live terminal dashboard, or plain log lines when output is not a terminal."""

import logging
import time
from dataclasses import dataclass, field

import httpx
from rich.console import Group
from rich.live import Live
from rich.table import Table

logger = logging.getLogger("hfd.demo")

POLL_SECONDS = 2.0


@dataclass
class Snapshot:
    """The nodes, incidents, diagnoses and commands read from the API in one poll."""

    nodes: list[dict] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)
    diagnoses: dict[str, dict] = field(default_factory=dict)
    repairs: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)


def _read(api, cluster: str, diagnoses: dict[str, dict]) -> Snapshot:
    snapshot = Snapshot(diagnoses=diagnoses)
    snapshot.nodes = api.get_json("/nodes", cluster=cluster).get("nodes", [])
    snapshot.incidents = api.get_json("/faults", cluster=cluster, size=12).get("items", [])
    for incident in snapshot.incidents[:8]:
        if incident["id"] in diagnoses:
            continue
        response = api.request("GET", f"/incidents/{incident['id']}/diagnosis")
        if response.status_code == 200:
            diagnoses[incident["id"]] = response.json()
    snapshot.repairs = _optional(api, "/repairs", cluster=cluster).get("items", [])
    snapshot.runs = _optional(api, "/exec-logs", size=6).get("items", [])
    return snapshot


def _optional(api, path: str, **params) -> dict:
    try:
        return api.get_json(path, **params)
    except httpx.HTTPStatusError:
        return {}


def _render(snapshot: Snapshot, base_url: str) -> Group:
    nodes = Table(title="Nodes", expand=True)
    for column in ("node", "ip", "status", "cpu", "mem", "updated"):
        nodes.add_column(column)
    for node in snapshot.nodes:
        nodes.add_row(node["name"], node["ip"], node["status"], node["cpu"], node["mem"], node["updated"])

    incidents = Table(title="Incidents", expand=True)
    for column in ("kind", "level", "status", "node", "count", "title", "diagnosis"):
        incidents.add_column(column, overflow="fold")
    for item in snapshot.incidents:
        diagnosis = snapshot.diagnoses.get(item["id"], {})
        incidents.add_row(
            item["type"],
            item["level"],
            item["status"],
            item["node"],
            str(item.get("count", "")),
            item["title"],
            (diagnosis.get("summary") or "")[:80],
        )

    runs = Table(title="Repairs and commands", expand=True)
    for column in ("time", "user", "command", "status", "exit"):
        runs.add_column(column, overflow="fold")
    for run in snapshot.runs:
        runs.add_row(
            str(run.get("start_time", ""))[:19],
            str(run.get("username", "")),
            str(run.get("command_type") or run.get("description", "")),
            str(run.get("execution_status", "")),
            str(run.get("exit_code", "")),
        )
    footer = f"API {base_url}/api/v1 · docs {base_url}/docs · Ctrl-C stops"
    return Group(nodes, incidents, runs, footer)


def _print_changes(snapshot: Snapshot, seen: dict[str, tuple]) -> None:
    for item in snapshot.incidents:
        state = (item["status"], item.get("count"))
        if seen.get(item["id"]) != state:
            verb = "opened" if item["id"] not in seen else item["status"]
            logger.info(
                "incident %s kind=%s node=%s level=%s count=%s title=%s",
                verb, item["type"], item["node"], item["level"], item.get("count"), item["title"],
            )
            seen[item["id"]] = state
        diagnosis = snapshot.diagnoses.get(item["id"])
        if diagnosis and ("diagnosis", item["id"]) not in seen:
            seen[("diagnosis", item["id"])] = ()
            logger.info("diagnosis incident=%s summary=%s", item["id"], (diagnosis.get("summary") or "")[:200])
    for run in snapshot.runs:
        key = ("run", run.get("id"))
        if key not in seen:
            seen[key] = ()
            logger.info(
                "command user=%s command=%s status=%s exit=%s",
                run.get("username"), run.get("command_type"), run.get("execution_status"), run.get("exit_code"),
            )


def follow(api, cluster: str, stack, *, duration: float | None, interactive: bool) -> None:
    """Poll the API and show the cluster until ``duration`` passes or the user stops the demo."""
    deadline = time.monotonic() + duration if duration else None
    diagnoses: dict[str, dict] = {}
    seen: dict = {}
    live = Live(refresh_per_second=1, screen=False) if interactive else None
    if live is not None:
        live.start()
    try:
        while deadline is None or time.monotonic() < deadline:
            stack.supervise()
            try:
                snapshot = _read(api, cluster, diagnoses)
            except httpx.HTTPError as error:
                logger.warning("demo view could not read the API error=%s", error)
                time.sleep(POLL_SECONDS)
                continue
            if live is not None:
                live.update(_render(snapshot, stack.base_url))
            else:
                _print_changes(snapshot, seen)
            time.sleep(POLL_SECONDS)
    finally:
        if live is not None:
            live.stop()
