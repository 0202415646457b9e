"""Files of a node's home folder: simulated commands, Hadoop configuration, storage, state."""

import random
import shlex
import sys
from pathlib import Path
from xml.sax.saxutils import escape

from hfd.democluster.context import (
    NAMENODE_RPC_PORT,
    ClusterContext,
    NodeIdentity,
)
from hfd.democluster.faults import write_datanode_version
from hfd.democluster.layout import NodeLayout
from hfd.democluster.state import StateStore, initial_state

REPO_ROOT = Path(__file__).resolve().parents[2]
SIMULATED_COMMANDS = (
    "jps", "hdfs", "yarn", "mapred", "hadoop", "hadoop-daemon.sh", "yarn-daemon.sh", "df", "hostname",
)

# Runs hadoopsim.main with the repository on sys.path. -I keeps PYTHONPATH and the user's site
# folder out, so the command behaves the same whatever environment the SSH client sets.
_LAUNCHER = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from hfd.democluster.hadoopsim import main; sys.exit(main(sys.argv[1:]))"
)


def install_commands(layout: NodeLayout, cluster_dir: Path) -> None:
    """Write the simulated commands into the node's bin folder (mode 0755)."""
    layout.bin_dir.mkdir(parents=True, exist_ok=True)
    for command in SIMULATED_COMMANDS:
        arguments = " ".join(
            shlex.quote(part)
            for part in (sys.executable, "-I", "-c", _LAUNCHER, str(REPO_ROOT), command, str(cluster_dir), layout.name)
        )
        script = f'#!/bin/sh\n# Simulated `{command}` of demo node {layout.name}.\nexec {arguments} "$@"\n'
        path = layout.bin_dir / command
        path.write_text(script, encoding="utf-8")
        path.chmod(0o755)


def _site_xml(properties: dict[str, str]) -> str:
    entries = "".join(
        f"  <property>\n    <name>{escape(name)}</name>\n    <value>{escape(value)}</value>\n  </property>\n"
        for name, value in properties.items()
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<configuration>\n{entries}</configuration>\n'


def write_configuration(layout: NodeLayout, ctx: ClusterContext) -> None:
    """Write core-site.xml, hdfs-site.xml, yarn-site.xml and workers, so repairs that read the
    configuration (where is hadoop.tmp.dir?) find the node's real folders."""
    layout.conf_dir.mkdir(parents=True, exist_ok=True)
    namenode = ctx.namenode.name if ctx.namenode else "localhost"
    manager = ctx.resourcemanager.name if ctx.resourcemanager else "localhost"
    files = {
        "core-site.xml": {
            "fs.defaultFS": f"hdfs://{namenode}:{NAMENODE_RPC_PORT}",
            "hadoop.tmp.dir": str(layout.temp_dir),
        },
        "hdfs-site.xml": {
            "dfs.namenode.name.dir": f"file://{layout.name_dir}",
            "dfs.datanode.data.dir": f"file://{layout.datanode_dir}",
            "dfs.replication": "2",
        },
        "yarn-site.xml": {
            "yarn.resourcemanager.hostname": manager,
            "yarn.nodemanager.local-dirs": str(layout.nm_local_dir),
            "yarn.nodemanager.log-dirs": str(layout.log_dir / "userlogs"),
            "yarn.nodemanager.resource.memory-mb": "8192",
        },
    }
    for name, properties in files.items():
        (layout.conf_dir / name).write_text(_site_xml(properties), encoding="utf-8")

    workers = "\n".join(node.name for node in ctx.datanodes) + "\n"
    (layout.conf_dir / "workers").write_text(workers, encoding="utf-8")


def prepare_node(layout: NodeLayout, identity: NodeIdentity, ctx: ClusterContext, cluster_dir: Path,
                 user: str, rng: random.Random) -> None:
    """Create the node's folders and files and a fresh state in which every daemon runs.

    Logs, the temp folder and storage left by an earlier run stay, as on a rebooted host, but
    the DataNode storage gets this run's cluster id and faults of the earlier run are dropped.
    """
    for folder in (layout.log_dir, layout.temp_dir, layout.nm_local_dir, layout.run_dir, layout.name_dir):
        folder.mkdir(parents=True, exist_ok=True)
    install_commands(layout, cluster_dir)
    write_configuration(layout, ctx)

    if "datanode" in identity.daemons:
        write_datanode_version(layout.datanode_version_path, ctx.cluster_id, ctx)

    state = initial_state(identity.name, list(identity.daemons), rng)
    StateStore(layout.state_path, layout.state_lock_path).write(state)
    for daemon, entry in state["daemons"].items():
        layout.pid_path(user, daemon).write_text(f"{entry['pid']}\n", encoding="utf-8")
