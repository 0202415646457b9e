"""Tests of ``hfd analyze`` run as a subprocess."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

NAMENODE_LOG = """\
2019-05-06 10:11:12,345 INFO org.apache.hadoop.hdfs.server.namenode.NameNode: STARTUP_MSG:
2019-05-06 10:11:13,000 WARN org.apache.hadoop.hdfs.DFSClient: DataStreamer Exception
org.apache.hadoop.ipc.RemoteException(java.io.IOException): File /user/a/b.txt could only be replicated to 0 nodes \
instead of minReplication (=1).  There are 0 datanode(s) running and no node(s) are excluded in this operation.
\tat org.apache.hadoop.ipc.Client.call(Client.java:1475)
2019-05-06 10:11:14,000 INFO org.apache.hadoop.hdfs.server.namenode.NameNode: all good
"""


def run_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.faults.detection.analyze", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture()
def log_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "nn1"
    folder.mkdir()
    (folder / "hadoop-hdfs-namenode-nn1.log").write_text(NAMENODE_LOG, encoding="utf-8")
    return folder


def test_analyze_json_output(log_folder: Path) -> None:
    result = run_analyze(str(log_folder), "--format", "json")
    assert result.returncode == 0, result.stderr
    (incident,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert incident["kind"] == "no_datanodes_available"
    assert incident["severity"] == "critical"
    assert incident["title"] == "没有可用的 DataNode，写入无法放置副本"
    assert incident["file"].endswith("hadoop-hdfs-namenode-nn1.log")
    assert (incident["first_line"], incident["last_line"]) == (2, 4)
    assert incident["count"] == 1
    assert incident["node"] == "nn1"
    assert "could only be replicated to 0 nodes" in incident["evidence"][0]


def test_analyze_english_titles(log_folder: Path) -> None:
    result = run_analyze(str(log_folder), "--format", "json", "--lang", "en")
    assert json.loads(result.stdout.splitlines()[0])["title"] == "No DataNode available to place replicas"


def test_analyze_defaults_to_json_when_piped(log_folder: Path) -> None:
    result = run_analyze(str(log_folder))
    assert json.loads(result.stdout.splitlines()[0])["kind"] == "no_datanodes_available"


def test_analyze_table_output(log_folder: Path) -> None:
    result = run_analyze(str(log_folder), "--format", "table", "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert "no_datanodes_available" in result.stdout


def test_analyze_clean_log_exits_zero(tmp_path: Path) -> None:
    clean = tmp_path / "hadoop-hdfs-datanode-dn1.log"
    clean.write_text("2019-05-06 10:11:12,345 INFO org.example.A: fine\n", encoding="utf-8")
    result = run_analyze(str(clean), "--format", "json")
    assert result.returncode == 0
    assert result.stdout == ""


def test_analyze_bad_path_exits_two(tmp_path: Path) -> None:
    result = run_analyze(str(tmp_path / "missing.log"), "--lang", "en")
    assert result.returncode == 2
    assert "path not found" in result.stderr
    assert "missing.log" in result.stderr


def test_analyze_skips_binary_file(log_folder: Path) -> None:
    (log_folder / "core.bin").write_bytes(b"\x7fELF\x00\x00\x01binary")
    result = run_analyze(str(log_folder), "--format", "json", "--lang", "en")
    assert result.returncode == 0
    assert "skipped binary file" in result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_analyze_reads_gzip(tmp_path: Path) -> None:
    path = tmp_path / "hadoop-hdfs-namenode-nn1.log.gz"
    path.write_bytes(gzip.compress(NAMENODE_LOG.encode("utf-8")))
    result = run_analyze(str(path), "--format", "json")
    assert json.loads(result.stdout.splitlines()[0])["kind"] == "no_datanodes_available"


def test_analyze_invalid_catalog_dir_exits_two(log_folder: Path, tmp_path: Path) -> None:
    catalog_dir = tmp_path / "catalog"
    catalog_dir.mkdir()
    (catalog_dir / "bad.yaml").write_text("kinds: [{kind: disk_full, patterns: ['(']}]", encoding="utf-8")
    result = run_analyze(str(log_folder), "--catalog-dir", str(catalog_dir), "--lang", "en")
    assert result.returncode == 2
    assert "invalid fault catalog" in result.stderr
    assert "bad.yaml" in result.stderr


def test_analyze_catalog_dir_adds_kind(log_folder: Path, tmp_path: Path) -> None:
    catalog_dir = tmp_path / "catalog"
    catalog_dir.mkdir()
    (catalog_dir / "site.yaml").write_text(
        "kinds:\n  - kind: unknown_error\n    exclude_patterns: ['nothing']\n"
        "  - kind: disk_full\n    patterns: ['all good']\n", encoding="utf-8")
    result = run_analyze(str(log_folder), "--catalog-dir", str(catalog_dir), "--format", "json")
    found = {json.loads(line)["kind"] for line in result.stdout.splitlines()}
    assert found == {"no_datanodes_available", "disk_full"}


@pytest.mark.realdata
def test_analyze_real_daemon_logs(tmp_path: Path) -> None:
    from libs.common.datasets import data_dir

    folder = data_dir() / "daemon-logs"
    if not folder.is_dir():
        pytest.skip(f"real Hadoop logs not found at {folder}; set HFD_DATA_DIR")
    result = run_analyze(str(folder), "--format", "json")
    incidents = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0
    assert {"port_in_use", "security_misconfiguration", "no_datanodes_available"} <= {i["kind"] for i in incidents}
    assert all(len(i["evidence"]) <= 5 for i in incidents)
