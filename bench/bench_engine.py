"""Throughput of the detection engine on the real Hadoop logs, beside grep -E with the same signatures.

The engine run covers everything ``hfd analyze`` does per line after reading: grouping lines
into records, header parsing, signature screening and matching, cross-record rules,
template mining of unknown errors and burst counting. Files are read into memory first,
so disk speed is not measured. A second engine run follows the faults consumer's CPU path:
one engine per node, and the engine's state serialised after every batch of 100 records of
one file (the collector's ``batch_max_records``), where the consumer saves it.

``grep -E`` gets the catalog patterns translated to POSIX
ERE with GNU extensions (``(?:`` to ``(``, ``\\d`` to ``[0-9]``). Patterns using lookarounds
or inline flags are left out and counted. grep only counts matching lines, so it is the
floor, not an equal.

Run: .venv/bin/python bench/bench_engine.py [--repeat N] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.docs_section import replace_section  # noqa: E402
from libs.common.catalog import load_catalog  # noqa: E402
from libs.common.datasets import data_dir  # noqa: E402
from libs.common.logformat import iter_records, log_type_from_filename  # noqa: E402
from services.faults.detection.engine import DetectionEngine  # noqa: E402

BATCH_RECORDS = 100
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
# Lookarounds, inline flags and "[\s\S]" have no GNU ERE equivalent; \s, \S, \w and \b do.
_PYTHON_ONLY = re.compile(r"\(\?[=!<]|\(\?m\)|\[\\s\\S\]")


def load_files(root: Path) -> list[tuple[Path, list[str]]]:
    """Read every ``*.log`` file under ``root`` into memory as lines."""
    files = []
    for path in sorted(root.rglob("*.log")):
        with path.open(encoding="utf-8", errors="replace") as handle:
            files.append((path, handle.readlines()))
    return files


def run_engine(files: list[tuple[Path, list[str]]]) -> tuple[float, int]:
    """Run all files through a fresh engine; return seconds and the number of detections.

    Loading the catalog and compiling the engine happen before the clock starts.
    """
    engine = DetectionEngine(load_catalog())
    detections = 0
    started = time.perf_counter()
    for path, lines in files:
        source, node, log_type = str(path), path.parent.name, log_type_from_filename(path.name)
        for record in iter_records(lines, source):
            detections += len(engine.process(record, cluster="bench", node=node, log_type=log_type))
    return time.perf_counter() - started, detections


def run_consumer_path(files: list[tuple[Path, list[str]]]) -> tuple[float, int]:
    """Run each node's files through that node's own engine, saving its state after every batch.

    Return seconds and how many states differed from the last saved one (the database writes).
    """
    catalog = load_catalog()
    engines = {node: DetectionEngine(catalog) for node in sorted({path.parent.name for path, _ in files})}
    saved: dict[str, tuple[int, bytes, bytes]] = {}
    writes = 0
    started = time.perf_counter()
    for path, lines in files:
        source, node, log_type = str(path), path.parent.name, log_type_from_filename(path.name)
        engine = engines[node]
        in_batch = 0
        for record in iter_records(lines, source):
            engine.process(record, cluster="bench", node=node, log_type=log_type)
            in_batch += 1
            if in_batch == BATCH_RECORDS:
                writes += _save_state(engine, node, saved)
                in_batch = 0
        writes += _save_state(engine, node, saved)
    return time.perf_counter() - started, writes


def _save_state(engine: DetectionEngine, node: str, saved: dict[str, tuple[int, bytes, bytes]]) -> int:
    """Serialise the state as ``EngineRegistry.checkpoint`` does; return 1 when it changed (a database write)."""
    revision = engine.template_revision
    previous = saved.get(node)
    templates = previous[1] if previous and previous[0] == revision else engine.template_state()
    windows = engine.window_state()
    if previous and (templates, windows) == previous[1:]:
        return 0
    saved[node] = (revision, templates, windows)
    return 1


def to_ere(pattern: str) -> str | None:
    """Translate a catalog pattern to POSIX ERE, or None when it uses syntax grep -E lacks."""
    if _PYTHON_ONLY.search(pattern):
        return None
    return pattern.replace("(?:", "(").replace(r"\d", "[0-9]")


def run_grep(paths: list[Path]) -> tuple[float, int, int]:
    """Time ``grep -E -c -f`` with the catalog patterns; return seconds, patterns used and left out."""
    patterns = [spec.regex for kind in load_catalog() for spec in kind.patterns]
    translated = [ere for ere in (to_ere(p) for p in patterns) if ere]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
        handle.write("\n".join(translated) + "\n")
        pattern_file = handle.name
    try:
        started = time.perf_counter()
        subprocess.run(["grep", "-E", "-c", "-f", pattern_file, *map(str, paths)],
                       check=False, stdout=subprocess.DEVNULL, env={**os.environ, "LC_ALL": "C.UTF-8"})
        return time.perf_counter() - started, len(translated), len(patterns) - len(translated)
    finally:
        os.unlink(pattern_file)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best is kept")
    parser.add_argument("--write-docs", action="store_true", help="write the results into docs/benchmarks.md")
    args = parser.parse_args()

    root = data_dir()
    if not root.is_dir():
        print(f"real Hadoop logs not found at {root}; set HFD_DATA_DIR", file=sys.stderr)
        return 2

    files = load_files(root)
    lines = sum(len(content) for _, content in files)
    size_mb = sum(path.stat().st_size for path, _ in files) / 1e6

    engine_seconds, detections = min(run_engine(files) for _ in range(args.repeat))
    consumer_seconds, writes = min(run_consumer_path(files) for _ in range(args.repeat))
    grep_seconds, used, left_out = min(run_grep([path for path, _ in files]) for _ in range(args.repeat))
    engine_rate, grep_rate = lines / engine_seconds, lines / grep_seconds
    consumer_rate = lines / consumer_seconds

    cpu = platform.processor() or platform.machine()
    table = "\n".join([
        "| measurement | seconds | lines/s |",
        "|---|---:|---:|",
        f"| detection engine (1 process) | {engine_seconds:.3f} | {engine_rate:,.0f} |",
        f"| engine per node, state saved every {BATCH_RECORDS} records ({writes} changed states) "
        f"| {consumer_seconds:.3f} | {consumer_rate:,.0f} |",
        f"| grep -E, same signatures ({used} patterns, {left_out} left out) | {grep_seconds:.3f} | {grep_rate:,.0f} |",
    ])
    summary = (f"input: {len(files)} files, {lines:,} lines, {size_mb:.1f} MB; detections: {detections}; "
               f"engine at {engine_rate / grep_rate:.2f} of grep's speed")
    print(table)
    print(summary)

    if args.write_docs:
        body = (
            f"Command: `.venv/bin/python bench/bench_engine.py --repeat {args.repeat} --write-docs` "
            f"(best of {args.repeat} runs).\n\n"
            f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, one process. "
            "Input: every `*.log` under the real-logs folder (daemon logs, labelled YARN runs, Loghub "
            "2k samples), read into memory first.\n\n" + table + f"\n\n{summary}\n"
        )
        replace_section(DOCS, "Detection engine", body, title="Benchmarks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
