"""The cluster manifest and the files it points to."""

import stat

import asyncssh
import pytest

from hfd.democluster.manifest import load_manifest


async def test_manifest_describes_nodes(cluster):
    manifest = load_manifest(cluster.layout.manifest_path)

    assert manifest.name == "demo"
    assert manifest.mode == "generated"
    assert [node.name for node in manifest.nodes] == ["demo-nn1", "demo-dn1", "demo-dn2"]
    assert [node.address for node in manifest.nodes] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert manifest.node("demo-nn1").roles == ["namenode", "resourcemanager", "historyserver"]
    assert manifest.node("demo-dn2").roles == ["datanode", "nodemanager"]
    for node in manifest.nodes:
        assert node.ssh_user == "hadoop"
        assert node.log_dirs[0].is_dir()
        assert node.temp_dir.is_dir()
        assert node.port == cluster.servers[node.name].port


async def test_manifest_loads_from_folder(cluster):
    assert load_manifest(cluster.layout.root) == load_manifest(cluster.layout.manifest_path)


def test_manifest_missing_names_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="hfd demo-cluster"):
        load_manifest(tmp_path)


async def test_host_keys_match_known_hosts_file(cluster):
    manifest = cluster.manifest
    known_hosts = manifest.known_hosts_path.read_text()

    for node in manifest.nodes:
        served = cluster.servers[node.name].host_key
        assert node.host_public_key.split()[:2] == served.export_public_key().decode().split()[:2]
        assert node.known_hosts_line == f"[{node.address}]:{node.port} {node.host_public_key}"
        assert node.known_hosts_line in known_hosts.splitlines()
        trusted, _, _, _, _, _, _ = asyncssh.match_known_hosts(
            str(manifest.known_hosts_path), node.address, node.address, node.port
        )
        assert {key.public_data for key in trusted} == {served.public_data}


async def test_client_key_is_private_file(cluster):
    key_path = cluster.manifest.nodes[0].private_key_path

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert asyncssh.read_private_key(key_path).algorithm == b"ssh-ed25519"
    assert all(node.private_key_path == key_path for node in cluster.manifest.nodes)
