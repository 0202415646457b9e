"""``hfd analyze PATH...``: find faults in Hadoop log files and folders, offline.

Walks the given files and folders and runs every record through the detection engine.
``.gz`` files are read decompressed and binary files are skipped with a warning. It prints
one incident per (file, kind), as JSON lines (``--format json``) or as a table. The node of a
file is the name of its folder, the cluster is ``local``.

Exit codes: 0 when the analysis ran, whatever it found; 2 when a path does not exist or the
catalog is invalid.

Run without the CLI: ``.venv/bin/python -m services.faults.detection.analyze PATH...``
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import click

from libs.common.catalog import CatalogError, catalog_dir_from_env, load_catalog
from libs.common.logformat import iter_records, log_type_from_filename, parse_header
from services.faults.detection.engine import DetectionEngine
from services.faults.detection.incidents import Incident, IncidentAggregator

logger = logging.getLogger(__name__)

CLUSTER = "local"
BINARY_SNIFF_BYTES = 8192
PROGRESS_MIN_BYTES = 8 * 1024 * 1024

_MESSAGES = {
    "missing": {
        "zh": "路径不存在：{path}。请检查路径后重试。",
        "en": "path not found: {path}; check the path and try again.",
    },
    "binary": {"zh": "跳过二进制文件：{path}", "en": "skipped binary file: {path}"},
    "unreadable": {"zh": "无法读取文件 {path}：{error}", "en": "cannot read file {path}: {error}"},
    "catalog": {"zh": "故障目录无效：{error}", "en": "invalid fault catalog: {error}"},
    "none": {"zh": "未发现故障（共分析 {files} 个文件）。", "en": "No faults found in {files} files."},
}


def _message(key: str, lang: str, **values: object) -> str:
    return _MESSAGES[key]["en" if lang == "en" else "zh"].format(**values)


def iter_log_files(paths: list[Path]) -> Iterator[Path]:
    """Yield the files under ``paths`` (files as given, folders walked in name order)."""
    for path in paths:
        if path.is_file():
            yield path
            continue
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                yield Path(root) / name


def is_binary(path: Path) -> bool:
    """Return True when the start of ``path`` (decompressed for ``.gz``) contains a NUL byte."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            return b"\0" in handle.read(BINARY_SNIFF_BYTES)
    except (OSError, EOFError):
        return True


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")  # noqa: SIM115


def analyze_paths(
    paths: list[Path], engine: DetectionEngine, aggregator: IncidentAggregator, *, lang: str = "zh",
    on_bytes: Callable[[int], None] | None = None,
) -> int:
    """Run every file under ``paths`` through ``engine`` into ``aggregator``; return the files analysed."""
    analysed = 0
    for path in iter_log_files(paths):
        if is_binary(path):
            click.echo(_message("binary", lang, path=path), err=True)
            continue
        try:
            _analyze_file(path, engine, aggregator)
        except OSError as error:
            click.echo(_message("unreadable", lang, path=path, error=error), err=True)
            continue
        analysed += 1
        if on_bytes is not None:
            on_bytes(path.stat().st_size)
    return analysed


def _analyze_file(path: Path, engine: DetectionEngine, aggregator: IncidentAggregator) -> None:
    source = str(path)
    node = path.parent.name or "localhost"
    log_type = log_type_from_filename(path.name[:-3] if path.suffix == ".gz" else path.name)
    with _open_text(path) as handle:
        for record in iter_records(handle, source):
            for detection in engine.process(record, cluster=CLUSTER, node=node, log_type=log_type):
                aggregator.add(detection, source)


def _print_json(incidents: list[Incident], lang: str) -> None:
    for incident in incidents:
        click.echo(json.dumps(incident.to_json(lang), ensure_ascii=False))


def _evidence_summary(evidence: str) -> str:
    # The table shows the level and message of the first line; the timestamp and logger are long.
    first_line = evidence.split("\n", 1)[0]
    header = parse_header(first_line)
    return f"{header.level} {header.message}" if header is not None else first_line


def _print_table(incidents: list[Incident], lang: str, files: int) -> None:
    from rich.console import Console
    from rich.table import Table

    # A pipe gets a wide table instead of rich's 80-column default, so kinds and paths stay whole.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    if not incidents:
        console.print(_message("none", lang, files=files))
        return

    english = lang == "en"
    table = Table(show_lines=True)
    headers = (("Severity", "级别"), ("Kind", "类型"), ("Title", "标题"), ("File", "文件"),
               ("Lines", "行号"), ("Count", "次数"), ("Evidence", "证据"))
    for index, (header_en, header_zh) in enumerate(headers):
        table.add_column(header_en if english else header_zh, overflow="fold", no_wrap=index in (0, 1))
    for incident in incidents:
        first_evidence = _evidence_summary(incident.evidence[0]) if incident.evidence else ""
        table.add_row(
            incident.severity, incident.kind, incident.title_en if english else incident.title_zh,
            Path(incident.file).name, f"{incident.first_line}-{incident.last_line}", str(incident.count),
            first_evidence[:160],
        )
    console.print(table)


def analyze_command(
    paths: list[str], fmt: str | None, progress: bool | None, catalog_dir: str | None, lang: str = "zh"
) -> int:
    """Analyse ``paths`` and print incidents; return the exit code (0 ran, 2 bad path or catalog).

    ``fmt`` is "json" or "table"; None picks a table on a terminal and JSON otherwise.
    ``progress`` None shows a progress bar on a terminal when the input is large.
    ``catalog_dir`` None falls back to ``HFD_CATALOG_DIR``.
    """
    resolved = [Path(p) for p in paths]
    missing = [p for p in resolved if not p.exists()]
    if not resolved or missing:
        click.echo(_message("missing", lang, path=missing[0] if missing else "(none)"), err=True)
        return 2

    try:
        catalog = load_catalog(Path(catalog_dir) if catalog_dir else catalog_dir_from_env())
    except CatalogError as error:
        click.echo(_message("catalog", lang, error=error), err=True)
        return 2

    engine = DetectionEngine(catalog)
    aggregator = IncidentAggregator(catalog)
    fmt = fmt or ("table" if sys.stdout.isatty() else "json")
    total = sum(p.stat().st_size for p in iter_log_files(resolved))
    if progress is None:
        progress = sys.stderr.isatty() and total >= PROGRESS_MIN_BYTES

    if progress:
        files = _analyze_with_progress(resolved, engine, aggregator, lang, total)
    else:
        files = analyze_paths(resolved, engine, aggregator, lang=lang)

    incidents = aggregator.incidents()
    if fmt == "json":
        _print_json(incidents, lang)
    else:
        _print_table(incidents, lang, files)
    return 0


def _analyze_with_progress(
    paths: list[Path], engine: DetectionEngine, aggregator: IncidentAggregator, lang: str, total: int
) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("analyze" if lang == "en" else "分析中", total=total)
        return analyze_paths(paths, engine, aggregator, lang=lang,
                             on_bytes=lambda size: bar.advance(task, size))


@click.command("analyze")
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default=None,
              help="Output format: one JSON object per incident per line, or a table. "
                   "Default: table on a terminal, JSON otherwise.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of titles and messages.")
@click.option("--catalog-dir", type=click.Path(file_okay=False), default=None,
              help="Folder of extra fault catalog YAML files (default: HFD_CATALOG_DIR).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar on stderr. Default: on a terminal, for inputs of 8 MiB or more.")
def analyze(paths: tuple[str, ...], fmt: str | None, lang: str, catalog_dir: str | None,
            progress: bool | None) -> None:
    """Find Hadoop faults in log files and folders (PATH...), offline."""
    sys.exit(analyze_command(list(paths), fmt, progress, catalog_dir, lang))


if __name__ == "__main__":
    analyze()
