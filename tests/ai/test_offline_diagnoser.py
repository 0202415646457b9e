"""The offline diagnoser: catalog texts in both languages, facts from evidence, real daemon logs."""

import re
from pathlib import Path

import pytest

from libs.common.catalog import load_catalog
from services.ai.diagnosis.base import DiagnosisContext, IncidentInfo
from services.ai.diagnosis.extract import extract_facts
from services.ai.diagnosis.offline import OfflineDiagnoser

CJK = re.compile(r"[\u4e00-\u9fff]")
CATALOG = load_catalog()


def diagnose(kind: str, evidence: list[str], node: str = "dn1"):
    incident = IncidentInfo(incident_id="inc-1", cluster="c1", node=node, kind=kind, count=3, evidence=evidence)
    return OfflineDiagnoser().diagnose_now(DiagnosisContext(cluster="c1", incident=incident), "zh")


@pytest.mark.parametrize("kind", sorted(CATALOG.kinds))
def test_playbook_text_both_languages(kind):
    diagnosis = diagnose(kind, ["2024-01-01 00:00:00,000 ERROR x.Y: something failed"])

    for field in ("summary", "what_happened", "why", "what_to_do"):
        text = getattr(diagnosis, field)
        assert text.zh.strip(), f"{kind}: {field}.zh is empty"
        assert text.en.strip(), f"{kind}: {field}.en is empty"
        assert CJK.search(text.zh), f"{kind}: {field}.zh has no Chinese text"
        assert not CJK.search(text.en), f"{kind}: {field}.en contains Chinese text"
    assert "检查" in diagnosis.what_to_do.zh
    assert "Check:" in diagnosis.what_to_do.en


@pytest.mark.parametrize("kind", sorted(CATALOG.kinds))
def test_playbook_checks_named(kind):
    diagnosis = diagnose(kind, ["line"])
    for check in CATALOG.get(kind).playbook.checks:
        assert check.en in diagnosis.what_to_do.en
        assert check.zh in diagnosis.what_to_do.zh


def test_proposals_only_from_playbook():
    diagnosis = diagnose("namenode_safe_mode", ["SafeModeException: Name node is in safe mode."])
    ids = [proposal.action_id for proposal in diagnosis.proposed_actions]
    assert ids == ["run_diagnostic:safemode_get", "run_diagnostic:hdfs_report", "run_diagnostic:df", "leave_safe_mode"]
    assert diagnosis.diagnoser == "offline"


def test_extra_safe_action_marked():
    incident = IncidentInfo(incident_id="i", cluster="c", node="nn1", kind="namenode_safe_mode", evidence=["x"])
    diagnoser = OfflineDiagnoser(frozenset({"namenode_safe_mode:leave_safe_mode"}))
    diagnosis = diagnoser.diagnose_now(DiagnosisContext(cluster="c", incident=incident))
    safe = {proposal.action_id: proposal.safe for proposal in diagnosis.proposed_actions}
    assert safe["leave_safe_mode"] is True


def test_no_incident_answer():
    diagnosis = OfflineDiagnoser().diagnose_now(DiagnosisContext(cluster="c"), "en")
    assert diagnosis.proposed_actions == []
    assert "No open" in diagnosis.summary.en


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ("WARN DataNode: Problem connecting to server: Master:9000", "address", "Master:9000"),
        ("Problem binding to [rm.example.edu:8031] java.net.BindException: 无法指定被请求的地址", "port", "8031"),
        ("java.net.UnknownHostException: hadoop-master: 未知的名称或服务", "host", "hadoop-master"),
        ("DiskOutOfSpaceException: No space left on device /data/dfs/dn/current", "path", "/data/dfs/dn/current"),
        ("2018-11-14 08:44:04,381 WARN x.Y: Retrying connect to server: localhost/127.0.0.1:9000", "host", "localhost"),
    ],
)
def test_extract_facts(line, field, expected):
    assert getattr(extract_facts([line]), field) == expected


def test_extract_ignores_timestamps():
    facts = extract_facts(["2018-11-14 08:44:04,381 ERROR x.Y: failed"])
    assert facts.address is None


def test_extract_ignores_stack_frames():
    facts = extract_facts(["\tat org.apache.hadoop.hdfs.server.datanode.DataNode.check(DataNode.java:1173)"])
    assert facts.address is None


def test_evidence_fact_in_texts():
    diagnosis = diagnose("port_in_use", ["Problem binding to [rm.example.edu:8031] java.net.BindException"])
    assert "rm.example.edu:8031" in diagnosis.summary.en
    assert "rm.example.edu:8031" in diagnosis.what_to_do.zh


# Expected fault and fix for each real daemon log: the kind, a fact taken from its evidence,
# and words of the fix that the English advice must contain.
REAL_LOGS = {
    "hadoop265-namenode-zero-datanodes.log": ("no_datanodes_available", None, ["DataNode"]),
    "hadoop265-datanode-master-unreachable.log": ("namenode_unreachable", "Master:9000", ["fs.defaultFS"]),
    "hadoop265-resourcemanager-unresolved-address.log": ("host_resolution_failure", None, ["/etc/hosts"]),
    "hadoop281-datanode-connection-refused.log": ("namenode_unreachable", "127.0.0.1:9000", ["NameNode"]),
    "hadoop272-resourcemanager-bind-zh-locale.log": ("port_in_use", "resourcemanager.example.edu:8031", ["port"]),
    "hadoop272-datanode-secure-zh-locale.log": ("security_misconfiguration", None, ["dfs.data.transfer.protection"]),
}


def detect(path: Path) -> list:
    from services.faults.detection.analyze import analyze_paths
    from services.faults.detection.engine import DetectionEngine
    from services.faults.detection.incidents import IncidentAggregator

    aggregator = IncidentAggregator(CATALOG)
    analyze_paths([path], DetectionEngine(CATALOG), aggregator)
    return aggregator.incidents()


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(REAL_LOGS))
def test_real_log_diagnosed(real_data, name):
    kind, fact, fix_words = REAL_LOGS[name]
    path = real_data / "daemon-logs" / name
    if not path.is_file():
        pytest.skip(f"real Hadoop log not found at {path}; set HFD_DATA_DIR")

    detected = {incident.kind: incident for incident in detect(path)}
    assert kind in detected, f"{name}: detection found {sorted(detected)}"
    incident = detected[kind]
    diagnosis = diagnose(kind, incident.evidence, node="node-1")

    title = CATALOG.get(kind).title
    assert title.en in diagnosis.summary.en
    assert title.zh in diagnosis.summary.zh
    for word in fix_words:
        assert word in diagnosis.what_to_do.en, f"{name}: advice lacks {word!r}"
    if fact is not None:
        assert fact in diagnosis.what_happened.en
        assert fact in diagnosis.what_to_do.zh
    proposed = [proposal.action_id for proposal in diagnosis.proposed_actions]
    playbook = [action.action for action in CATALOG.get(kind).playbook.actions]
    assert len(proposed) == len(playbook)
