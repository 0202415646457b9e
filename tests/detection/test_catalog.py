"""Tests of the fault catalog: completeness, texts, validation errors and operator extension."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.common.catalog import CATALOG_DIR_ENV, Catalog, CatalogError, catalog_dir_from_env, load_catalog

# The kinds the platform reports in; their names are fixed.
TAXONOMY = {
    "cluster_id_mismatch", "namenode_safe_mode", "storage_not_formatted", "metadata_load_failure", "port_in_use",
    "host_resolution_failure", "namenode_unreachable", "resourcemanager_unreachable", "network_unreachable",
    "node_lost", "no_datanodes_available", "disk_full", "disk_failure", "storage_locked",
    "blocks_missing_or_corrupt", "under_replicated", "permission_denied", "kerberos_failure",
    "security_misconfiguration", "config_error", "start_script_ssh_failure", "java_home_not_set",
    "out_of_memory", "container_memory_exceeded", "too_many_open_files", "xceiver_limit_exceeded",
    "long_gc_pause", "zookeeper_session_lost", "journal_quorum_failure", "ha_failover_failure",
    "daemon_exited", "task_failure", "unknown_error", "node_unreachable", "resource_pressure",
}
WITHOUT_PATTERNS = {"unknown_error", "node_unreachable", "resource_pressure", "error_burst"}

NEW_KIND_YAML = """
kinds:
  - kind: hbase_region_server_aborted
    severity: error
    daemons: [regionserver]
    priority: 70
    title: {zh: RegionServer 中止, en: RegionServer aborted}
    description: {zh: RegionServer 因致命错误中止。, en: The RegionServer aborted after a fatal error.}
    patterns: ['ABORTING region server']
    playbook:
      causes: [{zh: 与 ZooKeeper 的会话过期。, en: Its ZooKeeper session expired.}]
      checks: [{zh: 查看 RegionServer 日志。, en: Read the RegionServer log.}]
      steps: [{zh: 重启 RegionServer。, en: Restart the RegionServer.}]
      actions:
        - {action: restart_daemon, safe: false, params: {daemon: regionserver}}
"""


def test_catalog_has_every_taxonomy_kind(catalog: Catalog) -> None:
    missing = TAXONOMY - set(catalog.kinds)
    assert not missing, f"kinds missing from the catalog: {sorted(missing)}"


def test_catalog_kinds_have_patterns_unless_derived(catalog: Catalog) -> None:
    for kind in catalog:
        if kind.kind in WITHOUT_PATTERNS:
            assert not kind.patterns, kind.kind
        else:
            assert kind.patterns, f"{kind.kind} has no patterns"


def test_catalog_texts_are_bilingual(catalog: Catalog) -> None:
    for kind in catalog:
        texts = [kind.title, kind.description, *kind.playbook.causes, *kind.playbook.checks, *kind.playbook.steps]
        for text in texts:
            assert any("\u4e00" <= char <= "\u9fff" for char in text.zh), f"{kind.kind}: zh text lacks Chinese"
            assert text.en.isascii(), f"{kind.kind}: en text is not plain English: {text.en!r}"


def test_catalog_has_zh_locale_signatures(catalog: Catalog) -> None:
    # A refused connection ("拒绝连接") is classified by the port it targets, whatever the OS
    # language, so it has no wording of its own here (test_signatures covers it).
    regexes = " ".join(spec.regex for kind in catalog for spec in kind.patterns)
    for wording in ("无法指定被请求的地址", "没有到主机的路由", "设备上没有空间", "打开的文件过多", "连接被对方重"):
        assert wording in regexes, wording


def test_catalog_dir_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CATALOG_DIR_ENV, str(tmp_path))
    assert catalog_dir_from_env() == tmp_path
    monkeypatch.setenv(CATALOG_DIR_ENV, "")
    assert catalog_dir_from_env() is None


def test_load_catalog_extra_dir_adds_kind(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(NEW_KIND_YAML, encoding="utf-8")
    extended = load_catalog(tmp_path)
    assert "hbase_region_server_aborted" in extended
    assert extended.get("hbase_region_server_aborted").title.en == "RegionServer aborted"
    assert tmp_path / "site.yaml" in extended.files


def test_load_catalog_extra_dir_extends_kind(tmp_path: Path, catalog: Catalog) -> None:
    (tmp_path / "more.yml").write_text(
        "kinds:\n  - kind: disk_full\n    patterns: ['Quota of local scratch exhausted']\n", encoding="utf-8"
    )
    extended = load_catalog(tmp_path)
    regexes = [spec.regex for spec in extended.get("disk_full").patterns]
    assert regexes[-1] == "Quota of local scratch exhausted"
    assert len(regexes) == len(catalog.get("disk_full").patterns) + 1


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("kinds: [{kind: disk_full, patterns: ['([unclosed']}]", "invalid regular expression"),
        (NEW_KIND_YAML.replace("severity: error", "severity: fatal"), "field severity"),
        (NEW_KIND_YAML.replace("en: RegionServer aborted}", "en: ''}"), "field title.en"),
        (NEW_KIND_YAML.replace("{daemon: regionserver}", "{}"), "missing params"),
        (NEW_KIND_YAML.replace("restart_daemon", "reboot_machine"), "field playbook.actions.0.action"),
        ("kinds: [{kind: disk_full, severity: error}]", "kind already defined"),
        ("kinds: [{kind: no_such_kind, patterns: ['x']}]", "extends a kind that is not defined"),
        ("kinds: {disk_full: {}}", "expected a mapping with one key"),
        ("kinds: [\n  - kind: [", "invalid YAML"),
        (NEW_KIND_YAML.replace("patterns: ['ABORTING region server']",
                               "patterns: ['ABORTING region server']\n    also_report: [nope]"), "also_report"),
    ],
)
def test_load_catalog_rejects_invalid_file(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(CatalogError) as error:
        load_catalog(tmp_path)
    assert expected in str(error.value)
    if "also_report" not in expected:
        assert str(path) in str(error.value)


def test_load_catalog_error_names_kind(tmp_path: Path) -> None:
    (tmp_path / "k.yaml").write_text(NEW_KIND_YAML.replace("priority: 70", "priority: high"), encoding="utf-8")
    with pytest.raises(CatalogError, match="kind 'hbase_region_server_aborted'.*field priority"):
        load_catalog(tmp_path)


def test_load_catalog_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "absent")


def test_catalog_get_unknown_kind(catalog: Catalog) -> None:
    with pytest.raises(KeyError, match="no_such_kind"):
        catalog.get("no_such_kind")
