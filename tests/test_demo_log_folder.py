"""The check ``hfd demo`` runs before it starts: its nodes' log folders must pass the log folder rule."""

from pathlib import Path

import click
import pytest

from hfd.demo import check_demo_log_folder


def test_demo_log_folder_under_tmp_accepted(tmp_path):
    check_demo_log_folder(tmp_path / "var" / "demo-cluster")


def test_demo_log_folder_under_root_rejected():
    with pytest.raises(click.ClickException) as raised:
        check_demo_log_folder(Path("/root/hfd/var/demo-cluster"))
    assert "pass --var" in raised.value.message.lower()
