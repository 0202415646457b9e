"""Typed repair actions and the repair policy: parameters, preconditions, who may run what."""

import pytest
from pydantic import ValidationError

from services.ai.diagnosis.claude import _Choice, choose_actions, parse_answer
from services.ai.repairs.actions import CleanTempDir, LeaveSafeMode, RestartDaemon, build_action
from services.ai.repairs.policy import decide_requested, decide_unattended, may_run

REPORT_OK = "Configured Capacity: 1 (1 B)\n\tMissing blocks: 0\n\tMissing blocks (with replication factor 1): 0\n"
REPORT_MISSING = "Configured Capacity: 1 (1 B)\n\tMissing blocks: 12\n"


def test_leave_safe_mode_precondition_met():
    check = LeaveSafeMode().precondition(["Safe mode is ON", REPORT_OK])
    assert check.ok


def test_leave_safe_mode_needs_safe_mode_on():
    check = LeaveSafeMode().precondition(["Safe mode is OFF", REPORT_OK])
    assert not check.ok
    assert "ON" in check.reason


def test_leave_safe_mode_refuses_missing_blocks():
    check = LeaveSafeMode().precondition(["Safe mode is ON", REPORT_MISSING])
    assert not check.ok
    assert "12 missing blocks" in check.reason


def test_leave_safe_mode_verified_off():
    assert LeaveSafeMode().verify(["Safe mode is OFF"]).ok
    assert not LeaveSafeMode().verify(["Safe mode is ON"]).ok


def test_restart_verified_by_jps():
    action = RestartDaemon(daemon="datanode")
    assert action.verify(["123 Jps\n4567 DataNode\n"]).ok
    assert not action.verify(["123 Jps\n4567 NameNode\n"]).ok


def test_restart_rejects_unknown_daemon():
    with pytest.raises(ValidationError):
        build_action("restart_daemon", {"daemon": "sshd; rm -rf /"})


@pytest.mark.parametrize("root", ["relative/dir", "/tmp/../etc", "/tmp/a\x00b"])
def test_clean_temp_dir_rejects_paths(root):
    with pytest.raises(ValidationError):
        CleanTempDir(root=root)


def test_clean_temp_dir_resolves_hadoop_tmp_dir():
    action = CleanTempDir(root="hadoop.tmp.dir").resolve(["/tmp/hadoop-{user}"], "dn1", "hadoop")
    assert action.commands()[0].args == {"path": "/tmp/hadoop-hadoop"}


def test_clean_temp_dir_outside_roots():
    with pytest.raises(ValueError, match="outside"):
        CleanTempDir(root="/var/lib/hadoop").resolve(["/tmp/hadoop-{user}"], "dn1", "hadoop")


def test_clean_temp_dir_needs_resolve():
    with pytest.raises(ValueError):
        CleanTempDir(root="/tmp/hadoop-x").commands()


def test_raise_setting_is_person_only():
    action = build_action(
        "raise_setting_and_restart",
        {"file": "hdfs-site.xml", "key": "dfs.datanode.max.transfer.threads", "value": "8192", "daemon": "datanode"},
    )
    assert action.person_only


def test_policy_off_skips_everything():
    assert decide_unattended("off", LeaveSafeMode, True) == "skipped"
    assert decide_requested("off", "admin", True, LeaveSafeMode, True) == "skipped"


def test_policy_suggest_waits():
    assert decide_unattended("suggest", LeaveSafeMode, True) == "pending"


def test_policy_auto_runs_safe_only():
    assert decide_unattended("auto", LeaveSafeMode, True) == "run"
    assert decide_unattended("auto", LeaveSafeMode, False) == "pending"


@pytest.mark.parametrize(
    ("role", "safe", "expected"),
    [("observer", True, "pending"), ("operator", True, "run"), ("operator", False, "pending"), ("admin", False, "run")],
)
def test_requested_by_role(role, safe, expected):
    assert decide_requested("suggest", role, True, RestartDaemon, safe) == expected


def test_requested_without_auto_waits():
    assert decide_requested("auto", "admin", False, RestartDaemon, True) == "pending"


def test_person_only_never_runs_directly():
    from services.ai.repairs.actions import RaiseSettingAndRestart

    assert decide_requested("auto", "admin", True, RaiseSettingAndRestart, True) == "pending"
    assert decide_unattended("auto", RaiseSettingAndRestart, True) == "pending"


def test_observer_may_not_approve():
    assert not may_run("observer", True)
    assert may_run("operator", True)
    assert not may_run("operator", False)


def test_model_choice_outside_playbook_rejected():
    accepted, rejected = choose_actions(
        "namenode_safe_mode", [_Choice(action_id="restart_daemon:namenode"), _Choice(action_id="leave_safe_mode")], "en"
    )
    assert [proposal.action_id for proposal in accepted] == ["leave_safe_mode"]
    assert rejected[0].content == "restart_daemon:namenode"


def test_model_choice_with_changed_params_rejected():
    accepted, rejected = choose_actions(
        "node_lost", [_Choice(action_id="restart_daemon:datanode", params={"daemon": "namenode"})], "en"
    )
    assert accepted == []
    assert rejected[0].result == "parameters differ from the playbook"


def test_parse_answer_requires_both_languages():
    with pytest.raises(ValueError):
        parse_answer('{"summary": {"zh": "x"}, "what_happened": {}, "why": {}, "what_to_do": {}}')


def test_parse_answer_finds_json_in_text():
    text = (
        'Here it is: {"summary": {"zh": "概要", "en": "Summary"}, "what_happened": {"zh": "a", "en": "a"}, '
        '"why": {"zh": "b", "en": "b"}, "what_to_do": {"zh": "c", "en": "c"}} done'
    )
    assert parse_answer(text).summary.en == "Summary"
