"""Expected incidents from offline detection, and what the faults and AI databases contain.

The offline run feeds the stream's log batches, in stream order, through fresh engines with
``detect_logs``, the function the faults service runs on each consumer batch. One replica
consuming without interruption would open exactly these incidents with these counts.
"""

from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from libs.common.catalog import catalog_dir_from_env, load_catalog
from libs.common.events import FaultEvent, LogBatch
from libs.common.timeutil import utcnow
from services.faults.config import FaultsSettings
from services.faults.detection.engine import DetectionEngine
from services.faults.engines import detect_logs

# Kinds that come from METRICS (samples and reachability reports), not from log records. Whether
# they fire depends on the machine's load during the run, so the test reports them only.
METRIC_KINDS = frozenset({"resource_pressure", "node_unreachable"})


@dataclass
class ExpectedLogs:
    """Incident fingerprints with their occurrence counts, and the WARN+ row count."""

    counts: dict[str, int]
    kinds: dict[str, str]
    warn_rows: int
    records: int


def expected_from_batches(batches: list[LogBatch]) -> ExpectedLogs:
    """Run the batches through fresh engines, one per (cluster, node), as one replica would."""
    catalog = load_catalog(catalog_dir_from_env())
    engines = {(batch.cluster, batch.node): DetectionEngine(catalog) for batch in batches}
    result = detect_logs(engines, batches, catalog, FaultsSettings(), utcnow())
    counts = {key: group.count for key, group in result.groups.items()}
    kinds = {key: group.kind for key, group in result.groups.items()}
    return ExpectedLogs(counts, kinds, len(result.log_rows), result.records)


@dataclass
class StoredState:
    """Rows of the faults and AI schemas for one cluster."""

    incidents: list[dict] = field(default_factory=list)
    warn_rows: int = 0
    diagnoses: Counter = field(default_factory=Counter)
    diagnosis_triggers: Counter = field(default_factory=Counter)

    def log_incidents(self) -> list[dict]:
        return [row for row in self.incidents if row["kind"] not in METRIC_KINDS and row["origin"] == "detected"]

    def metric_incidents(self) -> list[dict]:
        return [row for row in self.incidents if row["kind"] in METRIC_KINDS]


async def load_stored(database_url: str, cluster: str) -> StoredState:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        incidents = await connection.fetch(
            "SELECT id, fingerprint, kind, node, status, origin, count FROM faults.incidents WHERE cluster = $1",
            cluster,
        )
        warn_rows = await connection.fetchval("SELECT count(*) FROM faults.log_records WHERE cluster = $1", cluster)
        diagnoses = await connection.fetch(
            "SELECT incident_id, trigger FROM ai.diagnoses WHERE cluster = $1 AND incident_id IS NOT NULL", cluster
        )
    finally:
        await connection.close()
    return StoredState(
        incidents=[dict(row) for row in incidents],
        warn_rows=warn_rows,
        diagnoses=Counter(row["incident_id"] for row in diagnoses),
        diagnosis_triggers=Counter(row["trigger"] for row in diagnoses),
    )


def sent_incidents(events: list[FaultEvent]) -> set[str]:
    """Return the incidents that FAULTS carried an event for, other than a resolution."""
    return {event.incident_id for event in events if event.event != "resolved"}
