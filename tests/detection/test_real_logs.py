"""Detection on the real Hadoop logs, checked against what an operator reads in each file."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.common.catalog import Catalog
from tests.detection.conftest import kinds_in

pytestmark = pytest.mark.realdata

# Each daemon log, with what an experienced operator finds wrong in it.
DAEMON_LOGS: dict[str, set[str]] = {
    # Writes fail with "could only be replicated to 0 nodes ... There are 0 datanode(s) running".
    "hadoop265-namenode-zero-datanodes.log": {"no_datanodes_available"},
    # "Problem connecting to server: Master:9000" every 5 s: the address prints without "/ip", so
    # the name Master does not resolve, and the DataNode never reaches its NameNode.
    "hadoop265-datanode-master-unreachable.log": {"host_resolution_failure", "namenode_unreachable"},
    # "Unresolved address" while binding the resource tracker, then "Error starting ResourceManager";
    # the capacity scheduler also warns that maximum-am-resource-percent is too low to run an AM.
    "hadoop265-resourcemanager-unresolved-address.log": {"host_resolution_failure", "config_error"},
    # NameNode down: "Retrying connect to server: localhost/127.0.0.1:9000", connection refused.
    "hadoop281-datanode-connection-refused.log": {"namenode_unreachable"},
    # zh_CN: "Problem binding to [resourcemanager...:8031] java.net.BindException: 无法指定被请求的地址".
    "hadoop272-resourcemanager-bind-zh-locale.log": {"port_in_use"},
    # zh_CN: secure DataNode without privileged ports or SASL (exits), later "SIMPLE authentication is
    # not enabled" from a Kerberos NameNode, and "拒绝连接" while the NameNode at port 9000 is down.
    "hadoop272-datanode-secure-zh-locale.log": {"security_misconfiguration", "kerberos_failure",
                                                "namenode_unreachable"},
}

# Loghub 2k samples: the kinds an operator expects, and those also accepted.
LOGHUB: dict[str, tuple[set[str], set[str]]] = {
    # A healthy Spark executor: a normal baseline.
    "Spark": (set(), set()),
    # HDFS_v1: WARN "Got exception while serving blk_..." without a cause in the sample; readers
    # that drop connections write these in healthy clusters, so no fault is named.
    "HDFS": (set(), set()),
    # ApplicationMaster during an injected network disconnection. Its job history write pipeline
    # also waits 65 s and reports its second DataNode failed, which the catalog reads as node_lost:
    # seen from the cluster, a host cut off from the network is a lost node.
    "Hadoop": (
        {"network_unreachable", "resourcemanager_unreachable"},
        {"task_failure", "unknown_error", "error_burst", "node_lost"},
    ),
    # Quorum peers lose their connections: "Connection broken for id", "Cannot open channel".
    "Zookeeper": ({"zookeeper_session_lost"}, {"unknown_error"}),
}

# Representative labelled runs and the kind that gives their label.
LABELLED_RUNS = {
    "application_1445182159119_0004": "disk_full",
    "application_1445182159119_0015": "disk_full",
    "application_1445175094696_0004": "network_unreachable",
    "application_1445144423722_0022": "network_unreachable",
    "application_1445076437777_0003": "node_lost",
    "application_1445062781478_0013": "node_lost",
    "application_1445182159119_0020": "node_lost",
}
RUN_LEVEL_KINDS = {"disk_full", "network_unreachable", "node_lost"}


def test_every_daemon_log_has_expectations(logs_dir: Path) -> None:
    assert {path.name for path in (logs_dir / "daemon-logs").iterdir()} == set(DAEMON_LOGS)


@pytest.mark.parametrize("name", sorted(DAEMON_LOGS))
def test_daemon_log_kinds(logs_dir: Path, catalog: Catalog, name: str) -> None:
    found = set(kinds_in(catalog, logs_dir / "daemon-logs" / name))
    assert found == DAEMON_LOGS[name]


@pytest.mark.parametrize("dataset", sorted(LOGHUB))
def test_loghub_sample_kinds(logs_dir: Path, catalog: Catalog, dataset: str) -> None:
    expected, accepted = LOGHUB[dataset]
    found = set(kinds_in(catalog, logs_dir / "loghub" / dataset / f"{dataset}_2k.log"))
    assert expected <= found, f"missing {sorted(expected - found)}"
    assert found <= expected | accepted, f"unexpected {sorted(found - expected - accepted)}"


def test_normal_runs_have_no_run_level_fault(logs_dir: Path, catalog: Catalog) -> None:
    runs = logs_dir / "hadoop-runs"
    normal = [line.split(",")[0] for line in (runs / "labels.csv").read_text().splitlines()
              if line.strip().endswith(",Normal")]
    assert normal, "no Normal run in labels.csv"
    for run_id in normal:
        found = set(kinds_in(catalog, runs / run_id))
        assert not found & RUN_LEVEL_KINDS, f"{run_id}: {sorted(found & RUN_LEVEL_KINDS)}"


@pytest.mark.parametrize(("run_id", "kind"), sorted(LABELLED_RUNS.items()))
def test_labelled_run_shows_injected_fault(logs_dir: Path, catalog: Catalog, run_id: str, kind: str) -> None:
    assert kind in kinds_in(catalog, logs_dir / "hadoop-runs" / run_id)


def test_silent_datanode_in_network_run_is_node_lost(logs_dir: Path, catalog: Catalog) -> None:
    # A DataNode went silent in the ApplicationMaster's write pipeline (48957 ms, then ERROR) during
    # an injected network disconnection. No process on the cut-off host was logging by then, so the
    # logs cannot tell a cut cable from a powered-off machine.
    found = kinds_in(catalog, logs_dir / "hadoop-runs" / "application_1445175094696_0002")
    assert "node_lost" in found
