"""SSH behaviour of demo nodes: exec, streams, exit statuses, SFTP and authentication."""

import asyncssh
import pytest

from hfd.democluster.cluster import DemoCluster
from tests.democluster.helpers import connect, fast_config, read_text, run, wait_for

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
    assert master_names == {"NameNode", "ResourceManager", "JobHistoryServer", "Jps"}
    assert worker_names == {"DataNode", "NodeManager", "Jps"}


async def test_mapred_daemon_restarts_history_server(cluster):
    path = cluster.log_path("demo-nn1", "historyserver")

    stopped = await run(cluster.manifest, "demo-nn1", "mapred --daemon stop historyserver")
    status = await run(cluster.manifest, "demo-nn1", "mapred --daemon status historyserver")
    jps_stopped = await run(cluster.manifest, "demo-nn1", "jps")
    started = await run(cluster.manifest, "demo-nn1", "mapred --daemon start historyserver")
    jps_started = await run(cluster.manifest, "demo-nn1", "jps")

    assert stopped.exit_status == 0, stopped.stderr
    assert (status.exit_status, status.stdout) == (3, "historyserver is stopped.\n")
    assert "JobHistoryServer" not in jps_stopped.stdout
    assert started.exit_status == 0, started.stderr
    assert "JobHistoryServer" in jps_started.stdout
    assert cluster.node_state("demo-nn1")["daemons"]["historyserver"]["generation"] == 2
    shutdown = "SHUTDOWN_MSG: Shutting down JobHistoryServer at demo-nn1/127.0.0.2"
    assert await wait_for(lambda: read_text(path).count("STARTUP_MSG: Starting JobHistoryServer") == 2)
    text = read_text(path)
    assert text.index(shutdown) < text.rindex("STARTUP_MSG: Starting JobHistoryServer")


async def test_mapred_daemon_rejects_other_daemons(cluster):
    cases = [
        ("demo-nn1", "yarn --daemon stop historyserver", "not a yarn daemon; use mapred --daemon stop historyserver"),
        ("demo-nn1", "mapred --daemon stop namenode", "not a mapred daemon; use hdfs --daemon stop namenode"),
        ("demo-nn1", "mapred --daemon start", "needs a daemon name, e.g. mapred --daemon start historyserver"),
        ("demo-dn1", "mapred --daemon start historyserver", "historyserver is not configured on demo-dn1"),
    ]
    for node, command, message in cases:
        result = await run(cluster.manifest, node, command)

        assert result.exit_status == 1, command
        assert message in result.stderr, command
    assert cluster.node_state("demo-nn1")["daemons"]["historyserver"]["running"]


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
