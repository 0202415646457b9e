"""The ``hfd`` command: run the stack, one service, the demo, users and offline analysis."""

import importlib
import sys

import click

BACKEND_SERVICES = ("auth", "inventory", "collector", "faults", "ai")
ALL_SERVICES = ("gateway", *BACKEND_SERVICES)


@click.group()
@click.version_option(package_name="hadoop-fault-detector")
def main() -> None:
    """Hadoop fault detection: collectors, detectors, diagnoses and an HTTP API."""


@main.command()
@click.argument("service", type=click.Choice(ALL_SERVICES))
@click.option("--host", default="127.0.0.1", show_default=True, help="Gateway only: address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Gateway only: TCP port.")
def serve(service: str, host: str, port: int) -> None:
    """Run one SERVICE in the foreground, connected to HFD_NATS_URL and HFD_DATABASE_URL."""
    if service == "gateway":
        from services.gateway.main import serve as serve_gateway

        serve_gateway(host=host, port=port)
        return

    from libs.common.service import run_service

    module = importlib.import_module(f"services.{service}.main")
    run_service(service, module.start, database=getattr(module, "USES_DATABASE", True))


def _register_optional(module_name: str, attribute: str, command_name: str) -> None:
    """Add a command that lives in another package, when that package is installed."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        if error.name and not module_name.startswith(error.name):
            raise
        return
    command = getattr(module, attribute, None)
    if command is not None:
        main.add_command(command, name=command_name)


_register_optional("hfd.runner", "run", "run")
_register_optional("hfd.users", "user", "user")
_register_optional("hfd.demo", "demo", "demo")
_register_optional("hfd.democluster.cli", "demo_cluster", "demo-cluster")
_register_optional("services.faults.detection.analyze", "analyze", "analyze")


if __name__ == "__main__":
    sys.exit(main())
