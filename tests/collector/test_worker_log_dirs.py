"""Log folders of discovered workers: read off the node itself, checked like any other log folder."""

import pytest

from services.collector.logdir_probe import parse_env_file, parse_java_command_lines, parse_variable
from tests.collector.conftest import Bus, collector_env
from tests.collector.test_discovery import call_ok, exec_log_rows, register_master, wait_until
from tests.conftest import start_stack

# --- Parsing what a node prints -------------------------------------------------------------

JAVA_LINE = (
    "/usr/lib/jvm/java-8/bin/java -Dproc_datanode -Dyarn.log.dir=/data/logs/yarn "
    "-Dhadoop.log.dir=/data/logs/hadoop -Dhadoop.log.file=hadoop-hdfs-datanode-w1.log "
    "org.apache.hadoop.hdfs.server.datanode.DataNode"
)


def test_java_lines_give_both_folders():
    assert parse_java_command_lines(JAVA_LINE) == ["/data/logs/yarn", "/data/logs/hadoop"]


def test_java_lines_repeat_folder_once():
    assert parse_java_command_lines(f"{JAVA_LINE}\n{JAVA_LINE}\n") == ["/data/logs/yarn", "/data/logs/hadoop"]


@pytest.mark.parametrize(
    "value",
    ["/var/log/../../etc", "relative/logs", "/var/log/$(reboot)", "/var/log;rm", "/var/log%2e%2e", "/", "/a\x07b"],
)
def test_java_lines_drop_unusable_folder(value):
    assert parse_java_command_lines(f"java -Dhadoop.log.dir={value} Main") == []


def test_java_lines_skip_overlong_line():
    line = f"java -Dhadoop.log.dir=/data/logs -cp {'x' * 70_000} Main"
    assert parse_java_command_lines(line) == []


def test_java_lines_cap_folder_count():
    output = "\n".join(f"java -Dhadoop.log.dir=/logs/{index} Main" for index in range(40))
    assert len(parse_java_command_lines(output)) == 16


def test_env_file_reads_literal_exports():
    output = 'export HADOOP_LOG_DIR="/srv/hadoop/logs"\nYARN_LOG_DIR=/srv/yarn/logs # yarn\n'
    assert parse_env_file(output) == ["/srv/hadoop/logs", "/srv/yarn/logs"]


@pytest.mark.parametrize(
    "line",
    ["export HADOOP_LOG_DIR=${HADOOP_HOME}/logs", "export HADOOP_LOG_DIR=$(cat /etc/x)", "HADOOP_LOG_DIR=../logs"],
)
def test_env_file_skips_non_literal_value(line):
    assert parse_env_file(line) == []


def test_variable_needs_one_line():
    assert parse_variable("/data/logs\n") == "/data/logs"
    assert parse_variable("/data/logs\n/other\n") is None
    assert parse_variable("") is None


# --- Discovery on a demo cluster --------------------------------------------------------------


@pytest.fixture
async def two_node_demo(tmp_path):
    democluster = pytest.importorskip("hfd.democluster")
    config = democluster.DemoClusterConfig(
        cluster_dir=tmp_path / "demo",
        name="cwdirs",
        nodes=2,
        first_address="127.0.0.170",
        lines_per_second=5.0,
        fault_interval=0,
        seed=11,
    )
    cluster = democluster.DemoCluster(config)
    await cluster.start()
    yield cluster
    await cluster.stop()


@pytest.fixture
def worker_stack(infra, tmp_path, two_node_demo):
    env = collector_env(infra, tmp_path, HFD_COLLECTOR_KNOWN_HOSTS=str(two_node_demo.manifest.known_hosts_path))
    stack = start_stack(infra, "inventory", "collector", **env)
    yield stack
    stack.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_discovered_worker_gets_own_log_folder(infra, worker_stack, two_node_demo):
    master = next(node for node in two_node_demo.manifest.nodes if "namenode" in node.roles)
    [worker] = [node for node in two_node_demo.manifest.nodes if node is not master]
    own_folders = [str(folder) for folder in worker.log_dirs]
    assert own_folders != [str(folder) for folder in master.log_dirs]

    async with Bus(infra) as bus:
        cluster_uuid, _ = await register_master(bus, two_node_demo)
        discovered = await call_ok(
            bus, "inventory", "clusters.discover", {"worker_ssh_port": worker.port}, params={"uuid": cluster_uuid}
        )

        async def worker_ref():
            ref = await call_ok(bus, "inventory", "nodes.resolve", {"name": worker.name, "cluster": cluster_uuid})
            return ref if ref["log_dirs"] == own_folders else None

        ref = await wait_until(worker_ref, timeout=60)

        # Demo nodes share this machine's file system, so until the probe ends the worker may also
        # be read from the master's folder. Only records from its own folder show the probe's effect.
        async def worker_batches():
            batches = await bus.log_batches(cluster_uuid)
            return [
                batch
                for _, batch in batches
                if batch.node == worker.name and batch.entries and batch.file.startswith(own_folders[0] + "/")
            ]

        collected = await wait_until(worker_batches)

    assert discovered["added"] == [worker.name]
    assert ref is not None, "the worker kept the master's log folders"
    assert ref["port"] == worker.port
    assert collected, "no log batch from the worker's own folder"
    rows = [tuple(row) for row in await exec_log_rows(infra, ref["node_uuid"])]
    assert rows[0] == ("java_command_lines", "user", "admin", "failed")
    assert rows[1] == ("hadoop_variable", "user", "admin", "success")
