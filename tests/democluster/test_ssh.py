"""SSH behaviour of demo nodes: exec, streams, exit statuses, SFTP and authentication."""

import asyncssh
import pytest

from hfd.democluster.cluster import DemoCluster
from tests.democluster.helpers import connect, fast_config, run

ONE_MIB = 1024 * 1024


async def test_exec_echo_on_two_addresses(cluster):
    manifest = cluster.manifest
    for name, address in (("demo-nn1", "127.0.0.2"), ("demo-dn1", "127.0.0.3")):
        node = manifest.node(name)
        assert node.address == address

        result = await run(manifest, name, "echo hello from $(hostname)")
        assert result.exit_status == 0
        assert result.stdout == f"hello from {name}\n"
        assert result.stderr == ""


async def test_exec_runs_in_home_with_simulated_path(cluster):
    node = cluster.manifest.node("demo-dn1")

    result = await run(cluster.manifest, "demo-dn1", "pwd; command -v hdfs; echo $HADOOP_LOG_DIR")

    pwd, hdfs_path, log_dir = result.stdout.splitlines()
    assert pwd == str(node.home)
    assert hdfs_path == str(node.home / "hadoop" / "bin" / "hdfs")
    assert log_dir == str(node.log_dirs[0])


async def test_exec_exit_status_and_stderr(cluster):
    result = await run(cluster.manifest, "demo-dn1", "echo oops >&2; exit 3")

    assert result.exit_status == 3
    assert result.stderr == "oops\n"
    assert result.stdout == ""


async def test_exec_reports_terminating_signal(cluster):
    result = await run(cluster.manifest, "demo-dn1", "kill -TERM $$")

    assert result.exit_signal is not None
    assert result.exit_signal[0] == "TERM"


async def test_exec_proc_files_and_df(cluster):
    manifest = cluster.manifest

    meminfo = await run(manifest, "demo-dn1", "cat /proc/meminfo")
    stat = await run(manifest, "demo-dn1", "cat /proc/stat")
    df = await run(manifest, "demo-dn1", "df -P")

    assert meminfo.exit_status == 0
    assert meminfo.stdout.startswith("MemTotal:")
    assert stat.stdout.startswith("cpu ")
    assert df.exit_status == 0
    assert df.stdout.splitlines()[0].split()[:2] == ["Filesystem", "1024-blocks"]


async def test_exec_large_outputs_arrive_whole(cluster):
    command = (
        f"head -c {ONE_MIB} /dev/zero | tr '\\0' o & "
        f"head -c {ONE_MIB} /dev/zero | tr '\\0' e >&2; wait"
    )
    async with connect(cluster.manifest, "demo-dn1") as conn:
        result = await conn.run(command, encoding=None)

    assert result.exit_status == 0
    assert len(result.stdout) == ONE_MIB
    assert set(result.stdout) == {ord("o")}
    assert len(result.stderr) == ONE_MIB


async def test_exec_forwards_stdin(cluster):
    payload = "x" * 200_000
    async with connect(cluster.manifest, "demo-dn1") as conn:
        result = await conn.run("wc -c", input=payload)

    assert result.stdout.strip() == str(len(payload))


async def test_jps_lists_running_daemons(cluster):
    master = await run(cluster.manifest, "demo-nn1", "jps")
    worker = await run(cluster.manifest, "demo-dn1", "jps")

    master_names = {line.split()[1] for line in master.stdout.splitlines()}
    worker_names = {line.split()[1] for line in worker.stdout.splitlines()}
    assert master_names == {"NameNode", "ResourceManager", "Jps"}
    assert worker_names == {"DataNode", "NodeManager", "Jps"}


async def test_safemode_get_from_worker(cluster):
    result = await run(cluster.manifest, "demo-dn1", "hdfs dfsadmin -safemode get")

    assert result.exit_status == 0
    assert result.stdout == "Safe mode is OFF\n"


async def test_dfsadmin_report_lists_live_datanodes(cluster):
    result = await run(cluster.manifest, "demo-nn1", "hdfs dfsadmin -report")

    assert result.exit_status == 0
    assert "Live datanodes (2):" in result.stdout
    assert "Hostname: demo-dn1" in result.stdout
    assert "Dead datanodes" not in result.stdout


async def test_yarn_node_list(cluster):
    result = await run(cluster.manifest, "demo-dn2", "yarn node -list")

    assert result.exit_status == 0
    assert result.stdout.startswith("Total Nodes:2\n")
    assert "Connecting to ResourceManager at demo-nn1/127.0.0.2:8032" in result.stderr


async def test_sftp_reads_log_file(cluster):
    node = cluster.manifest.node("demo-dn1")
    log_path = node.log_dirs[0] / "hadoop-hadoop-datanode-demo-dn1.log"

    async with connect(cluster.manifest, "demo-dn1") as conn, conn.start_sftp_client() as sftp:
        names = await sftp.listdir(str(node.log_dirs[0]))
        home = await sftp.realpath(".")
        async with sftp.open(str(log_path), "rb") as remote:
            head = await remote.read(4096)

    assert "hadoop-hadoop-datanode-demo-dn1.log" in names
    assert home == str(node.home)
    assert head.startswith(b"20")
    assert b"STARTUP_MSG: Starting DataNode" in head


async def test_wrong_client_key_rejected(cluster):
    stranger = asyncssh.generate_private_key("ssh-ed25519")

    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(cluster.manifest, "demo-dn1", client_keys=[stranger]):
            pass


async def test_wrong_user_rejected(cluster):
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(cluster.manifest, "demo-dn1", username="root"):
            pass


async def test_host_key_checked_against_known_hosts(cluster):
    other = asyncssh.generate_private_key("ssh-ed25519")
    node = cluster.manifest.node("demo-dn1")
    wrong_known_hosts = asyncssh.import_known_hosts(
        f"[{node.address}]:{node.port} {other.export_public_key().decode()}"
    )

    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with connect(cluster.manifest, "demo-dn1", known_hosts=wrong_known_hosts):
            pass


async def test_password_node_accepts_only_its_password(tmp_path):
    demo = DemoCluster(fast_config(tmp_path / "cluster", nodes=2, password_nodes=["demo-dn1"]))
    await demo.start()
    try:
        node = demo.manifest.node("demo-dn1")
        assert node.password
        assert demo.manifest.node("demo-nn1").password is None

        async with connect(demo.manifest, "demo-dn1", client_keys=None, password=node.password) as conn:
            result = await conn.run("echo in")
        assert result.stdout == "in\n"

        with pytest.raises(asyncssh.PermissionDenied):
            async with connect(demo.manifest, "demo-dn1", client_keys=None, password=node.password + "x"):
                pass
    finally:
        await demo.stop()


async def test_restart_keeps_host_keys_and_password(tmp_path):
    config = fast_config(tmp_path / "cluster", nodes=2, password_nodes=["demo-dn1"])
    first = DemoCluster(config)
    await first.start()
    keys_before = {node.name: node.host_public_key for node in first.manifest.nodes}
    password_before = first.manifest.node("demo-dn1").password
    await first.stop()

    second = DemoCluster(config)
    await second.start()
    try:
        keys_after = {node.name: node.host_public_key for node in second.manifest.nodes}
        assert keys_after == keys_before
        assert second.manifest.node("demo-dn1").password == password_before

        result = await run(second.manifest, "demo-nn1", "echo again")
        assert result.stdout == "again\n"
    finally:
        await second.stop()
