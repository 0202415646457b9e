"""The fault catalog: kinds of Hadoop faults, their signatures and repair playbooks, kept as YAML data."""

from libs.common.catalog.loader import (
    CATALOG_DIR_ENV,
    Catalog,
    CatalogError,
    catalog_dir_from_env,
    load_catalog,
)
from libs.common.catalog.models import (
    ACTION_PARAMS,
    DIAGNOSTIC_COMMANDS,
    SEVERITY_ORDER,
    FaultKind,
    KindExtension,
    LocalizedText,
    PatternSpec,
    Playbook,
    RepairAction,
)

__all__ = [
    "ACTION_PARAMS",
    "CATALOG_DIR_ENV",
    "DIAGNOSTIC_COMMANDS",
    "SEVERITY_ORDER",
    "Catalog",
    "CatalogError",
    "FaultKind",
    "KindExtension",
    "LocalizedText",
    "PatternSpec",
    "Playbook",
    "RepairAction",
    "catalog_dir_from_env",
    "load_catalog",
]
