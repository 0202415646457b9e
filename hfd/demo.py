"""``hfd demo``: the whole stack, a demo cluster registered with it, and a live view.

The demo cluster runs as a supervised child (``hfd demo-cluster``), so its SSH servers and
log writers never compete with the view for the same event loop.
"""

import json
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
from pydantic_core import PydanticCustomError

from hfd.demoapi import DemoApi, register_cluster
from hfd.democluster.layout import ClusterLayout
from hfd.demoview import follow
from hfd.runner import Stack, _raise_stop, _Stop, configure_cli_logging
from libs.common.i18n import message
from libs.common.log_dirs import check_log_dir

logger = logging.getLogger("hfd.demo")

ADMIN_FILE = "demo-admin.json"
MANIFEST_TIMEOUT_SECONDS = 60


def _admin_credentials(var_dir: Path) -> tuple[str, str, bool]:
    """Return (username, password, created_now): from HFD_BOOTSTRAP_ADMIN, var/, or new."""
    configured = os.environ.get("HFD_BOOTSTRAP_ADMIN", "")
    if ":" in configured:
        username, password = configured.split(":", 1)
        return username, password, False

    path = var_dir / ADMIN_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        return saved["username"], saved["password"], False

    username, password = "admin", f"Demo-{secrets.token_urlsafe(12)}9a"
    var_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"username": username, "password": password}, handle)
    return username, password, True


def temp_root_settings(cluster_dir: Path) -> dict[str, str]:
    """Return the settings that let clean_temp_dir reach the demo nodes' hadoop.tmp.dir.

    The default root, /tmp/hadoop-{user}, does not exist on the demo nodes, so without these
    the safe repair of a full disk fails on every demo node.
    """
    root = str(ClusterLayout(cluster_dir).node("{node}").temp_dir)
    return {"HFD_AI_TEMP_ROOTS": json.dumps([root]), "HFD_COLLECTOR_TEMP_ROOTS": root}


def check_demo_log_folder(cluster_dir: Path) -> None:
    """Raise ``ClickException`` when the demo nodes' log folders would break the log folder rule.

    A checkout under /root, for example, puts them inside a system folder, and inventory would
    reject every demo node.
    """
    folder = str(ClusterLayout(cluster_dir).node("demo-nn1").log_dir)
    try:
        check_log_dir(folder)
    except PydanticCustomError as error:
        raise click.ClickException(
            f"the demo nodes' log folder {folder} is not a usable log folder: {message(error.type, 'en')}. "
            "Pass --var with a folder outside system folders, such as --var /var/tmp/hfd-demo."
        ) from None


def _start_demo_cluster(
    cluster_dir: Path, logs: Path | None, speed: float, fault_interval: float, log_file: Path
) -> subprocess.Popen:
    command = [sys.executable, "-m", "hfd.cli", "demo-cluster", "--dir", str(cluster_dir)]
    command += ["--fault-interval", str(fault_interval)]
    if logs is not None:
        command += ["--logs", str(logs), "--speed", str(speed), "--loop"]
    manifest = cluster_dir / "cluster.json"
    started = time.time()
    with open(log_file, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    deadline = time.monotonic() + MANIFEST_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"the demo cluster exited; see {log_file}")
        if manifest.exists() and manifest.stat().st_mtime >= started:
            return process
        time.sleep(0.2)
    process.terminate()
    raise click.ClickException(f"the demo cluster wrote no manifest within {MANIFEST_TIMEOUT_SECONDS}s; see {log_file}")


def _stop_child(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@click.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Gateway TCP port.")
@click.option(
    "--var",
    "var_dir",
    default="var",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the embedded servers, the demo cluster and the demo admin's credentials.",
)
@click.option(
    "--logs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Replay this folder of real Hadoop logs (one node per file or folder) instead of generated logs.",
)
@click.option("--speed", default=20.0, show_default=True, type=click.FloatRange(min=0.01), help="Replay speed factor.")
@click.option(
    "--fault-interval",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Mean seconds between faults the generated logs weave in; 0 disables them.",
)
@click.option("--duration", type=click.FloatRange(min=1), help="Stop by itself after this many seconds.")
def demo(
    port: int, var_dir: Path, logs: Path | None, speed: float, fault_interval: float, duration: float | None
) -> None:
    """Run the stack with a demo cluster of SSH nodes that write Hadoop logs, and watch it live."""
    configure_cli_logging()
    var_dir = var_dir.resolve()
    username, password, created = _admin_credentials(var_dir)
    os.environ["HFD_BOOTSTRAP_ADMIN"] = f"{username}:{password}"

    import signal

    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    stack = Stack(var_dir=var_dir, port=port)
    cluster_process = None
    cluster_dir = var_dir / ("demo-replay" if logs else "demo-cluster")
    check_demo_log_folder(cluster_dir)
    for name, value in temp_root_settings(cluster_dir).items():
        os.environ.setdefault(name, value)
    try:
        # The nodes start first, so the collector finds them listening when it loads them.
        var_dir.mkdir(parents=True, exist_ok=True)
        cluster_process = _start_demo_cluster(
            cluster_dir, logs, speed, fault_interval, var_dir / "demo-cluster.log"
        )
        stack.start()
        api = DemoApi(stack.base_url, username, password)
        cluster_uuid = register_cluster(api, cluster_dir / "cluster.json", "demo-replay" if logs else "demo")
        _print_access(stack, username, password, created, var_dir / ADMIN_FILE)
        follow(api, cluster_uuid, stack, duration=duration, interactive=sys.stdout.isatty())
    except (_Stop, KeyboardInterrupt):
        click.echo("stopping the demo ...")
    except httpx.HTTPError as error:
        raise click.ClickException(f"the API request failed or returned an unexpected response: {error}") from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # The services stop before the demo nodes, so the collector does not report the nodes
        # as unreachable while the demo shuts down.
        stack.stop()
        _stop_child(cluster_process)
        click.echo(f"stopped; data kept in {var_dir}")


def _print_access(stack: Stack, username: str, password: str, created: bool, saved_at: Path) -> None:
    click.echo(f"API: {stack.base_url}/api/v1   docs: {stack.base_url}/docs")
    click.echo(f"log in: POST {stack.base_url}/api/v1/user/login  username={username}")
    if created:
        click.echo(f"admin password (shown once; also kept in {saved_at}): {password}")
    elif saved_at.exists():
        click.echo(f"the admin password is in {saved_at}")
