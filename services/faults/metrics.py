"""Prometheus metrics of the faults service.

Consumer lag is ``hfd_consumer_pending_messages{consumer=...}`` from ``libs.common.metrics``.
Records per second is ``rate(hfd_faults_log_records_processed_total[1m])``.
"""

from prometheus_client import Counter, Gauge

INCIDENTS = Gauge("hfd_faults_incidents", "Incidents in the database by kind and status.", ["kind", "status"])
DETECTIONS = Counter("hfd_faults_detections_total", "Detections that the engine reported, by kind.", ["kind"])
LOG_RECORDS = Counter("hfd_faults_log_records_processed_total", "Log records run through the detection engine.")
METRIC_SAMPLES = Counter("hfd_faults_metric_events_processed_total", "Metric samples and node status events handled.")
SKIPPED_MESSAGES = Counter(
    "hfd_faults_messages_skipped_total",
    "Messages skipped because they were already processed or could not be decoded.",
    ["stream", "reason"],
)
DETECTION_FAILURES = Counter(
    "hfd_faults_detection_failures_total", "Records on which the detection engine raised; they are stored only."
)
OUTBOX_PENDING = Gauge("hfd_faults_outbox_pending", "Fault events committed but not yet published.")
