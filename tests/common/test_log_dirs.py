"""The log folder rule of libs.common.log_dirs: the folders it accepts, rejects and how it names them."""

import pytest
from pydantic_core import PydanticCustomError

from libs.common.i18n import message
from libs.common.log_dirs import (
    SYSTEM_TREE_PARENTS,
    SYSTEM_TREES,
    allowed_log_dirs,
    check_log_dir,
    is_forbidden_log_dir,
)

# Where Hadoop writes its logs in the usual installations, and the demo's folders under /tmp.
HADOOP_FOLDERS = [
    "/var/log/hadoop",
    "/var/log/hadoop-hdfs",
    "/var/log/hadoop-yarn/containers",
    "/var/log",
    "/opt/hadoop/logs",
    "/opt/hadoop-3.3.6/logs",
    "/usr/local/hadoop/logs",
    "/usr/local/hadoop-2.10.2/logs",
    "/usr/share/hadoop/logs",
    "/home/hadoop/hadoop/logs",
    "/home/hdfs/hadoop-3.3.6/logs",
    "/data/hadoop/logs",
    "/data1/yarn/logs",
    "/srv/hadoop/logs",
    "/tmp/hfd-demo/nodes/demo-nn1/logs",
    "/tmp/pytest-of-ci/pytest-7/logs0",
    "/var/tmp/hfd-demo/demo-cluster/nodes/demo-dn1/logs",
    "/mnt/disk1/hadoop/logs",
]

FORBIDDEN_FOLDERS = [
    "/",
    "/etc",
    "/etc/hadoop",
    "/etc/hadoop/conf",
    "/proc",
    "/proc/self",
    "/sys/kernel",
    "/dev/shm",
    "/boot",
    "/root",
    "/root/hadoop/logs",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/libx32",
    "/usr",
    "/usr/bin",
    "/usr/lib/hadoop",
    "/usr/local",
    "/usr/local/sbin",
    "/run",
    "/run/user/1000",
    "/var",
    "/var/run",
    "/var/lib",
    "/var/lib/hadoop-hdfs",
    "/var/spool/cron",
    "/var/mail",
    "/var/backups",
    "/home",
    "/home/hadoop",
    "/home/hadoop/.ssh",
    "/opt/hadoop/.aws",
    "/tmp",
    "/var/tmp",
]


@pytest.mark.parametrize("folder", HADOOP_FOLDERS)
def test_check_log_dir_accepts_hadoop_folder(folder):
    assert check_log_dir(folder) == folder


@pytest.mark.parametrize("folder", FORBIDDEN_FOLDERS)
def test_check_log_dir_rejects_system_folder(folder):
    with pytest.raises(PydanticCustomError) as raised:
        check_log_dir(folder)
    assert raised.value.type == "forbidden_log_dir"


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("/var/log/hadoop/", "/var/log/hadoop"),
        ("//var//log/hadoop", "/var/log/hadoop"),
        ("/var/./log/hadoop", "/var/log/hadoop"),
    ],
)
def test_check_log_dir_returns_normal_form(value, normal):
    assert check_log_dir(value) == normal


@pytest.mark.parametrize("value", ["//etc", "/./etc", "/etc/", "//", "/usr/./bin", "/var//lib/x"])
def test_check_log_dir_normalises_before_rule(value):
    with pytest.raises(PydanticCustomError) as raised:
        check_log_dir(value)
    assert raised.value.type == "forbidden_log_dir"


@pytest.mark.parametrize(
    "value",
    ["relative/logs", "/var/log/../../etc", "/var/log/$(id)", "/var/log;rm", "/var/log%2e", "/a b", "/a\x00b", ""],
)
def test_check_log_dir_rejects_bad_syntax(value):
    with pytest.raises(PydanticCustomError) as raised:
        check_log_dir(value)
    assert raised.value.type == "invalid_log_dir"


def test_check_log_dir_rejects_overlong_path():
    with pytest.raises(PydanticCustomError) as raised:
        check_log_dir("/" + "a" * 1024)
    assert raised.value.type == "invalid_log_dir"


def test_system_tree_parents_are_the_ancestors():
    assert SYSTEM_TREE_PARENTS == ("/", "/usr", "/usr/local", "/var")


def test_is_forbidden_log_dir_sibling_of_tree_allowed():
    assert not is_forbidden_log_dir("/usr/libx")
    assert not is_forbidden_log_dir("/var/runner")
    assert not is_forbidden_log_dir("/etcetera")


def test_allowed_log_dirs_splits_and_normalises():
    allowed, rejected = allowed_log_dirs(["/var/log/hadoop/", "/etc", "/var/log/hadoop", "bad", "/data/logs"])

    assert allowed == ["/var/log/hadoop", "/data/logs"]
    assert rejected == ["/etc", "bad"]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("tree", SYSTEM_TREES)
def test_forbidden_message_names_tree(lang, tree):
    assert tree in message("forbidden_log_dir", lang)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_forbidden_message_names_allowed_examples(lang):
    text = message("forbidden_log_dir", lang)
    assert "/var/log/hadoop" in text
    assert "/opt/hadoop/logs" in text
