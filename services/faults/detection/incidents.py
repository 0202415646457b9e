"""Offline aggregation of detections into incidents, one per (file, kind), for ``hfd analyze``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from libs.common.catalog import SEVERITY_ORDER, Catalog
from services.faults.detection.engine import Detection

EVIDENCE_ITEM_MAX_CHARS = 600


@dataclass(slots=True)
class Incident:
    """Detections of one kind in one file, with bounded evidence."""

    kind: str
    severity: str
    title_zh: str
    title_en: str
    file: str
    node: str
    cluster: str
    first_line: int
    last_line: int
    first_at: datetime | None
    last_at: datetime | None
    count: int = 0
    evidence: list[str] = field(default_factory=list)
    template_ids: set[int] = field(default_factory=set)

    def to_json(self, lang: str = "zh") -> dict[str, Any]:
        """Return the incident as a JSON-ready dict, its title in ``lang`` ("zh" or "en")."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title_en if lang == "en" else self.title_zh,
            "file": self.file,
            "node": self.node,
            "cluster": self.cluster,
            "first_line": self.first_line,
            "last_line": self.last_line,
            "first_at": self.first_at.isoformat() if self.first_at else None,
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "count": self.count,
            "evidence": self.evidence,
            "template_ids": sorted(self.template_ids),
        }


def _truncate(text: str, limit: int = EVIDENCE_ITEM_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class IncidentAggregator:
    """Groups detections by (file, kind); keeps the first ``max_evidence`` distinct evidence texts."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._incidents: dict[tuple[str, str], Incident] = {}
        self._seen_evidence: dict[tuple[str, str], set[str]] = {}

    def add(self, detection: Detection, file: str) -> None:
        """Add one detection found in ``file``."""
        key = (file, detection.kind)
        record = detection.record
        first_line = record.first_line if record else 0
        last_line = record.last_line if record else 0

        incident = self._incidents.get(key)
        if incident is None:
            incident = self._incidents[key] = Incident(
                kind=detection.kind, severity=detection.severity, title_zh=detection.title_zh,
                title_en=detection.title_en, file=file, node=detection.node, cluster=detection.cluster,
                first_line=first_line, last_line=last_line, first_at=detection.at, last_at=detection.at,
            )
            self._seen_evidence[key] = set()

        incident.count += 1
        incident.first_line = min(incident.first_line, first_line)
        incident.last_line = max(incident.last_line, last_line)
        if detection.at is not None:
            incident.first_at = min(incident.first_at or detection.at, detection.at)
            incident.last_at = max(incident.last_at or detection.at, detection.at)
        if detection.template_id is not None:
            incident.template_ids.add(detection.template_id)
        self._keep_evidence(incident, key, detection)

    def _keep_evidence(self, incident: Incident, key: tuple[str, str], detection: Detection) -> None:
        limit = self.catalog.get(detection.kind).max_evidence
        if len(incident.evidence) >= limit:
            return
        # Records of one template differ only in numbers; keep one of each.
        signature = f"t{detection.template_id}" if detection.template_id is not None else detection.evidence_text
        if signature in self._seen_evidence[key]:
            return
        self._seen_evidence[key].add(signature)
        incident.evidence.append(_truncate(detection.evidence_text))

    def incidents(self) -> list[Incident]:
        """Return the incidents, most severe first, then by file and first line."""
        return sorted(
            self._incidents.values(),
            key=lambda i: (-SEVERITY_ORDER[i.severity], i.file, i.first_line, i.kind),
        )
