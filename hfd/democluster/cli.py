"""``hfd demo-cluster``: run a demo cluster until Ctrl-C or SIGTERM."""

import asyncio
import signal
from pathlib import Path

import click
from pydantic import ValidationError

from hfd.democluster.cluster import DemoCluster
from hfd.democluster.config import DemoClusterConfig
from hfd.democluster.manifest import ClusterManifest
from libs.common.logging import configure_logging


@click.command("demo-cluster")
@click.option("--nodes", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Number of nodes with generated logs (ignored with --logs).")
@click.option("--dir", "cluster_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("var/demo-cluster"), show_default=True,
              help="Cluster folder for the manifest, the keys and one home folder per node.")
@click.option("--logs", "logs_dir", type=click.Path(exists=True, path_type=Path),
              help="Replay the Hadoop logs in this folder (one node per file or folder at its top) "
                   "instead of generating logs.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Replay speed factor: the original gaps between records are divided by it.")
@click.option("--max-wait", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="Maximum wait between two replayed records, in seconds.")
@click.option("--loop/--no-loop", "loop_replay", default=False, show_default=True,
              help="Start the replay again from the first record when it ends; "
                   "passes start at least 10 s apart.")
@click.option("--fault-interval", type=click.FloatRange(min=0), default=45.0, show_default=True,
              help="Mean seconds between scheduled faults with generated logs; 0 disables them.")
@click.option("--lines-per-second", type=click.FloatRange(min=0, min_open=True, max=1000), default=2.0,
              show_default=True, help="Mean normal log records per second per daemon.")
@click.option("--base-port", type=click.IntRange(1024, 65535 - 64),
              help="SSH port of the first node; node N listens on BASE+N-1. Default: a free port per node.")
@click.option("--first-address", default="127.0.0.2", show_default=True,
              help="Loopback address of the first node; the next nodes take the following addresses.")
@click.option("--password-node", "password_nodes", multiple=True,
              help="Node that also accepts password login (repeatable); the manifest contains the password.")
@click.option("--rotation", type=click.Choice(["rename", "copytruncate", "mixed"]), default="mixed",
              show_default=True, help="Log rotation: log4j's rename, logrotate's copytruncate, or rename for "
                                      "HDFS and copytruncate for YARN logs.")
@click.option("--max-log-bytes", type=click.IntRange(min=1024), default=1_000_000, show_default=True,
              help="Rotate a log file once it reaches this many bytes.")
@click.option("--secondary-namenode", is_flag=True, help="Also run a SecondaryNameNode on the master node.")
@click.option("--seed", type=int, help="Seed of the generated traffic and the fault schedule, for repeatable runs.")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="INFO",
              show_default=True, help="Level of this program's own log on stderr.")
def demo_cluster(cluster_dir: Path, logs_dir: Path | None, max_wait: float, log_level: str,
                 password_nodes: tuple[str, ...], **options) -> None:
    """Run SSH nodes on 127.0.0.2, 127.0.0.3, ... whose simulated Hadoop daemons write logs.

    Prints the manifest path and the node addresses, then runs until Ctrl-C or SIGTERM.
    """
    configure_logging("demo-cluster", log_level, fmt="text")
    try:
        config = DemoClusterConfig(cluster_dir=cluster_dir, logs_dir=logs_dir, max_replay_wait=max_wait,
                                   password_nodes=list(password_nodes), **options)
    except ValidationError as error:
        raise click.UsageError(str(error)) from None

    try:
        asyncio.run(_run(config))
    except (ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None


async def _run(config: DemoClusterConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)

    cluster = DemoCluster(config)
    manifest = await cluster.start()
    try:
        _print_summary(manifest)
        await stop.wait()
        click.echo("Stopping the demo cluster ...")
    finally:
        await cluster.stop()


def _print_summary(manifest: ClusterManifest) -> None:
    source = "replayed logs" if manifest.mode == "replay" else "generated logs"
    click.echo(f"Demo cluster {manifest.name}: {len(manifest.nodes)} nodes, {source}")
    click.echo(f"Manifest:    {manifest.cluster_dir / 'cluster.json'}")
    click.echo(f"known_hosts: {manifest.known_hosts_path}")
    width = max(len(node.name) for node in manifest.nodes)
    for node in manifest.nodes:
        roles = ", ".join(node.roles) or "-"
        password = "  (password login too)" if node.password else ""
        click.echo(f"  {node.name:<{width}}  {node.address}:{node.port:<5}  {roles}{password}")
    first = manifest.nodes[0]
    click.echo(f"Try: ssh -i {first.private_key_path} -o UserKnownHostsFile={manifest.known_hosts_path} "
               f"-p {first.port} {first.ssh_user}@{first.address} jps")
    click.echo("Press Ctrl-C to stop.")
