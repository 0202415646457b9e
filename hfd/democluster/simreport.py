"""Simulated ``hdfs dfsadmin`` and ``yarn node`` / ``yarn application`` commands.

Capacities come from the real file system that contains each DataNode's home (``statvfs``);
DFS Used is a stable per-node share of it, and a DataNode with an active disk-full fault
reports no remaining space. A DataNode counts as dead as soon as it is stopped or cannot
reach the NameNode. A real NameNode first waits about 10.5 minutes without heartbeats.
"""

import os
import sys
import time
import zlib
from datetime import UTC, datetime

from hfd.democluster.context import (
    DATANODE_XFER_PORT,
    NAMENODE_RPC_PORT,
    NM_PORT,
    NM_WEB_PORT,
    RM_CLIENT_PORT,
)
from hfd.democluster.simcluster import SimCluster, connection_refused_message
from hfd.democluster.state import utc_now_iso

GIB = 1024**3
SAFEMODE_WAIT_POLL_SECONDS = 1.0


def byte_desc(value: int) -> str:
    """Format bytes as Hadoop's StringUtils.byteDesc does, e.g. ``98.31 GB``."""
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    amount = float(value)
    unit = 0
    while amount >= 1024 and unit < len(units) - 1:
        amount /= 1024
        unit += 1
    return f"{amount:.2f} {units[unit]}" if unit else f"{value} B"


def sized(value: int) -> str:
    return f"{value} ({byte_desc(value)})"


def java_date(when: datetime) -> str:
    """Format a date as java.util.Date.toString() does, e.g. ``Fri Dec 04 10:01:02 UTC 2026``."""
    return when.strftime("%a %b %d %H:%M:%S UTC %Y")


def dfsadmin(cluster: SimCluster, args: list[str]) -> int:
    namenode = cluster.node_with("namenode")
    if not args or args[0] not in ("-report", "-safemode"):
        print("Usage: hdfs dfsadmin [-report [-live] [-dead]] [-safemode <enter | leave | get | wait | forceExit>]",
              file=sys.stderr)
        return 255 if args else 1

    operation = args[0].lstrip("-")
    if not cluster.daemon_running(namenode, "namenode"):
        print(connection_refused_message(cluster, operation, namenode, NAMENODE_RPC_PORT), file=sys.stderr)
        return 255
    if operation == "safemode":
        return safemode(cluster, namenode, args[1:])
    return report(cluster, namenode, args[1:])


def safemode(cluster: SimCluster, namenode: dict, args: list[str]) -> int:
    action = args[0] if args else ""
    store = cluster.store(namenode["name"])

    def set_safemode(on: bool) -> None:
        def change(state: dict) -> None:
            state["safemode"] = on
            state["safemode_reason"] = "manual" if on else None
            state["safemode_changed_at"] = utc_now_iso()

        store.update(change)

    if action == "get":
        pass
    elif action in ("leave", "forceExit"):
        set_safemode(False)
    elif action == "enter":
        set_safemode(True)
    elif action == "wait":
        while store.read().get("safemode"):
            time.sleep(SAFEMODE_WAIT_POLL_SECONDS)
    else:
        print("Usage: hdfs dfsadmin [-safemode enter | leave | get | wait | forceExit]", file=sys.stderr)
        return 255

    on = bool(store.read().get("safemode"))
    print(f"Safe mode is {'ON' if on else 'OFF'}")
    return 0


def datanode_figures(cluster: SimCluster, node: dict, state: dict | None) -> dict[str, int]:
    """Capacity figures of one DataNode, in bytes."""
    try:
        stats = os.statvfs(cluster.node_layout(node["name"]).home)
        capacity = stats.f_blocks * stats.f_frsize
        free = stats.f_bavail * stats.f_frsize
    except OSError:
        capacity, free = 100 * GIB, 60 * GIB

    share = (zlib.crc32(node["name"].encode()) % 40 + 5) / 1000
    dfs_used = int(capacity * share)
    remaining = max(free - dfs_used, 0)
    if state and "disk_full" in state.get("faults", {}):
        remaining = 0
    non_dfs = max(capacity - dfs_used - remaining, 0)
    return {"capacity": capacity, "dfs_used": dfs_used, "non_dfs": non_dfs, "remaining": remaining,
            "blocks": int(dfs_used // (128 * 1024 * 1024))}


def percent(part: int, whole: int) -> str:
    return f"{(100.0 * part / whole) if whole else 0.0:.2f}%"


def datanode_section(node: dict, figures: dict[str, int], last_contact: datetime) -> list[str]:
    capacity = figures["capacity"]
    return [
        f"Name: {node['address']}:{DATANODE_XFER_PORT} ({node['name']})",
        f"Hostname: {node['name']}",
        "Decommission Status : Normal",
        f"Configured Capacity: {sized(capacity)}",
        f"DFS Used: {sized(figures['dfs_used'])}",
        f"Non DFS Used: {sized(figures['non_dfs'])}",
        f"DFS Remaining: {sized(figures['remaining'])}",
        f"DFS Used%: {percent(figures['dfs_used'], capacity)}",
        f"DFS Remaining%: {percent(figures['remaining'], capacity)}",
        "Configured Cache Capacity: 0 (0 B)",
        "Cache Used: 0 (0 B)",
        "Cache Remaining: 0 (0 B)",
        "Cache Used%: 100.00%",
        "Cache Remaining%: 0.00%",
        "Xceivers: 1",
        f"Last contact: {java_date(last_contact)}",
        f"Last Block Report: {java_date(last_contact)}",
        f"Num of Blocks: {figures['blocks']}",
        "",
        "",
    ]


def report(cluster: SimCluster, namenode: dict, args: list[str]) -> int:
    now = datetime.now(UTC)
    live, dead = [], []
    for node in cluster.nodes_with("datanode"):
        state = cluster.state_of(node["name"])
        entry = (state or {}).get("daemons", {}).get("datanode", {})
        unreachable = "namenode_unreachable" in (state or {}).get("faults", {})
        figures = datanode_figures(cluster, node, state)
        if entry.get("running") and not unreachable:
            live.append((node, figures, now))
        else:
            changed = entry.get("changed_at")
            last = datetime.fromisoformat(changed) if changed else now
            dead.append((node, figures, last))

    totals = {key: sum(figures[key] for _, figures, _ in live) for key in ("capacity", "dfs_used", "remaining")}
    present = totals["dfs_used"] + totals["remaining"]
    lines = []
    if (cluster.state_of(namenode["name"]) or {}).get("safemode"):
        lines.append("Safe mode is ON")
    lines += [
        f"Configured Capacity: {sized(totals['capacity'])}",
        f"Present Capacity: {sized(present)}",
        f"DFS Remaining: {sized(totals['remaining'])}",
        f"DFS Used: {sized(totals['dfs_used'])}",
        f"DFS Used%: {percent(totals['dfs_used'], present)}",
        "Replicated Blocks:",
        "\tUnder replicated blocks: 0",
        "\tBlocks with corrupt replicas: 0",
        f"\tMissing blocks: {0 if not dead else sum(f['blocks'] for _, f, _ in dead) // 3}",
        "\tMissing blocks (with replication factor 1): 0",
        "\tLow redundancy blocks with highest priority to recover: 0",
        "\tPending deletion blocks: 0",
        "Erasure Coded Block Groups: ",
        "\tLow redundancy block groups: 0",
        "\tBlock groups with corrupt internal blocks: 0",
        "\tMissing block groups: 0",
        "\tLow redundancy blocks with highest priority to recover: 0",
        "\tPending deletion blocks: 0",
        "",
        "-------------------------------------------------",
    ]
    show_live = "-dead" not in args or "-live" in args
    show_dead = "-live" not in args or "-dead" in args
    if show_live:
        lines.append(f"Live datanodes ({len(live)}):")
        lines.append("")
        for node, figures, contact in live:
            lines += datanode_section(node, figures, contact)
    if show_dead and dead:
        lines.append(f"Dead datanodes ({len(dead)}):")
        lines.append("")
        for node, figures, contact in dead:
            lines += datanode_section(node, figures, contact)
    print("\n".join(lines))
    return 0


def rm_connect_line(cluster: SimCluster, manager: dict | None) -> str:
    stamp = datetime.now(UTC)
    millis = stamp.microsecond // 1000
    name = manager["name"] if manager else "localhost"
    address = manager["address"] if manager else "127.0.0.1"
    return (f"{stamp:%Y-%m-%d %H:%M:%S},{millis:03d} INFO client.DefaultNoHARMFailoverProxyProvider: "
            f"Connecting to ResourceManager at {name}/{address}:{RM_CLIENT_PORT}")


def require_resourcemanager(cluster: SimCluster, operation: str) -> dict | None:
    """Print the client's connect line; returns the RM node, or None after printing the failure.

    NOTE: a real client retries for up to 15 minutes (yarn.resourcemanager.connect.max-wait.ms).
    This one gives up after three retries, so a repair script does not hang.
    """
    manager = cluster.node_with("resourcemanager")
    print(rm_connect_line(cluster, manager), file=sys.stderr)
    if cluster.daemon_running(manager, "resourcemanager"):
        return manager

    endpoint = f"{manager['name']}/{manager['address']}" if manager else "localhost/127.0.0.1"
    for attempt in range(3):
        print(f"INFO ipc.Client: Retrying connect to server: {endpoint}:{RM_CLIENT_PORT}. Already tried {attempt} "
              "time(s); retry policy is RetryUpToMaximumCountWithFixedSleep(maxRetries=10, sleepTime=1000 "
              "MILLISECONDS)", file=sys.stderr)
    print(connection_refused_message(cluster, operation, manager, RM_CLIENT_PORT), file=sys.stderr)
    return None


def yarn_nodes(cluster: SimCluster, args: list[str]) -> int:
    if not args or args[0] != "-list":
        print("usage: yarn node [-list [-all] [-states <States>]] ", file=sys.stderr)
        return 255
    if require_resourcemanager(cluster, "node") is None:
        return 1

    # Without -all or -states, the Java client lists NEW, RUNNING and UNHEALTHY nodes.
    states_filter = {"NEW", "RUNNING", "UNHEALTHY"}
    if "-all" in args:
        states_filter = {"RUNNING", "SHUTDOWN", "LOST", "UNHEALTHY"}
    if "-states" in args and args.index("-states") + 1 < len(args):
        states_filter = {value.strip().upper() for value in args[args.index("-states") + 1].split(",")}

    rows = []
    for node in cluster.nodes_with("nodemanager"):
        state = cluster.state_of(node["name"]) or {}
        entry = state.get("daemons", {}).get("nodemanager", {})
        if entry.get("running"):
            status = "UNHEALTHY" if "disk_full" in state.get("faults", {}) else "RUNNING"
        else:
            status = "SHUTDOWN" if entry.get("stop_reason") == "command" else "LOST"
        if status in states_filter:
            rows.append((f"{node['name']}:{NM_PORT}", status, f"{node['name']}:{NM_WEB_PORT}", "0"))

    print(f"Total Nodes:{len(rows)}")
    print(f"{'Node-Id':>16}\t{'Node-State':>15}\t{'Node-Http-Address':>17}\t{'Number-of-Running-Containers':>28}")
    for node_id, status, http, containers in rows:
        print(f"{node_id:>16}\t{status:>15}\t{http:>17}\t{containers:>28}")
    return 0


def yarn_applications(cluster: SimCluster, args: list[str]) -> int:
    if not args or args[0] != "-list":
        print("usage: yarn application [-list [-appStates <States>]]", file=sys.stderr)
        return 255
    if require_resourcemanager(cluster, "application") is None:
        return 1
    print("Total number of applications (application-types: [], states: [SUBMITTED, ACCEPTED, RUNNING] and tags: []):0")
    print(f"{'Application-Id':>16}\t{'Application-Name':>16}\t{'Application-Type':>16}\t{'User':>10}\t"
          f"{'Queue':>10}\t{'State':>10}\t{'Final-State':>16}\t{'Progress':>10}\t{'Tracking-URL':>10}")
    return 0
