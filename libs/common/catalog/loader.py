"""Loading of the fault catalog from the shipped YAML files and an operator's folder.

Each YAML file contains a mapping with one key, ``kinds``, a list of entries. An entry with
only ``kind``, ``patterns`` and ``exclude_patterns`` whose kind is already defined adds
signatures to it; any other entry defines a new kind. Shipped files load first, in name
order, then the operator's folder (``HFD_CATALOG_DIR``), also in name order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from libs.common.catalog.models import FaultKind, KindExtension

logger = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "kinds"
CATALOG_DIR_ENV = "HFD_CATALOG_DIR"
EXTENSION_FIELDS = frozenset({"kind", "patterns", "exclude_patterns"})

# Kinds that other components produce and that every catalog must define.
REQUIRED_KINDS = frozenset({"unknown_error", "node_unreachable", "resource_pressure"})


class CatalogError(ValueError):
    """A catalog file is missing, unreadable or invalid; the message names the file, kind and field."""


@dataclass(slots=True)
class Catalog:
    """The validated fault kinds, by name, in load order."""

    kinds: dict[str, FaultKind] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def __contains__(self, name: object) -> bool:
        return name in self.kinds

    def __iter__(self) -> Iterator[FaultKind]:
        return iter(self.kinds.values())

    def __len__(self) -> int:
        return len(self.kinds)

    def get(self, name: str) -> FaultKind:
        """Return the kind called ``name``; raise KeyError naming it when it is not in the catalog."""
        try:
            return self.kinds[name]
        except KeyError:
            raise KeyError(f"fault kind {name!r} is not in the catalog") from None


def catalog_dir_from_env() -> Path | None:
    """Return the operator's catalog folder from ``HFD_CATALOG_DIR``, or None when it is unset."""
    value = os.environ.get(CATALOG_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def load_catalog(extra_dir: Path | None = None) -> Catalog:
    """Load the shipped catalog, then the YAML files of ``extra_dir`` (``*.yaml`` and ``*.yml``).

    Raises CatalogError when a file cannot be parsed, an entry is invalid, a kind is defined
    twice, an extension names an unknown kind, or ``extra_dir`` is not a folder.
    """
    catalog = Catalog()
    for path in _yaml_files(SHIPPED_DIR):
        _load_file(catalog, path)

    if extra_dir is not None:
        extra_dir = Path(extra_dir)
        if not extra_dir.is_dir():
            raise CatalogError(f"catalog folder {extra_dir} not found or not a folder; check {CATALOG_DIR_ENV}")
        for path in _yaml_files(extra_dir):
            _load_file(catalog, path)
            logger.info("loaded operator catalog file %s", path)

    missing = sorted(REQUIRED_KINDS - catalog.kinds.keys())
    if missing:
        raise CatalogError(f"catalog lacks the required kinds {missing}")
    for kind in catalog:
        unknown = sorted(set(kind.also_report) - catalog.kinds.keys())
        if unknown:
            raise CatalogError(f"kind {kind.kind!r}: field also_report names kinds not in the catalog: {unknown}")
    return catalog


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix in {".yaml", ".yml"} and path.is_file())


def _load_file(catalog: Catalog, path: Path) -> None:
    entries = _read_entries(path)
    for index, entry in enumerate(entries):
        name = entry.get("kind") if isinstance(entry, dict) else None
        label = f"catalog file {path}: entry {index} (kind {name!r})"
        if not isinstance(entry, dict):
            raise CatalogError(f"{label}: expected a mapping, got {type(entry).__name__}")

        if name in catalog.kinds and set(entry) <= EXTENSION_FIELDS:
            _extend(catalog, _validate(KindExtension, entry, label))
        elif name in catalog.kinds:
            raise CatalogError(
                f"{label}: kind already defined; to add signatures, give only kind, patterns and exclude_patterns"
            )
        elif set(entry) <= EXTENSION_FIELDS:
            raise CatalogError(f"{label}: extends a kind that is not defined")
        else:
            kind = _validate(FaultKind, entry, label)
            catalog.kinds[kind.kind] = kind
    catalog.files.append(path)


def _read_entries(path: Path) -> list[Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise CatalogError(f"catalog file {path}: cannot be read: {error}") from error
    except yaml.YAMLError as error:
        raise CatalogError(f"catalog file {path}: invalid YAML: {error}") from error

    if document is None:
        return []
    if not isinstance(document, dict) or set(document) != {"kinds"} or not isinstance(document["kinds"], list):
        raise CatalogError(f"catalog file {path}: expected a mapping with one key, 'kinds', holding a list")
    return document["kinds"]


def _validate(model: type[FaultKind] | type[KindExtension], entry: dict[str, Any], label: str) -> Any:
    try:
        return model.model_validate(entry)
    except ValidationError as error:
        problems = "; ".join(
            f"field {'.'.join(str(part) for part in item['loc']) or '(entry)'}: {item['msg']}"
            for item in error.errors()
        )
        raise CatalogError(f"{label}: {problems}") from None


def _extend(catalog: Catalog, extension: KindExtension) -> None:
    base = catalog.kinds[extension.kind]
    catalog.kinds[extension.kind] = base.model_copy(
        update={
            "patterns": [*base.patterns, *extension.patterns],
            "exclude_patterns": [*base.exclude_patterns, *extension.exclude_patterns],
        }
    )
