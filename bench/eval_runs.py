"""Evaluate fault detection on the labelled Hadoop runs (Loghub's Hadoop dataset).

Each run folder is analysed like ``hfd analyze`` does, and its label follows from the kinds
found. A run is ``Disk full`` when ``disk_full`` is found, else ``Network disconnection`` when
``network_unreachable`` is, else ``Machine down`` when ``node_lost`` is, else ``Normal``.
The script prints a confusion matrix, accuracy and macro-F1.

Run: .venv/bin/python bench/eval_runs.py [--write-docs]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.docs_section import replace_section  # noqa: E402
from libs.common.catalog import load_catalog  # noqa: E402
from libs.common.datasets import data_dir  # noqa: E402
from services.faults.detection.analyze import analyze_paths  # noqa: E402
from services.faults.detection.engine import DetectionEngine  # noqa: E402
from services.faults.detection.incidents import IncidentAggregator  # noqa: E402

LABELS = ["Normal", "Machine down", "Network disconnection", "Disk full"]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "detection.md"


def label_from_kinds(kinds: set[str]) -> str:
    """Derive a run's label from the fault kinds detected in its logs."""
    if "disk_full" in kinds:
        return "Disk full"
    if "network_unreachable" in kinds:
        return "Network disconnection"
    if "node_lost" in kinds:
        return "Machine down"
    return "Normal"


def detect_run(folder: Path) -> set[str]:
    """Return the kinds of the incidents found in one run folder, with a fresh engine."""
    catalog = load_catalog()
    aggregator = IncidentAggregator(catalog)
    analyze_paths([folder], DetectionEngine(catalog), aggregator)
    return {incident.kind for incident in aggregator.incidents()}


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    """Return the mean over labels of F1 (labels that never occur in truth or prediction count 0)."""
    scores = []
    for label in LABELS:
        true_positive = sum(1 for truth, predicted in pairs if truth == label and predicted == label)
        predicted_count = sum(1 for _, predicted in pairs if predicted == label)
        truth_count = sum(1 for truth, _ in pairs if truth == label)
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / truth_count if truth_count else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true", help="write the results into docs/detection.md")
    parser.add_argument("--verbose", action="store_true", help="print each run's kinds")
    args = parser.parse_args()

    runs = data_dir() / "hadoop-runs"
    labels_file = runs / "labels.csv"
    if not labels_file.is_file():
        print(f"real Hadoop logs not found at {runs}; set HFD_DATA_DIR", file=sys.stderr)
        return 2

    with labels_file.open(newline="", encoding="utf-8") as handle:
        truth = {row["application_id"].strip(): row["label"].strip() for row in csv.DictReader(handle)}

    pairs: list[tuple[str, str]] = []
    lines = []
    for run_id, label in sorted(truth.items()):
        kinds = detect_run(runs / run_id)
        predicted = label_from_kinds(kinds)
        pairs.append((label, predicted))
        lines.append(f"| {run_id} | {label} | {predicted} | {', '.join(sorted(kinds))} |")
        if args.verbose:
            print(f"{run_id}  {label:22} -> {predicted:22} {sorted(kinds)}")

    accuracy = sum(1 for t, p in pairs if t == p) / len(pairs)
    f1 = macro_f1(pairs)
    normal_called_faulty = sum(1 for t, p in pairs if t == "Normal" and p != "Normal")
    counts = Counter(pairs)

    matrix = ["| true \\ predicted | " + " | ".join(LABELS) + " |", "|---|" + "---:|" * len(LABELS)]
    for label in LABELS:
        matrix.append(f"| {label} | " + " | ".join(str(counts[(label, p)]) for p in LABELS) + " |")
    summary = (f"runs: {len(pairs)}, accuracy: {accuracy:.3f}, macro-F1: {f1:.3f}, "
               f"Normal runs called faulty: {normal_called_faulty}")
    print("\n".join(matrix))
    print(summary)

    if args.write_docs:
        body = (
            "Command: `.venv/bin/python bench/eval_runs.py --write-docs`\n\n"
            "Data: the labelled YARN runs of Loghub's Hadoop dataset (logpai/loghub, Zhu et al., "
            "ISSRE 2023): ApplicationMaster and task container logs of WordCount and PageRank on a "
            "5-machine Windows cluster, Hadoop 2.x, 2015, one fault injected per run or none. "
            "Labels derive from the detected kinds: `disk_full` gives Disk full, else "
            "`network_unreachable` gives Network disconnection, else `node_lost` gives Machine down, "
            "else Normal.\n\n"
            + "\n".join(matrix) + f"\n\n{summary}\n\n"
            "| run | label | predicted | kinds found |\n|---|---|---|---|\n" + "\n".join(lines) + "\n"
        )
        replace_section(DOCS, "Labelled Hadoop runs", body, title="Detection engine: evaluations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
