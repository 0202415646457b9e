"""Prometheus metrics of the collector."""

from prometheus_client import Counter, Gauge, Histogram

SSH_ERRORS = Counter(
    "hfd_collector_ssh_errors_total",
    "SSH failures by kind: connect, auth, host_key, timeout, channel.",
    ["kind"],
)
RECORDS_COLLECTED = Counter(
    "hfd_collector_records_collected_total", "Log records read and parsed from node files.", ["log_type"]
)
RECORDS_PUBLISHED = Counter(
    "hfd_collector_records_published_total", "Log records acknowledged by JetStream.", ["log_type"]
)
BYTES_READ = Counter("hfd_collector_bytes_read_total", "Bytes read from node log files.")
PUBLISH_ERRORS = Counter(
    "hfd_collector_publish_errors_total", "LOGS or METRICS publishes that failed or timed out.", ["stream"]
)
BYTES_SKIPPED = Counter(
    "hfd_collector_bytes_skipped_total",
    "Bytes of rotated files that could not be found any more and so were never read.",
)
TAIL_LAG_BYTES = Gauge(
    "hfd_collector_tail_lag_bytes", "Bytes written to a node's files but not yet published.", ["node"]
)
PUBLISH_LATENCY = Histogram(
    "hfd_collector_publish_seconds",
    "Seconds from a batch's publish to its JetStream acknowledgement.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
METRIC_SAMPLES = Counter("hfd_collector_metric_samples_total", "Metric samples taken, by outcome.", ["outcome"])
