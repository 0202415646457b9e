"""Prometheus metrics of the inventory service, served by the service's ``/metrics`` endpoint.

The METRICS consumer's lag is ``hfd_consumer_pending_messages{consumer="...inventory-metrics"}``
from ``libs.common.metrics``, which ``run_consumer`` updates after each batch.
"""

from prometheus_client import Counter

SAMPLES_STORED = Counter("hfd_inventory_samples_stored_total", "Metric samples inserted into the database.")
SAMPLES_SKIPPED = Counter(
    "hfd_inventory_samples_skipped_total",
    "METRICS messages not stored, by reason (duplicate, unknown_node, deleted_cluster, invalid, future, version).",
    ["reason"],
)
STATUS_EVENTS = Counter(
    "hfd_inventory_status_events_total", "Node reachability reports applied, by reachability.", ["reachable"]
)
SAMPLES_DELETED = Counter("hfd_inventory_samples_deleted_total", "Metric samples deleted by the retention sweep.")
