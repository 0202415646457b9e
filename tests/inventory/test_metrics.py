"""Metric samples published to the real METRICS stream: storage, trends, status, health and retention.

The collector of this stack stores nodes but collects from none (see ``conftest``), so every
sample and reachability report here is one the test publishes itself, as the collector would.
"""

import math
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from libs.common.timeutil import utcnow
from tests.gateway.helpers import unique_name, wait_for
from tests.inventory.helpers import node_body


def hostname() -> str:
    return f"node-{secrets.token_hex(4)}"


def register(api, account, names: list[str], **fields) -> str:
    nodes = [node_body(name, f"127.0.0.{index + 2}") for index, name in enumerate(names)]
    body = {"name": unique_name("m"), "nodes": nodes, **fields}
    response = api.request("POST", "/clusters", json=body, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["uuid"]


def sample_count(database, cluster_uuid: str) -> int:
    rows = database.fetch(
        "SELECT count(*) AS n FROM inventory.metric_samples WHERE cluster_uuid = $1", uuid.UUID(cluster_uuid)
    )
    return rows[0]["n"]


def wait_for_samples(database, cluster_uuid: str, count: int) -> None:
    wait_for(lambda: sample_count(database, cluster_uuid) >= count)


def get(api, account, path: str) -> dict:
    response = api.request("GET", path, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def trend_by_time(body: dict) -> dict[datetime, float | None]:
    return {
        datetime.fromisoformat(moment): value for moment, value in zip(body["timestamps"], body["values"], strict=True)
    }


def past_buckets(seconds: int) -> tuple[datetime, datetime]:
    """Return the starts of the two complete buckets before the current one."""
    current = math.floor(utcnow().timestamp() / seconds) * seconds
    first = datetime.fromtimestamp(current - 2 * seconds, UTC)
    return first, first + timedelta(seconds=seconds)


def publish_trend_samples(bus, cluster_uuid: str, first: str, second: str, start: datetime) -> None:
    """Publish CPU and memory samples of two nodes.

    In the 5-minute bucket at ``start``, ``first`` averages 20% CPU and ``second`` 60%. In the
    next bucket only ``first`` reports, with 50%. The latest memory values are 40% and 70%.
    """
    bus.publish_sample(cluster_uuid, first, start + timedelta(seconds=10), cpu=10, memory=30)
    bus.publish_sample(cluster_uuid, first, start + timedelta(seconds=70), cpu=30, memory=35)
    bus.publish_sample(cluster_uuid, second, start + timedelta(seconds=20), cpu=60, memory=70)
    bus.publish_sample(cluster_uuid, first, start + timedelta(seconds=305), cpu=50, memory=40)


def test_cpu_trend_averages_node_averages(api, operator, bus, database):
    first, second = hostname(), hostname()
    cluster_uuid = register(api, operator, [first, second])
    start, following = past_buckets(300)
    publish_trend_samples(bus, cluster_uuid, first, second, start)
    wait_for_samples(database, cluster_uuid, 4)

    body = get(api, operator, f"/metrics/cpu_trend?cluster={cluster_uuid}")

    by_time = trend_by_time(body)
    assert len(by_time) == 12
    assert by_time[start] == 40.0
    assert by_time[following] == 50.0
    assert all(value is None for moment, value in by_time.items() if moment not in (start, following))
    assert body["times"] == [datetime.fromisoformat(moment).strftime("%H:%M") for moment in body["timestamps"]]
    assert (body["window"], body["bucket"]) == (3600, 300)


def test_cpu_trend_custom_buckets_and_zone(api, operator, bus, database):
    first, second = hostname(), hostname()
    cluster_uuid = register(api, operator, [first, second])
    start, following = past_buckets(300)
    publish_trend_samples(bus, cluster_uuid, first, second, start)
    wait_for_samples(database, cluster_uuid, 4)

    body = get(api, operator, f"/metrics/cpu_trend?cluster={cluster_uuid}&window=1200&bucket=60&tz=Asia/Shanghai")

    by_time = trend_by_time(body)
    expected = {start: 35.0, start + timedelta(seconds=60): 30.0, following: 50.0}
    assert len(by_time) == 20
    assert {moment: value for moment, value in by_time.items() if value is not None} == expected
    shanghai = ZoneInfo("Asia/Shanghai")
    assert body["times"] == [moment.astimezone(shanghai).strftime("%H:%M") for moment in by_time]


def test_cpu_trend_of_one_node(api, operator, bus, database):
    first, second = hostname(), hostname()
    cluster_uuid = register(api, operator, [first, second])
    start, following = past_buckets(300)
    publish_trend_samples(bus, cluster_uuid, first, second, start)
    wait_for_samples(database, cluster_uuid, 4)

    of_first = trend_by_time(get(api, operator, f"/metrics/cpu_trend_node?cluster={cluster_uuid}&node={first}"))
    of_second = trend_by_time(get(api, operator, f"/metrics/cpu_trend_node?cluster={cluster_uuid}&node={second}"))

    assert (of_first[start], of_first[following]) == (20.0, 50.0)
    assert (of_second[start], of_second[following]) == (60.0, None)


def test_memory_usage_from_latest_samples(api, operator, bus, database):
    first, second = hostname(), hostname()
    cluster_uuid = register(api, operator, [first, second])
    start, _ = past_buckets(300)
    publish_trend_samples(bus, cluster_uuid, first, second, start)
    wait_for_samples(database, cluster_uuid, 4)

    cluster = get(api, operator, f"/metrics/memory_usage?cluster={cluster_uuid}")
    node = get(api, operator, f"/metrics/memory_usage_node?cluster={cluster_uuid}&node={first}")

    assert (cluster["used"], cluster["free"], cluster["nodes"]) == (55.0, 45.0, 2)
    assert (node["used"], node["free"], node["nodes"]) == (40.0, 60.0, 1)


def test_metrics_without_samples_are_null(api, operator):
    name = hostname()
    cluster_uuid = register(api, operator, [name])

    trend = get(api, operator, f"/metrics/cpu_trend?cluster={cluster_uuid}")
    memory = get(api, operator, f"/metrics/memory_usage_node?cluster={cluster_uuid}&node={name}")

    assert trend["values"] == [None] * 12
    assert (memory["used"], memory["free"], memory["nodes"]) == (None, None, 0)


def test_metrics_unknown_target_is_404(api, operator):
    cluster_uuid = register(api, operator, [hostname()])
    paths = [
        f"/metrics/cpu_trend?cluster={uuid.uuid4()}",
        f"/metrics/memory_usage?cluster={uuid.uuid4()}",
        f"/metrics/cpu_trend_node?cluster={cluster_uuid}&node={hostname()}",
        f"/metrics/memory_usage_node?cluster={cluster_uuid}&node={hostname()}",
    ]

    for path in paths:
        response = api.request("GET", path, headers=operator.headers)
        assert response.status_code == 404, f"{path}: {response.text}"
        assert response.json()["detail"] == "not_found", path


def test_duplicate_sample_stored_once(api, operator, bus, database):
    name = hostname()
    cluster_uuid = register(api, operator, [name])
    moment = utcnow() - timedelta(seconds=30)

    bus.publish_sample(cluster_uuid, name, moment, cpu=10)
    bus.publish_sample(cluster_uuid, name, moment, cpu=10, message_id=str(uuid.uuid4()))
    bus.publish_sample(cluster_uuid, name, moment + timedelta(seconds=1), cpu=20)

    wait_for_samples(database, cluster_uuid, 2)
    assert sample_count(database, cluster_uuid) == 2


def test_events_may_name_uuids_or_names(api, operator, bus, database):
    name = hostname()
    cluster_name = unique_name("m")
    cluster_uuid = register(api, operator, [name], name=cluster_name)
    node_uuid = get(api, operator, f"/nodes/{name}?cluster={cluster_uuid}")["uuid"]
    moment = utcnow() - timedelta(seconds=30)

    bus.publish_sample(cluster_uuid, node_uuid, moment, cpu=10)
    bus.publish_sample(cluster_name, name, moment + timedelta(seconds=1), cpu=20)

    wait_for_samples(database, cluster_uuid, 2)


def test_sample_before_registration_kept(api, operator, bus, database):
    cluster_uuid = str(uuid.uuid4())
    name = hostname()
    bus.publish_sample(cluster_uuid, name, utcnow() - timedelta(seconds=5), cpu=10)

    body = {"uuid": cluster_uuid, "name": unique_name("m"), "nodes": [node_body(name, "127.0.0.2")]}
    response = api.request("POST", "/clusters", json=body, headers=operator.headers)

    assert response.status_code == 200, response.text
    wait_for_samples(database, cluster_uuid, 1)


def test_consumer_skips_bad_messages(api, operator, bus, database):
    name = hostname()
    cluster_uuid = register(api, operator, [name])

    bus.publish_raw(f"metrics.{cluster_uuid}.{name}", b"not json")
    bus.publish_raw(f"metrics.{cluster_uuid}.{name}", b'{"schema_version": 99, "cluster": "x", "node": "y"}')
    bus.publish_raw(f"metrics.{cluster_uuid}.{name}", b'{"schema_version": 1, "cluster": 5}')
    bus.publish_sample(cluster_uuid, name, utcnow() + timedelta(hours=1), cpu=10)
    bus.publish_sample(cluster_uuid, hostname(), utcnow(), cpu=10)
    bus.publish_sample(cluster_uuid, name, utcnow() - timedelta(seconds=5), cpu=150, memory=float("nan"), disk=-3)

    wait_for_samples(database, cluster_uuid, 1)
    rows = database.fetch(
        "SELECT cpu_percent, memory_percent, disk_percent FROM inventory.metric_samples WHERE cluster_uuid = $1",
        uuid.UUID(cluster_uuid),
    )
    assert len(rows) == 1
    assert (rows[0]["cpu_percent"], rows[0]["memory_percent"], rows[0]["disk_percent"]) == (100.0, None, None)


def cluster_health(api, account, cluster_uuid: str) -> str:
    clusters = get(api, account, "/clusters")["clusters"]
    return next(item["health"] for item in clusters if item["uuid"] == cluster_uuid)


def node_status(api, account, cluster_uuid: str, name: str) -> str:
    nodes = get(api, account, f"/nodes?cluster={cluster_uuid}")["nodes"]
    return next(node["status"] for node in nodes if node["name"] == name)


def test_status_and_health_follow_events(api, operator, bus):
    first, second = hostname(), hostname()
    cluster_uuid = register(api, operator, [first, second])
    base = utcnow() - timedelta(seconds=60)

    def after(seconds: int) -> datetime:
        return base + timedelta(seconds=seconds)

    bus.publish_sample(cluster_uuid, first, after(1), cpu=10, memory=10, disk=10)
    wait_for(lambda: node_status(api, operator, cluster_uuid, first) == "healthy")
    assert cluster_health(api, operator, cluster_uuid) == "warning"

    bus.publish_sample(cluster_uuid, second, after(2), cpu=10, memory=10, disk=10)
    wait_for(lambda: cluster_health(api, operator, cluster_uuid) == "healthy")

    bus.publish_sample(cluster_uuid, first, after(3), cpu=95, memory=10, disk=10)
    wait_for(lambda: node_status(api, operator, cluster_uuid, first) == "warning")
    assert cluster_health(api, operator, cluster_uuid) == "warning"

    bus.publish_status(cluster_uuid, second, reachable=False, observed_at=after(4))
    wait_for(lambda: node_status(api, operator, cluster_uuid, second) == "unhealthy")
    assert cluster_health(api, operator, cluster_uuid) == "warning"

    bus.publish_status(cluster_uuid, first, reachable=False, observed_at=after(5))
    wait_for(lambda: cluster_health(api, operator, cluster_uuid) == "unhealthy")

    bus.publish_status(cluster_uuid, first, reachable=True, observed_at=after(6))
    bus.publish_status(cluster_uuid, second, reachable=True, observed_at=after(6))
    wait_for(lambda: node_status(api, operator, cluster_uuid, second) == "healthy")
    assert node_status(api, operator, cluster_uuid, first) == "warning"

    bus.publish_sample(cluster_uuid, first, after(7), cpu=20, memory=10, disk=10)
    wait_for(lambda: cluster_health(api, operator, cluster_uuid) == "healthy")


def test_older_status_event_ignored(api, operator, bus):
    name = hostname()
    cluster_uuid = register(api, operator, [name])
    now = utcnow()

    bus.publish_sample(cluster_uuid, name, now - timedelta(seconds=10), cpu=10)
    bus.publish_status(cluster_uuid, name, reachable=False, observed_at=now - timedelta(seconds=5))
    bus.publish_status(cluster_uuid, name, reachable=True, observed_at=now - timedelta(seconds=20))

    wait_for(lambda: node_status(api, operator, cluster_uuid, name) == "unhealthy")
    bus.publish_sample(cluster_uuid, name, now - timedelta(seconds=1), cpu=10)
    wait_for(lambda: node_status(api, operator, cluster_uuid, name) == "healthy")


def test_retention_deletes_old_samples(api, operator, database):
    name = hostname()
    cluster_uuid = register(api, operator, [name])
    node_uuid = uuid.UUID(get(api, operator, f"/nodes/{name}?cluster={cluster_uuid}")["uuid"])
    now = utcnow()
    old = [(node_uuid, uuid.UUID(cluster_uuid), now - timedelta(hours=80, seconds=index), 5.0) for index in range(250)]
    recent = [(node_uuid, uuid.UUID(cluster_uuid), now - timedelta(hours=71), 7.0)]
    statement = (
        "INSERT INTO inventory.metric_samples (node_uuid, cluster_uuid, sampled_at, cpu_percent)"
        " VALUES ($1, $2, $3, $4)"
    )

    database.execute_many(statement, old + recent)

    wait_for(lambda: sample_count(database, cluster_uuid) == 1, timeout=15)
    rows = database.fetch("SELECT cpu_percent FROM inventory.metric_samples WHERE node_uuid = $1", node_uuid)
    assert [row["cpu_percent"] for row in rows] == [7.0]


def test_soft_delete_keeps_samples(api, operator, bus, database):
    name = hostname()
    cluster_uuid = register(api, operator, [name])
    moment = utcnow() - timedelta(seconds=30)
    bus.publish_sample(cluster_uuid, name, moment, cpu=10)
    bus.publish_sample(cluster_uuid, name, moment + timedelta(seconds=1), cpu=20)
    wait_for_samples(database, cluster_uuid, 2)

    response = api.request("DELETE", f"/clusters/{cluster_uuid}", headers=operator.headers)
    marker_node = hostname()
    marker_cluster = register(api, operator, [marker_node])
    bus.publish_sample(cluster_uuid, name, moment + timedelta(seconds=2), cpu=30)
    bus.publish_sample(marker_cluster, marker_node, moment, cpu=30)

    assert response.status_code == 200, response.text
    wait_for_samples(database, marker_cluster, 1)
    assert sample_count(database, cluster_uuid) == 2


def test_prometheus_counts_samples(api, operator, bus, database, stack):
    name = hostname()
    cluster_uuid = register(api, operator, [name])
    bus.publish_sample(cluster_uuid, name, utcnow() - timedelta(seconds=5), cpu=10)
    wait_for_samples(database, cluster_uuid, 1)
    port = re.search(r"metrics endpoint listening address=\S+ port=(\d+)", stack.log("inventory")).group(1)

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text

    stored = re.search(r"^hfd_inventory_samples_stored_total (\S+)$", text, re.MULTILINE)
    assert stored is not None
    assert float(stored.group(1)) >= 1
    assert re.search(r'^hfd_consumer_pending_messages\{consumer="\w+_inventory-metrics"\} \S+$', text, re.MULTILINE)
