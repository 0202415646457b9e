"""Fixtures of the detection tests: the shipped catalog, an engine, and the real Hadoop logs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from libs.common.catalog import Catalog, load_catalog
from libs.common.datasets import data_dir
from libs.common.logformat import iter_records
from services.faults.detection.analyze import analyze_paths
from services.faults.detection.engine import Detection, DetectionEngine
from services.faults.detection.incidents import IncidentAggregator
from tests.conftest import infra  # noqa: F401 - an instance of its own for this package


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped fault catalog."""
    return load_catalog()


@pytest.fixture()
def engine(catalog: Catalog) -> DetectionEngine:
    """A fresh engine on the shipped catalog."""
    return DetectionEngine(catalog)


@pytest.fixture(scope="session")
def logs_dir() -> Path:
    """The folder of real Hadoop logs; skips the test when it is absent."""
    folder = data_dir()
    if not folder.is_dir():
        pytest.skip(f"real Hadoop logs not found at {folder}; set HFD_DATA_DIR")
    return folder


def detect_text(
    engine: DetectionEngine, text: str, *, log_type: str = "datanode", source: str = "test"
) -> list[Detection]:
    """Run log text (one or more records) through ``engine``; return all detections."""
    found: list[Detection] = []
    for record in iter_records(text.splitlines(), source):
        found.extend(engine.process(record, cluster="c1", node="n1", log_type=log_type))
    return found


def kinds_in(catalog: Catalog, *paths: Path) -> Counter[str]:
    """Analyse ``paths`` like ``hfd analyze``; return the incident count of each kind."""
    aggregator = IncidentAggregator(catalog)
    analyze_paths(list(paths), DetectionEngine(catalog), aggregator)
    return Counter(incident.kind for incident in aggregator.incidents())
