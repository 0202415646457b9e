"""Measure template mining against Loghub's ground-truth templates.

Grouping accuracy follows Zhu et al., "Tools and Benchmarks for Automated Log Parsing"
(ICSE-SEIP 2019): a line is parsed correctly when the set of lines in its mined group is
exactly the set of lines in its ground-truth group. The published Drain figures for the
2k samples come from that paper's table (HDFS 0.998, Hadoop 0.948, Spark 0.920,
Zookeeper 0.967).

Run: .venv/bin/python bench/eval_templates.py [--write-docs]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.docs_section import replace_section  # noqa: E402
from libs.common.datasets import data_dir  # noqa: E402
from services.faults.detection.templates import TemplateMiner  # noqa: E402

PUBLISHED_DRAIN = {"HDFS": 0.998, "Hadoop": 0.948, "Spark": 0.920, "Zookeeper": 0.967}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "detection.md"


def grouping_accuracy(truth: list[str], mined: list[int]) -> float:
    """Return the share of lines whose mined group has exactly the lines of their true group."""
    truth_groups: dict[str, set[int]] = defaultdict(set)
    mined_groups: dict[int, set[int]] = defaultdict(set)
    for index, (event, template) in enumerate(zip(truth, mined, strict=True)):
        truth_groups[event].add(index)
        mined_groups[template].add(index)

    correct = sum(
        1 for index, event in enumerate(truth) if truth_groups[event] == mined_groups[mined[index]]
    )
    return correct / len(truth) if truth else 0.0


def evaluate(structured: Path) -> tuple[float, int, int, float]:
    """Mine the Content column of a Loghub ``*_structured.csv``; return accuracy, lines, templates, seconds."""
    with structured.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))

    miner = TemplateMiner()
    started = time.perf_counter()
    mined = [miner.add(row["Content"]).template_id for row in rows]
    elapsed = time.perf_counter() - started
    return grouping_accuracy([row["EventId"] for row in rows], mined), len(rows), len(miner), elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true", help="write the results into docs/detection.md")
    args = parser.parse_args()

    loghub = data_dir() / "loghub"
    if not loghub.is_dir():
        print(f"real Hadoop logs not found at {loghub}; set HFD_DATA_DIR", file=sys.stderr)
        return 2

    rows = []
    for structured in sorted(loghub.glob("*/*_2k.log_structured.csv")):
        dataset = structured.parent.name
        accuracy, lines, templates, seconds = evaluate(structured)
        published = PUBLISHED_DRAIN.get(dataset)
        rows.append((dataset, lines, templates, accuracy, published, lines / seconds if seconds else 0.0))

    header = "| dataset | lines | templates mined | grouping accuracy | published Drain | lines/s |"
    table = [header, "|---|---:|---:|---:|---:|---:|"]
    for dataset, lines, templates, accuracy, published, speed in rows:
        published_text = f"{published:.3f}" if published is not None else "n/a"
        table.append(f"| {dataset} | {lines} | {templates} | {accuracy:.3f} | {published_text} | {speed:,.0f} |")
    print("\n".join(table))

    if args.write_docs:
        body = (
            "Command: `.venv/bin/python bench/eval_templates.py --write-docs`\n\n"
            "Input: the `Content` column of Loghub's `*_2k.log_structured.csv` (logpai/loghub, "
            "Zhu et al., ISSRE 2023), ground truth from its `EventId` column. The miner uses the "
            "product's generic masks and settings, not per-dataset ones.\n\n" + "\n".join(table) + "\n"
        )
        replace_section(DOCS, "Template mining", body, title="Detection engine: evaluations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
