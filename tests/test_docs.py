"""The generated configuration reference in the operations docs matches the settings classes."""

from pathlib import Path

import pytest

from hfd.configref import generated_block

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", ["operations.md", "operations.zh-CN.md"])
def test_operations_doc_has_current_config_reference(name):
    text = (DOCS / name).read_text()
    assert generated_block() in text, f"regenerate the reference in docs/{name} with: python -m hfd.configref --write"
