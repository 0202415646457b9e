"""The configuration reference in docs/operations.md, generated from the settings classes.

``python -m hfd.configref`` prints it and ``python -m hfd.configref --write`` replaces the
block in the operations docs; a test checks that the docs hold the current output, so the
reference cannot drift from the code.
"""

import importlib
import json
import sys
from pathlib import Path

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

SETTINGS_CLASSES = (
    ("all services", "libs.common.settings", "CommonSettings"),
    ("gateway", "services.gateway.config", "GatewaySettings"),
    ("auth", "services.auth.config", "AuthSettings"),
    ("inventory", "services.inventory.config", "InventorySettings"),
    ("collector", "services.collector.config", "CollectorSettings"),
    ("collector: commands and log reads", "services.collector.ops_settings", "OpsSettings"),
    ("faults", "services.faults.config", "FaultsSettings"),
    ("ai", "services.ai.config", "AiSettings"),
)
BEGIN_MARK = "<!-- BEGIN GENERATED CONFIG REFERENCE (python -m hfd.configref) -->"
END_MARK = "<!-- END GENERATED CONFIG REFERENCE -->"


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "(computed)"
    value = field.default
    if value is None or value == "":
        return "(none)"
    if isinstance(value, (list, tuple, dict)):
        return f"`{json.dumps(value, default=str)}`"
    return f"`{value}`"


def _type_name(field: FieldInfo) -> str:
    annotation = field.annotation
    name = getattr(annotation, "__name__", None) or str(annotation)
    return name.replace("typing.", "").replace("|", "or")


def _env_names(settings_class: type[BaseSettings], name: str, field: FieldInfo) -> str:
    if field.validation_alias and isinstance(field.validation_alias, str):
        return field.validation_alias.upper()
    prefix = settings_class.model_config.get("env_prefix", "")
    return f"{prefix}{name}".upper()


def render() -> str:
    """Return the markdown tables, one per settings class."""
    parts = []
    for title, module_name, class_name in SETTINGS_CLASSES:
        settings_class = getattr(importlib.import_module(module_name), class_name)
        parts.append(f"### {title} (`{class_name}`)\n")
        parts.append("| variable | type | default | meaning |")
        parts.append("|---|---|---|---|")
        for name, field in settings_class.model_fields.items():
            description = (field.description or "").replace("|", "\\|").replace("\n", " ")
            parts.append(
                f"| `{_env_names(settings_class, name, field)}` | {_type_name(field)} | {_default(field)} "
                f"| {description} |"
            )
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def generated_block() -> str:
    return f"{BEGIN_MARK}\n\n{render()}\n{END_MARK}"


DOCS = Path(__file__).resolve().parents[1] / "docs"
OPERATIONS_DOCS = ("operations.md", "operations.zh-CN.md")


def write_docs() -> None:
    """Replace the generated block of each operations doc with the current reference."""
    block = generated_block()
    for name in OPERATIONS_DOCS:
        path = DOCS / name
        text = path.read_text()
        start = text.index(BEGIN_MARK)
        end = text.index(END_MARK) + len(END_MARK)
        path.write_text(text[:start] + block + text[end:])


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write_docs()
    else:
        print(generated_block())
