"""The generated configuration reference in the operations docs matches the settings classes."""

import re
from pathlib import Path

import pytest

from hfd.configref import SETTINGS_CLASSES, generated_block

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", ["operations.md", "operations.zh-CN.md"])
def test_operations_doc_has_current_config_reference(name):
    text = (DOCS / name).read_text()
    assert generated_block() in text, f"regenerate the reference in docs/{name} with: python -m hfd.configref --write"


def test_config_reference_lists_every_settings_class():
    repo = DOCS.parent
    defined = set()
    for folder in ("libs", "services", "hfd"):
        for path in (repo / folder).rglob("*.py"):
            defined.update(re.findall(r"^class (\w+)\(BaseSettings\):", path.read_text(), flags=re.MULTILINE))
    listed = {class_name for _title, _module, class_name in SETTINGS_CLASSES}

    assert defined - listed == set(), "add these classes to SETTINGS_CLASSES in hfd/configref.py"
