"""The command policy on its own: free-text matching, typed arguments, paths, patterns and roles."""

import asyncio
import time

import pytest
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from libs.common.rpc import Principal
from services.collector.command_catalog import (
    COMMANDS,
    Category,
    CommandLineError,
    command_text,
    match_command,
    split_command_line,
    validate_args,
)
from services.collector.line_filter import PatternTimeout, filter_lines
from services.collector.ops_models import check_log_type, check_node_name
from services.collector.policy import SYSTEM_AI_PRINCIPAL, authorize
from services.collector.remote_paths import NodeScope, is_within, normalise_path
from services.collector.safe_pattern import check_pattern

SCOPE = NodeScope(log_dirs=("/var/log/hadoop",), temp_roots=("/tmp/hadoop-hdfs",))
ADMIN = Principal(user_id=1, username="admin", role="admin")
OPERATOR = Principal(user_id=2, username="op", role="operator")
OBSERVER = Principal(user_id=3, username="obs", role="observer")


def argv_for(text: str) -> list[list[str]]:
    spec, raw = match_command(split_command_line(text))
    return spec.build(validate_args(spec, raw, SCOPE))


@pytest.mark.parametrize(
    "text, command_id, argv",
    [
        ("hdfs dfsadmin -report", "hdfs_report", [["hdfs", "dfsadmin", "-report"]]),
        ("hdfs dfsadmin -safemode get", "safemode_get", [["hdfs", "dfsadmin", "-safemode", "get"]]),
        ("hdfs dfsadmin -safemode leave", "leave_safe_mode", [["hdfs", "dfsadmin", "-safemode", "leave"]]),
        ("yarn node -list -all", "yarn_nodes", [["yarn", "node", "-list", "-all"]]),
        ("jps", "jps", [["jps"]]),
        ("df -h", "df", [["df", "-h"]]),
        ("df -P", "df_posix", [["df", "-P"]]),
        ("free -m", "free", [["free", "-m"]]),
        ("uptime", "uptime", [["uptime"]]),
        ("tail -n 50 /var/log/hadoop/a.log", "tail", [["tail", "-n", "50", "--", "/var/log/hadoop/a.log"]]),
        ("tail /var/log/hadoop/a.log", "tail", [["tail", "-n", "10", "--", "/var/log/hadoop/a.log"]]),
        (
            "grep -i 'No space' /var/log/hadoop/a.log",
            "grep",
            [["grep", "-F", "-m", "1000", "-i", "-e", "No space", "--", "/var/log/hadoop/a.log"]],
        ),
        ("ls -l /var/log/hadoop", "ls_logs", [["ls", "-l", "--", "/var/log/hadoop"]]),
        ("hdfs --daemon status namenode", "hdfs_daemon_status", [["hdfs", "--daemon", "status", "namenode"]]),
        ("hdfs --daemon start datanode", "hdfs_daemon", [["hdfs", "--daemon", "start", "datanode"]]),
        ("yarn --daemon stop nodemanager", "yarn_daemon", [["yarn", "--daemon", "stop", "nodemanager"]]),
        ("hadoop-daemon.sh start namenode", "hadoop_daemon", [["hadoop-daemon.sh", "start", "namenode"]]),
        (
            "mapred --daemon status historyserver",
            "mapred_daemon_status",
            [["mapred", "--daemon", "status", "historyserver"]],
        ),
        ("mapred --daemon stop historyserver", "mapred_daemon", [["mapred", "--daemon", "stop", "historyserver"]]),
    ],
)
def test_match_command_builds_argv(text, command_id, argv):
    spec, _ = match_command(split_command_line(text))
    assert spec.id == command_id
    assert argv_for(text) == argv


@pytest.mark.parametrize(
    "text",
    [
        "rm -rf /",
        "hdfs dfs -rm -r /",
        "jps -v",
        "yarn application -kill x",
        "sh",
        "tail -f /var/log/hadoop/a",
        "df",
        "mapred historyserver",
        "mapred job -kill job_1_0001",
    ],
)
def test_match_command_rejects_unknown_spellings(text):
    assert match_command(split_command_line(text)) is None


@pytest.mark.parametrize(
    "text, code",
    [
        ("jps; id", "shell_metacharacter"),
        ("jps | id", "shell_metacharacter"),
        ("jps && id", "shell_metacharacter"),
        ("echo $HOME", "shell_metacharacter"),
        ("echo `id`", "shell_metacharacter"),
        ("jps > /tmp/x", "shell_metacharacter"),
        ("jps\nid", "shell_metacharacter"),
        ("jps\rid", "shell_metacharacter"),
        ("jps\x00", "shell_metacharacter"),
        ("ls /var/log/*", "shell_metacharacter"),
        ("ls ~", "shell_metacharacter"),
        ("jps 'unclosed", "command_unbalanced_quotes"),
        ("   ", "command_empty"),
        ("jps " + "x" * 1000, "command_too_long"),
    ],
)
def test_split_command_line_rejects(text, code):
    with pytest.raises(CommandLineError) as raised:
        split_command_line(text)
    assert raised.value.code == code


def test_quoted_argument_stays_one_word():
    assert argv_for("grep 'a b' /var/log/hadoop/x.log")[0][-3:] == ["a b", "--", "/var/log/hadoop/x.log"]


def test_command_text_quotes_every_word():
    assert command_text([["grep", "-e", "a b'c", "--", "/x"]]) == "grep -e 'a b'\"'\"'c' -- /x"


@pytest.mark.parametrize(
    "value, code",
    [
        ("relative/path", "path_not_absolute"),
        ("/var/log/hadoop/../../etc/shadow", "path_traversal"),
        ("/var/log/hadoop/..", "path_traversal"),
        ("/var/log/hadoop/%2e%2e/etc", "path_invalid_characters"),
        ("/var/log/hadoop/a b", "path_invalid_characters"),
        ("/var/log/hadoop/$(id)", "path_invalid_characters"),
        ("/var/log/hadoop/a\x00b", "path_control_character"),
        ("/var/log/hadoop/a\n", "path_control_character"),
        ("/" + "a" * 2000, "path_too_long"),
    ],
)
def test_normalise_path_rejects(value, code):
    with pytest.raises(PydanticCustomError) as raised:
        normalise_path(value)
    assert raised.value.type == code


def test_normalise_path_collapses_slashes_and_dots():
    assert normalise_path("//var//log/./hadoop/") == "/var/log/hadoop"


@pytest.mark.parametrize(
    "path, root, allow_equal, expected",
    [
        ("/var/log/hadoop/a.log", "/var/log/hadoop", False, True),
        ("/var/log/hadoop", "/var/log/hadoop", False, False),
        ("/var/log/hadoop", "/var/log/hadoop", True, True),
        ("/var/log/hadoop-evil/a.log", "/var/log/hadoop", False, False),
        ("/var/log/hadoop/a.log", "/var/log/hadoop/", False, True),
    ],
)
def test_is_within(path, root, allow_equal, expected):
    assert is_within(path, root, allow_equal=allow_equal) is expected


@pytest.mark.parametrize(
    "command_id, args, field",
    [
        ("tail", {"path": "/etc/passwd"}, "path"),
        ("tail", {"path": "/var/log/hadoop-evil/a.log"}, "path"),
        ("tail", {"path": "/var/log/hadoop"}, "path"),
        ("tail", {"path": "/var/log/hadoop/a.log", "lines": 5001}, "lines"),
        ("tail", {"path": "/var/log/hadoop/a.log", "extra": 1}, "extra"),
        ("grep", {"path": "/var/log/hadoop/a.log", "text": "a\nb"}, "text"),
        ("grep", {"path": "/var/log/hadoop/a.log", "text": ""}, "text"),
        ("ls_logs", {"path": "/var/log"}, "path"),
        ("clean_temp_dir", {"path": "/tmp"}, "path"),
        ("clean_temp_dir", {"path": "/var/log/hadoop"}, "path"),
        ("hdfs_daemon", {"action": "restart", "daemon": "namenode"}, "action"),
        ("hdfs_daemon", {"action": "start", "daemon": "resourcemanager"}, "daemon"),
        ("restart_daemon", {"daemon": "sshd"}, "daemon"),
        ("mapred_daemon", {"action": "start", "daemon": "namenode"}, "daemon"),
        ("mapred_daemon_status", {"daemon": "resourcemanager"}, "daemon"),
        ("hdfs_daemon", {"action": "stop", "daemon": "historyserver"}, "daemon"),
    ],
)
def test_validate_args_rejects(command_id, args, field):
    with pytest.raises(ValidationError) as raised:
        validate_args(COMMANDS[command_id], args, SCOPE)
    assert raised.value.errors()[0]["loc"][0] == field


def test_validate_args_without_scope_fails_closed():
    with pytest.raises(ValidationError):
        COMMANDS["tail"].args_model.model_validate({"path": "/var/log/hadoop/a.log"})


def test_clean_temp_dir_keeps_directory_and_skips_links():
    args = validate_args(COMMANDS["clean_temp_dir"], {"path": "/tmp/hadoop-hdfs/nm-local-dir"}, SCOPE)
    assert COMMANDS["clean_temp_dir"].build(args) == [
        ["find", "-P", "/tmp/hadoop-hdfs/nm-local-dir", "-xdev", "-mindepth", "1", "-delete"]
    ]


@pytest.mark.parametrize(
    "daemon, tool", [("namenode", "hdfs"), ("zkfc", "hdfs"), ("resourcemanager", "yarn"), ("historyserver", "mapred")]
)
def test_restart_daemon_stops_then_starts(daemon, tool):
    args = validate_args(COMMANDS["restart_daemon"], {"daemon": daemon}, SCOPE)
    assert COMMANDS["restart_daemon"].build(args) == [
        [tool, "--daemon", "stop", daemon],
        [tool, "--daemon", "start", daemon],
    ]


@pytest.mark.parametrize(
    "daemon", ["HistoryServer", "historyserver ", "historyserver;id", "jobhistoryserver", "timelinereader", "", 1]
)
def test_restart_daemon_rejects_unlisted_names(daemon):
    with pytest.raises(ValidationError) as raised:
        validate_args(COMMANDS["restart_daemon"], {"daemon": daemon}, SCOPE)
    assert {error["loc"][0] for error in raised.value.errors()} == {"daemon"}


@pytest.mark.parametrize(
    "principal, category, allowed",
    [
        (OBSERVER, Category.LOG_VIEW, True),
        (OBSERVER, Category.READ_ONLY, False),
        (OBSERVER, Category.SERVICE_CONTROL, False),
        (OPERATOR, Category.READ_ONLY, True),
        (OPERATOR, Category.SERVICE_CONTROL, False),
        (OPERATOR, Category.MAINTENANCE, False),
        (ADMIN, Category.SERVICE_CONTROL, True),
        (ADMIN, Category.MAINTENANCE, True),
    ],
)
def test_authorize_by_role(principal, category, allowed):
    spec = next(spec for spec in COMMANDS.values() if spec.category == category)
    assert authorize(spec, principal, actor="user").allowed is allowed


@pytest.mark.parametrize(
    "principal, actor, override, safe, allowed",
    [
        (SYSTEM_AI_PRINCIPAL, "ai", "auto_repair", True, True),
        (SYSTEM_AI_PRINCIPAL, "ai", "auto_repair", False, False),
        (SYSTEM_AI_PRINCIPAL, "ai", None, True, False),
        (SYSTEM_AI_PRINCIPAL, "user", "auto_repair", True, False),
        (OPERATOR, "ai", "auto_repair", True, False),
    ],
)
def test_authorize_unattended_repair(principal, actor, override, safe, allowed):
    decision = authorize(COMMANDS["restart_daemon"], principal, actor=actor, policy_override=override, safe_action=safe)
    assert decision.allowed is allowed
    assert decision.needs_auto_policy is allowed


def test_log_view_commands_have_no_free_text_spelling():
    assert [spec.id for spec in COMMANDS.values() if spec.category == Category.LOG_VIEW and spec.usages] == []


@pytest.mark.parametrize("name", ["demo-nn1", "node1.example.com", "a", "1host"])
def test_check_node_name_accepts(name):
    assert check_node_name(name) == name


@pytest.mark.parametrize("name", ["-rf", "a;b", "a b", "a\n", "a_b", "a..b", "", "a" * 64, "$(id)"])
def test_check_node_name_rejects(name):
    with pytest.raises(PydanticCustomError):
        check_node_name(name)


@pytest.mark.parametrize("log_type", ["NameNode", "1abc", "a;b", "a" * 42, "namenode\n", "-x", ""])
def test_check_log_type_rejects(log_type):
    with pytest.raises(PydanticCustomError):
        check_log_type(log_type)


@pytest.mark.parametrize(
    "pattern",
    ["ERROR", "(?i)no space left", r"(\d{1,3}\.){3}\d{1,3}", "Exception.*at", "^2026-.* (WARN|ERROR) ", "a{1,9}b"],
)
def test_check_pattern_accepts(pattern):
    assert check_pattern(pattern) == pattern


@pytest.mark.parametrize(
    "pattern, code",
    [
        ("(a+)+$", "pattern_nested_quantifier"),
        ("(a*)*b", "pattern_nested_quantifier"),
        ("(a+){2,}", "pattern_nested_quantifier"),
        ("((ab)*c)+", "pattern_nested_quantifier"),
        ("(a|aa)+", "pattern_nested_quantifier"),
        ("(?:x|y.)*z", "pattern_nested_quantifier"),
        ("(a{1,100}){1,100}", "pattern_nested_quantifier"),
        (r"(a)\1", "pattern_backreference"),
        (r"(?P<x>a)(?P=x)", "pattern_backreference"),
        ("(a)?(?(1)b|c)", "pattern_backreference"),
        ("a*b*c*d*e*", "pattern_too_complex"),
        ("(", "pattern_invalid"),
        ("a\x00", "pattern_invalid"),
        ("x" * 257, "pattern_too_long"),
    ],
)
def test_check_pattern_rejects(pattern, code):
    with pytest.raises(PydanticCustomError) as raised:
        check_pattern(pattern)
    assert raised.value.type == code


def test_filter_lines_without_repeats_runs_in_process():
    lines = ["2026 ERROR x", "2026 INFO y", "error z"]
    assert asyncio.run(filter_lines("ERROR", lines, budget=1.0)) == ["2026 ERROR x"]


def test_filter_lines_with_repeats_matches_in_child():
    lines = ["java.io.IOException: No space left", "INFO fine"]
    assert asyncio.run(filter_lines(r"Exception:\s+No\s+space", lines, budget=5.0)) == [lines[0]]


def test_filter_lines_stops_slow_pattern_at_budget():
    # Four unbounded repeats pass the static check. On 3000 'a's without a 'b', the search
    # backtracks for far longer than the budget, so the child is killed.
    started = time.monotonic()
    with pytest.raises(PatternTimeout):
        asyncio.run(filter_lines("a*a*a*a*b", ["a" * 3000] * 10, budget=0.5))
    assert time.monotonic() - started < 3.0


def test_keep_tail_bytes_cuts_at_line_start():
    from services.collector.ops_logs import keep_tail_bytes

    text = "\n".join(f"line {number:04d} " + "x" * 50 for number in range(1000))
    kept, truncated = keep_tail_bytes(text, 4096)

    assert truncated is True
    assert len(kept.encode()) <= 4096
    assert kept.startswith("line ")
    assert kept.endswith(text.rsplit("\n", 1)[1])


def test_keep_tail_bytes_leaves_short_text():
    from services.collector.ops_logs import keep_tail_bytes

    assert keep_tail_bytes("a\nb", 10) == ("a\nb", False)
