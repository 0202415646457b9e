"""Fault scenarios: what they write, and how simulated repairs end them."""

import pytest

from hfd.democluster.cluster import DemoCluster
from hfd.democluster.faults import SCENARIOS
from libs.common.logformat import iter_records
from tests.democluster.helpers import fast_config, read_text, run, wait_for

# scenario, node, log the signature appears in, signature, whether a stack trace follows
SIGNATURES = [
    ("disk_full", "demo-dn1", "datanode", "java.io.IOException: No space left on device", True),
    ("safe_mode", "demo-nn1", "namenode", "STATE* Safe mode is ON.", False),
    ("namenode_unreachable", "demo-dn1", "datanode", "Retrying connect to server: demo-nn1/127.0.0.2:8020", False),
    ("container_memory", "demo-dn1", "nodemanager", "beyond the 'PHYSICAL' memory limit", False),
    ("out_of_memory", "demo-dn1", "nodemanager", "java.lang.OutOfMemoryError: Java heap space", True),
    ("too_many_open_files", "demo-dn2", "datanode", "java.io.IOException: Too many open files", True),
    ("incompatible_cluster_ids", "demo-dn2", "datanode", "java.io.IOException: Incompatible clusterIDs", True),
    ("jvm_pause", "demo-nn1", "namenode", "Detected pause in JVM or host machine (eg GC): pause of", False),
]


def test_signature_table_covers_every_scenario():
    assert {row[0] for row in SIGNATURES} == set(SCENARIOS)


@pytest.mark.parametrize(("scenario", "node", "log_type", "signature", "has_stack"), SIGNATURES)
async def test_injected_fault_written_to_log(cluster, scenario, node, log_type, signature, has_stack):
    fault = cluster.inject_fault(node, scenario)

    path = cluster.log_path(node, log_type)
    records = [record for record in iter_records(read_text(path).splitlines(), str(path)) if signature in record.text]
    assert records, f"{signature!r} not in {path}"
    if has_stack:
        assert any("\n\tat " in record.text for record in records)
    assert cluster.node_state(node)["faults"][scenario]["daemon"] == fault["daemon"]


async def test_restart_writes_banners_clears_fault(cluster):
    cluster.inject_fault("demo-dn1", "too_many_open_files")
    path = cluster.log_path("demo-dn1", "datanode")

    result = await run(cluster.manifest, "demo-dn1", "hdfs --daemon stop datanode && hdfs --daemon start datanode")

    assert result.exit_status == 0
    assert await wait_for(lambda: "too_many_open_files" not in cluster.node_state("demo-dn1")["faults"])
    text = read_text(path)
    after_fault = text[text.rindex("Too many open files"):]
    assert "SHUTDOWN_MSG: Shutting down DataNode at demo-dn1/127.0.0.3" in after_fault
    assert after_fault.index("SHUTDOWN_MSG") < after_fault.index("STARTUP_MSG: Starting DataNode")
    history = cluster.node_state("demo-dn1")["fault_history"]
    assert history[-1]["scenario"] == "too_many_open_files"
    assert history[-1]["cleared_by"] == "restart"


async def test_hadoop_daemon_sh_restart_clears_oom(cluster):
    cluster.inject_fault("demo-dn1", "out_of_memory")
    jps_before = await run(cluster.manifest, "demo-dn1", "jps")
    assert "NodeManager" not in jps_before.stdout

    result = await run(cluster.manifest, "demo-dn1", "yarn-daemon.sh start nodemanager")

    assert result.exit_status == 0
    assert "deprecated" in result.stderr
    assert await wait_for(lambda: "out_of_memory" not in cluster.node_state("demo-dn1")["faults"])
    jps_after = await run(cluster.manifest, "demo-dn1", "jps")
    assert "NodeManager" in jps_after.stdout


async def test_start_running_daemon_fails(cluster):
    result = await run(cluster.manifest, "demo-dn1", "hdfs --daemon start datanode")

    assert result.exit_status == 1
    assert "datanode is running as process" in result.stderr


async def test_start_daemon_not_on_node_fails(cluster):
    result = await run(cluster.manifest, "demo-dn1", "hdfs --daemon start namenode")

    assert result.exit_status == 1
    assert "not configured on demo-dn1" in result.stderr


async def test_safemode_leave_ends_safe_mode_fault(cluster):
    cluster.inject_fault("demo-nn1", "safe_mode")
    get = await run(cluster.manifest, "demo-dn1", "hdfs dfsadmin -safemode get")
    assert get.stdout == "Safe mode is ON\n"

    leave = await run(cluster.manifest, "demo-nn1", "hdfs dfsadmin -safemode leave")

    assert leave.stdout == "Safe mode is OFF\n"
    assert await wait_for(lambda: "safe_mode" not in cluster.node_state("demo-nn1")["faults"])
    assert await wait_for(lambda: "STATE* Safe mode is OFF" in read_text(cluster.log_path("demo-nn1", "namenode")))


async def test_safe_mode_rejects_writes_in_logs(cluster):
    cluster.inject_fault("demo-nn1", "safe_mode")
    namenode = cluster.log_path("demo-nn1", "namenode")
    nodemanager = cluster.log_path("demo-dn1", "nodemanager")

    assert await wait_for(lambda: "SafeModeException: Cannot create file" in read_text(namenode), timeout=5)
    remote_exception = "RemoteException(org.apache.hadoop.hdfs.server.namenode.SafeModeException)"
    assert await wait_for(lambda: remote_exception in read_text(nodemanager), timeout=8)


async def test_temp_dir_cleanup_ends_disk_full(cluster):
    fault = cluster.inject_fault("demo-dn1", "disk_full")
    temp_dir = cluster.manifest.node("demo-dn1").temp_dir
    df_full = await run(cluster.manifest, "demo-dn1", "df -P .")
    assert df_full.stdout.splitlines()[1].split()[4] == "100%"
    assert fault["details"]["filler_files"]

    await run(cluster.manifest, "demo-dn1", f"rm -rf {temp_dir}/mapred")

    assert await wait_for(lambda: "disk_full" not in cluster.node_state("demo-dn1")["faults"])
    df_after = await run(cluster.manifest, "demo-dn1", "df -P .")
    assert df_after.stdout.splitlines()[1].split()[4] != "100%"
    nodemanager = read_text(cluster.log_path("demo-dn1", "nodemanager"))
    assert "passed disk check, adding to list of valid directories" in nodemanager


async def test_cluster_id_fault_needs_storage_fix(cluster):
    cluster.inject_fault("demo-dn1", "incompatible_cluster_ids")
    version = cluster.manifest.node("demo-dn1").home / "data" / "dfs" / "data" / "current" / "VERSION"
    path = cluster.log_path("demo-dn1", "datanode")

    await run(cluster.manifest, "demo-dn1", "hdfs --daemon start datanode")
    assert await wait_for(lambda: read_text(path).count("Incompatible clusterIDs") == 2)
    assert "incompatible_cluster_ids" in cluster.node_state("demo-dn1")["faults"]
    assert not cluster.node_state("demo-dn1")["daemons"]["datanode"]["running"]

    await run(cluster.manifest, "demo-dn1", f"rm {version} && hdfs --daemon start datanode")

    assert await wait_for(lambda: "incompatible_cluster_ids" not in cluster.node_state("demo-dn1")["faults"])
    assert cluster.node_state("demo-dn1")["daemons"]["datanode"]["running"]
    assert version.exists()


async def test_stopped_namenode_makes_datanodes_retry(cluster):
    await run(cluster.manifest, "demo-nn1", "hdfs --daemon stop namenode")
    datanode = cluster.log_path("demo-dn2", "datanode")

    assert await wait_for(lambda: "Retrying connect to server: demo-nn1/127.0.0.2:8020" in read_text(datanode))
    report = await run(cluster.manifest, "demo-dn1", "hdfs dfsadmin -report")
    assert report.exit_status == 255
    assert "java.net.ConnectException: Connection refused" in report.stderr
    assert "SHUTDOWN_MSG: Shutting down NameNode" in read_text(cluster.log_path("demo-nn1", "namenode"))


async def test_inject_rejects_wrong_targets(cluster):
    with pytest.raises(KeyError):
        cluster.inject_fault("demo-dn1", "no_such_fault")
    with pytest.raises(KeyError):
        cluster.inject_fault("demo-dn9", "disk_full")
    with pytest.raises(ValueError, match="does not run"):
        cluster.inject_fault("demo-nn1", "disk_full")

    cluster.inject_fault("demo-dn1", "disk_full")
    with pytest.raises(ValueError, match="already active"):
        cluster.inject_fault("demo-dn1", "disk_full")


async def test_expiring_fault_clears_itself(cluster):
    scenario = SCENARIOS["jvm_pause"]
    cluster.inject_fault("demo-dn1", "jvm_pause")

    def age_fault(state: dict) -> dict:
        state["faults"]["jvm_pause"]["since_epoch"] -= scenario.duration
        return state

    cluster.runtime("demo-dn1").store.update(age_fault)

    assert await wait_for(lambda: "jvm_pause" not in cluster.node_state("demo-dn1")["faults"])
    assert cluster.node_state("demo-dn1")["fault_history"][-1]["cleared_by"] == "expiry"


async def test_fault_schedule_respects_cap(tmp_path):
    demo = DemoCluster(fast_config(tmp_path / "cluster", fault_interval=0.1, max_active_faults=2))
    await demo.start()
    try:
        def active() -> int:
            return sum(len(demo.node_state(node.name)["faults"]) for node in demo.manifest.nodes)

        assert await wait_for(lambda: active() == 2, timeout=5)
        await wait_for(lambda: False, timeout=0.5)
        assert active() == 2
    finally:
        await demo.stop()
