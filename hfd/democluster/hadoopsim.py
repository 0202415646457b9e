"""Simulated Hadoop commands of a demo node: jps, hdfs, yarn, mapred, hadoop, hadoop-daemon.sh,
yarn-daemon.sh, plus df and hostname wrappers.

Each node's ``hadoop/bin`` folder contains small shell scripts that run ``main`` with the
command name, the cluster folder and the node name. The commands read and change the node
state files; the log generator notices the change and writes the matching log records.
Output follows Hadoop 3.3's wording where the command exists in Hadoop. This module and
everything it imports use only the standard library, so a command starts in about 50 ms.
"""

import os
import subprocess
import sys
from pathlib import Path

from hfd.democluster.daemons import DAEMONS, HADOOP_VERSION, HDFS_DAEMONS, MAPRED_DAEMONS, YARN_DAEMONS
from hfd.democluster.layout import ClusterLayout, NodeLayout
from hfd.democluster.simcluster import SimCluster
from hfd.democluster.simreport import dfsadmin, yarn_applications, yarn_nodes
from hfd.democluster.state import StateStore, new_pid, utc_now_iso

DEPRECATION = {
    "hadoop-daemon.sh": ("HDFS", "hdfs"),
    "yarn-daemon.sh": ("YARN", "yarn"),
}
# The daemons that each launcher's --daemon option controls, and one of them for usage messages.
DAEMON_FAMILIES = {"hdfs": HDFS_DAEMONS, "yarn": YARN_DAEMONS, "mapred": MAPRED_DAEMONS}
EXAMPLE_DAEMONS = {"hdfs": "datanode", "yarn": "nodemanager", "mapred": "historyserver"}


def main(argv: list[str]) -> int:
    """Run one simulated command: ``argv`` is [command, cluster folder, node name, args...]."""
    command, cluster_dir, node_name, *args = argv
    cluster = SimCluster(ClusterLayout(Path(cluster_dir)), node_name)

    handlers = {
        "jps": jps,
        "hdfs": hdfs,
        "yarn": yarn,
        "mapred": mapred,
        "hadoop": hadoop,
        "hadoop-daemon.sh": daemon_script,
        "yarn-daemon.sh": daemon_script,
        "df": df,
        "hostname": hostname,
    }
    handler = handlers.get(command)
    if handler is None:
        print(f"{command}: not simulated on demo node {node_name}", file=sys.stderr)
        return 127
    try:
        return handler(cluster, command, args)
    except BrokenPipeError:
        return 141


def jps(cluster: SimCluster, command: str, args: list[str]) -> int:
    state = cluster.local_state()
    long_names = "-l" in args
    quiet = "-q" in args
    for name, entry in sorted(state["daemons"].items(), key=lambda item: item[1]["pid"]):
        if not entry["running"]:
            continue
        spec = DAEMONS[name]
        print(entry["pid"] if quiet else f"{entry['pid']} {spec.main_class if long_names else spec.display_name}")
    own_pid = os.getpid()
    print(own_pid if quiet else f"{own_pid} {'sun.tools.jps.Jps' if long_names else 'Jps'}")
    return 0


def split_options(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """Split Hadoop 3's leading shell options (--config, --daemon, --loglevel, ...) from the subcommand."""
    options: dict[str, str] = {}
    rest = list(args)
    while rest and rest[0] in ("--config", "--daemon", "--loglevel", "--hosts", "--hostnames", "--workers"):
        flag = rest.pop(0)
        if flag == "--workers":
            options["workers"] = "yes"
            continue
        if not rest:
            raise ValueError(f"option {flag} needs a value")
        options[flag.removeprefix("--")] = rest.pop(0)
    return options, rest


def launcher_options(cluster: SimCluster, tool: str, args: list[str]) -> tuple[int | None, list[str]]:
    """Handle what the hdfs, yarn and mapred launchers share: their options, ``--daemon`` and a missing subcommand.

    Returns the exit code when that ends the command, else None and the subcommand with its arguments.
    """
    try:
        options, rest = split_options(args)
    except ValueError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1, []

    if "daemon" in options:
        return control_daemon(cluster, tool, options["daemon"], rest), []
    if not rest:
        print(f"Usage: {tool} [OPTIONS] SUBCOMMAND [SUBCOMMAND OPTIONS]", file=sys.stderr)
        return 1, []
    return None, rest


def hdfs(cluster: SimCluster, command: str, args: list[str]) -> int:
    handled, rest = launcher_options(cluster, "hdfs", args)
    if handled is not None:
        return handled

    subcommand, sub_args = rest[0], rest[1:]
    if subcommand == "dfsadmin":
        return dfsadmin(cluster, sub_args)
    if subcommand == "version":
        return print_version()
    if subcommand == "getconf" and sub_args[:1] == ["-namenodes"]:
        namenode = cluster.node_with("namenode")
        print(namenode["name"] if namenode else cluster.node_name)
        return 0
    return not_simulated(cluster, f"hdfs {subcommand}")


def yarn(cluster: SimCluster, command: str, args: list[str]) -> int:
    handled, rest = launcher_options(cluster, "yarn", args)
    if handled is not None:
        return handled

    subcommand, sub_args = rest[0], rest[1:]
    if subcommand == "node":
        return yarn_nodes(cluster, sub_args)
    if subcommand == "application":
        return yarn_applications(cluster, sub_args)
    if subcommand == "version":
        return print_version()
    return not_simulated(cluster, f"yarn {subcommand}")


def mapred(cluster: SimCluster, command: str, args: list[str]) -> int:
    handled, rest = launcher_options(cluster, "mapred", args)
    if handled is not None:
        return handled
    if rest[0] == "version":
        return print_version()
    return not_simulated(cluster, f"mapred {rest[0]}")


def hadoop(cluster: SimCluster, command: str, args: list[str]) -> int:
    if args[:1] == ["version"]:
        return print_version()
    return not_simulated(cluster, f"hadoop {' '.join(args[:1])}".strip())


def daemon_script(cluster: SimCluster, command: str, args: list[str]) -> int:
    """hadoop-daemon.sh / yarn-daemon.sh [--config DIR] [--hosts FILE] (start|stop|status) DAEMON."""
    family, tool = DEPRECATION[command]
    rest = list(args)
    while rest and rest[0] in ("--config", "--hosts", "--script"):
        rest = rest[2:]
    if len(rest) < 2:
        print(f"Usage: {command} [--config <conf-dir>] [--hosts hostlistfile] (start|stop|status) <{tool}-command>",
              file=sys.stderr)
        return 1

    action = rest[0]
    print(f"WARNING: Use of this script to {action} {family} daemons is deprecated.", file=sys.stderr)
    print(f'WARNING: Attempting to execute replacement "{tool} --daemon {action}" instead.', file=sys.stderr)
    return control_daemon(cluster, tool, action, rest[1:])


def control_daemon(cluster: SimCluster, tool: str, action: str, rest: list[str]) -> int:
    """Start, stop or report a daemon of this node, changing the node state file."""
    if not rest:
        print(f"ERROR: {tool} --daemon {action} needs a daemon name, e.g. {tool} --daemon {action} "
              f"{EXAMPLE_DAEMONS[tool]}", file=sys.stderr)
        return 1

    daemon = rest[0]
    if daemon not in DAEMON_FAMILIES[tool]:
        owner = next((name for name, family in DAEMON_FAMILIES.items() if daemon in family), None)
        hint = f"; use {owner} --daemon {action} {daemon}" if owner else ""
        print(f"ERROR: {daemon} is not a {tool} daemon{hint}", file=sys.stderr)
        return 1

    layout = cluster.local_layout()
    store = cluster.local_store()
    state = store.read()
    if daemon not in state["daemons"]:
        runs = ", ".join(sorted(state["daemons"])) or "no daemons"
        print(f"ERROR: {daemon} is not configured on {cluster.node_name} (this node runs {runs})", file=sys.stderr)
        return 1

    if action == "start":
        return start_daemon(cluster, store, layout, daemon)
    if action == "stop":
        return stop_daemon(cluster, store, layout, daemon)
    if action == "status":
        entry = state["daemons"][daemon]
        if entry["running"]:
            print(f"{daemon} is running as process {entry['pid']}.")
            return 0
        print(f"{daemon} is stopped.")
        return 3
    print(f"ERROR: unknown daemon action {action!r}; use start, stop or status", file=sys.stderr)
    return 1


def start_daemon(cluster: SimCluster, store: StateStore, layout: NodeLayout, daemon: str) -> int:
    user = cluster.hadoop_user
    pid_path = layout.pid_path(user, daemon)

    def change(state: dict) -> dict | None:
        entry = state["daemons"][daemon]
        if entry["running"]:
            return entry
        entry.update(running=True, pid=new_pid(), generation=entry["generation"] + 1,
                     changed_at=utc_now_iso(), stop_reason=None)
        return None

    already = store.update(change)
    if already is not None:
        print(f"{daemon} is running as process {already['pid']}.  Stop it first and ensure {pid_path} file is "
              "empty before retry.", file=sys.stderr)
        return 1

    # Hadoop 3's daemon start prints nothing when it succeeds.
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    pid_path.write_text(f"{store.read()['daemons'][daemon]['pid']}\n", encoding="utf-8")
    return 0


def stop_daemon(cluster: SimCluster, store: StateStore, layout: NodeLayout, daemon: str) -> int:
    def change(state: dict) -> bool:
        entry = state["daemons"][daemon]
        if not entry["running"]:
            return False
        entry.update(running=False, changed_at=utc_now_iso(), stop_reason="command")
        return True

    if not store.update(change):
        print(f"no {daemon} to stop")
        return 0

    layout.pid_path(cluster.hadoop_user, daemon).unlink(missing_ok=True)
    return 0


def print_version() -> int:
    print(f"Hadoop {HADOOP_VERSION}")
    print("Source code repository Unknown -r Unknown")
    print("Compiled by hadoop on 2026-01-15T09:30Z")
    return 0


def not_simulated(cluster: SimCluster, what: str) -> int:
    print(f"{what}: not simulated on demo node {cluster.node_name}; simulated commands: jps, "
          "hdfs --daemon, hdfs dfsadmin -report|-safemode, yarn --daemon, yarn node -list, "
          "mapred --daemon, hadoop-daemon.sh, yarn-daemon.sh", file=sys.stderr)
    return 1


def hostname(cluster: SimCluster, command: str, args: list[str]) -> int:
    if any(flag in args for flag in ("-i", "-I", "--ip-address", "--all-ip-addresses")):
        print(cluster.local_node()["address"])
    else:
        print(cluster.node_name)
    return 0


def df(cluster: SimCluster, command: str, args: list[str]) -> int:
    """Run the real df. While a disk-full fault is active on this node, show the file system that
    contains the node's home as full. Only 1K-block output changes, human-readable output does not."""
    real_df = find_real_command("df", cluster.local_layout().bin_dir)
    result = subprocess.run([real_df, *args], capture_output=True, text=True, check=False)
    output = result.stdout
    if "disk_full" in cluster.local_state().get("faults", {}):
        output = fill_mount_in_df(output, mount_point(cluster.local_layout().home))
    sys.stdout.write(output)
    sys.stderr.write(result.stderr)
    return result.returncode


def find_real_command(name: str, own_bin: Path) -> str:
    for folder in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        candidate = Path(folder) / name
        if folder and Path(folder).resolve() != own_bin.resolve() and os.access(candidate, os.X_OK):
            return str(candidate)
    return f"/bin/{name}"


def mount_point(path: Path) -> str:
    current = path.resolve()
    while not os.path.ismount(current):
        current = current.parent
    return str(current)


def fill_mount_in_df(output: str, mount: str) -> str:
    lines = output.splitlines(keepends=True)
    if not lines or not lines[0].split()[1:2] or not lines[0].split()[1].endswith("-blocks"):
        return output

    for index, line in enumerate(lines[1:], start=1):
        fields = line.split()
        if len(fields) >= 6 and fields[-1] == mount and fields[1].isdigit():
            size = int(fields[1])
            used = size - min(size, 2048)
            fields[2:5] = [str(used), "0", "100%"]
            lines[index] = " ".join(fields) + "\n"
    return "".join(lines)

