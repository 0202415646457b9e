"""Collector control endpoints over NATS: status, start, stop, intervals, log folder, sampling.

Inventory is not started here, so ownership falls back to the collector's own node table,
which serves admins only; other roles get 503 until inventory replies. set-log-dir has no
fallback, because inventory owns the log folders.
"""

import asyncio
import uuid

import pytest

from libs.common.events import MetricSample
from libs.common.rpc import Principal
from tests.collector.conftest import Bus, entries_of, header_line

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]

OBSERVER = Principal(user_id=3, username="watcher", role="observer")
OPERATOR = Principal(user_id=2, username="oper", role="operator")


async def test_stop_and_start_collector(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("c1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    log_file = log_dir / "hadoop-hdfs-datanode-c1.log"
    log_file.write_text(header_line(1))
    cluster = str(uuid.uuid4())

    async with Bus(infra) as bus:
        await bus.register(node, log_dir, cluster_uuid=cluster, name="c1")
        await bus.wait_for_records(cluster, 1)
        running = await bus.call("collectors.status")

        stopped = await bus.call("collectors.stop", params={"node_name": "c1", "log_type": "datanode"})
        after_stop = await bus.call("collectors.status")
        with log_file.open("a") as handle:
            handle.write(header_line(2))
        await asyncio.sleep(3)
        while_stopped = entries_of(await bus.log_batches(cluster))

        started = await bus.call(
            "collectors.start", params={"node_name": "c1", "log_type": "datanode", "interval": "2"}
        )
        resumed = entries_of(await bus.wait_for_records(cluster, 2))

    assert running.body["collectors"]["c1_datanode"] == 1
    assert stopped.body == {"message": "Stopped log collection for c1_datanode"}
    assert after_stop.body["collectors"]["c1_datanode"] == 0
    assert len(while_stopped) == 1
    assert started.body == {"message": "Started log collection for c1_datanode", "interval": 2}
    assert [entry.text for entry in resumed] == [header_line(1).strip(), header_line(2).strip()]


async def test_control_input_validated(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("c2")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    cluster = str(uuid.uuid4())
    bad_dirs = [
        "../etc",
        "/var/log/../../etc",
        "/var/log;rm -rf /",
        "/var/log/$(id)",
        "/var/\x00log",
        "/a b",
        "/" * 4097,
    ]

    async with Bus(infra) as bus:
        await bus.register(node, log_dir, cluster_uuid=cluster, name="c2")
        intervals = [
            await bus.call("collectors.set_interval", params={"interval": value}) for value in ("0", "3601", "x")
        ]
        folders = [await bus.call("collectors.set_log_dir", params={"log_dir": value}) for value in bad_dirs]
        log_type = await bus.call("collectors.start", params={"node_name": "c2", "log_type": "Name Node;"})
        unknown = await bus.call("collectors.start", params={"node_name": "nosuchnode", "log_type": "datanode"})
        good = await bus.call("collectors.set_interval", params={"interval": "10"})
        folder = await bus.call("collectors.set_log_dir", params={"log_dir": str(log_dir)})
        zh = await bus.call("collectors.set_interval", params={"interval": "0"}, lang="zh")

    for reply in intervals:
        assert reply.status == 422
        assert reply.body["detail"]["errors"][0]["field"] == "interval"
        assert reply.body["detail"]["errors"][0]["code"] == "invalid_interval"
    for value, reply in zip(bad_dirs, folders, strict=True):
        assert reply.status == 422, f"log dir {value!r} accepted"
        assert reply.body["detail"]["errors"][0]["field"] == "log_dir"
    assert log_type.status == 422
    assert unknown.status == 404
    assert good.body == {"message": "Set collection interval to 10 seconds"}
    # Inventory owns the log folders, so without it a valid folder is not set, even for an admin.
    assert folder.status == 503
    assert folder.body["detail"] == "service_unavailable"
    assert zh.body["detail"]["errors"][0]["message"] == "采集间隔须为 1 到 3600 之间的整数秒"


async def test_control_roles_enforced(infra, collector):
    async with Bus(infra) as bus:
        observer_stop = await bus.call("collectors.stop_all", principal=OBSERVER)
        anonymous = await bus.call("collectors.status", principal=None)
        operator_status = await bus.call("collectors.status", principal=OPERATOR)

    assert observer_stop.status == 403
    assert observer_stop.body == {"detail": "not_allowed"}
    assert anonymous.status == 401
    assert operator_status.status == 503, "without inventory only admins are served"


async def test_metric_sampling_publishes_samples(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("m1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    cluster = str(uuid.uuid4())
    subject_of = f"metrics.{cluster}.m1"

    async with Bus(infra) as bus:
        await bus.register(node, log_dir, cluster_uuid=cluster, name="m1")
        started = await bus.call("samplers.start_by_cluster", params={"uuid": cluster, "interval": "2"})
        await asyncio.sleep(7)
        samples = await bus.read_stream("METRICS", bus.names.subject(subject_of))
        status = await bus.call("samplers.status", params={"cluster": cluster})
        stopped = await bus.call("samplers.stop_by_cluster", params={"uuid": cluster})
        after = await bus.call("samplers.status", params={"cluster": cluster})

    parsed = [MetricSample.model_validate_json(data) for _, data in samples]
    assert started.body["is_running"] is True
    assert started.body["interval"] == 2
    assert len(parsed) >= 2
    assert all(0 <= sample.cpu_percent <= 100 for sample in parsed)
    assert all(0 < sample.memory_percent < 100 for sample in parsed)
    assert all(0 < sample.disk_percent <= 100 for sample in parsed)
    assert parsed[0].memory_total_bytes > 0
    msg_ids = [msg_id for msg_id, _ in samples]
    assert len(set(msg_ids)) == len(msg_ids)
    assert status.body == {"is_running": True, "interval": 2, "errors": {}}
    assert stopped.body["is_running"] is False
    assert after.body["is_running"] is False


async def test_set_log_dir_rejects_system_folder(infra, collector):
    values = ["/etc", "/", "//etc/", "/var/lib/hadoop", "/usr", "/home/hadoop/.ssh"]
    async with Bus(infra) as bus:
        replies = [await bus.call("collectors.set_log_dir", params={"log_dir": value}) for value in values]

    for value, reply in zip(values, replies, strict=True):
        assert reply.status == 422, f"log dir {value!r} accepted"
        assert reply.body["detail"]["errors"][0]["field"] == "log_dir"
        assert reply.body["detail"]["errors"][0]["code"] == "forbidden_log_dir"


async def test_upsert_rejects_system_log_folder(infra, collector):
    body = {
        "cluster_uuid": str(uuid.uuid4()),
        "cluster_name": "c-upsert",
        "node_uuid": str(uuid.uuid4()),
        "name": "u1",
        "address": "127.0.0.9",
        "ssh_user": "hadoop",
        "password": "n0t-a-real-secret",
        "log_dirs": ["/var/log/hadoop", "/proc/self"],
    }
    async with Bus(infra) as bus:
        reply = await bus.call("nodes.upsert", body, principal=None)

    assert reply.status == 422
    assert reply.body["detail"]["errors"][0]["field"] == "log_dirs.1"
    assert reply.body["detail"]["errors"][0]["code"] == "forbidden_log_dir"
