"""Fixtures of this test package."""

from tests.conftest import infra  # noqa: F401 - an instance of its own for this package
