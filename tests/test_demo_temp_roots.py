"""The temp roots that ``hfd demo`` sets: clean_temp_dir must reach each demo node's temp dir."""

import pytest

from hfd.demo import temp_root_settings
from hfd.democluster.layout import ClusterLayout
from services.ai.config import AiSettings
from services.ai.repairs.actions import CleanTempDir
from services.collector.node_info import NodeInfo, node_scope
from services.collector.ops_settings import OpsSettings


def _demo_node(name: str) -> NodeInfo:
    return NodeInfo(
        node_uuid="00000000-0000-0000-0000-000000000001",
        name=name,
        address="127.0.0.3",
        cluster_uuid="00000000-0000-0000-0000-000000000002",
        cluster_name="demo",
        log_dirs=(),
        ssh_user="hadoop",
    )


def test_temp_roots_reach_node_temp_dir(tmp_path, monkeypatch):
    cluster_dir = tmp_path / "demo-cluster"
    for name, value in temp_root_settings(cluster_dir).items():
        monkeypatch.setenv(name, value)
    expected = str(ClusterLayout(cluster_dir).node("demo-dn1").temp_dir)

    action = CleanTempDir(root="hadoop.tmp.dir").resolve(AiSettings().temp_roots, "demo-dn1", "hadoop")
    scope = node_scope(_demo_node("demo-dn1"), OpsSettings())

    assert action.path == expected
    assert scope.temp_roots == (expected,)


def test_temp_roots_exclude_other_nodes(tmp_path, monkeypatch):
    cluster_dir = tmp_path / "demo-cluster"
    for name, value in temp_root_settings(cluster_dir).items():
        monkeypatch.setenv(name, value)
    other_node_dir = str(ClusterLayout(cluster_dir).node("demo-dn2").temp_dir)
    action = CleanTempDir(root=other_node_dir)

    with pytest.raises(ValueError, match="outside the allowed temp roots"):
        action.resolve(AiSettings().temp_roots, "demo-dn1", "hadoop")
