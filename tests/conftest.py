"""Shared fixtures: real NATS and PostgreSQL for each test package, and helpers to start our services."""

import pytest

from libs.common.datasets import data_dir
from tests.infra import Infra, Stack, start_infra, stop_infra


@pytest.fixture(scope="package")
def infra() -> Infra:
    """NATS, PostgreSQL, a database and a NATS prefix owned by one test package.

    Each package gets its own, so users, tokens and streams of one package's stacks never
    meet another's (a bootstrap admin created by one package would block another's logins).
    A package-scoped fixture belongs to the package whose conftest defines it, so every
    test package's ``conftest.py`` imports this fixture to get an instance of its own.
    """
    package_infra = start_infra()
    yield package_infra
    stop_infra(package_infra)


@pytest.fixture(scope="session")
def real_data():
    """The folder of real Hadoop logs; skips the test when it is absent."""
    folder = data_dir()
    if not folder.is_dir():
        pytest.skip(f"real Hadoop logs not found at {folder}; set HFD_DATA_DIR to their folder")
    return folder


def start_stack(infra: Infra, *services: str, **extra_env: str) -> Stack:
    """Start ``services`` (``gateway`` included when named) and wait until each replies to a ping."""
    return Stack(infra, list(services), extra_env).start()
