"""Prometheus metrics shared by the services, and the ``/metrics`` HTTP endpoint."""

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

RPC_HANDLED = Counter(
    "hfd_rpc_requests_total", "Requests handled by a service endpoint.", ["service", "operation", "status"]
)
RPC_LATENCY = Histogram(
    "hfd_rpc_request_seconds",
    "Time a service endpoint took to handle a request.",
    ["service", "operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_CONSUMED = Counter(
    "hfd_events_consumed_total", "JetStream messages processed by a durable consumer.", ["consumer", "outcome"]
)
EVENTS_PUBLISHED = Counter("hfd_events_published_total", "Events published to JetStream.", ["stream"])
CONSUMER_PENDING = Gauge(
    "hfd_consumer_pending_messages", "Messages not yet delivered to a durable consumer (its lag).", ["consumer"]
)


def start_metrics_server(host: str, port: int) -> int:
    """Serve ``/metrics`` on ``host:port`` (port 0 picks a free port); return the port."""
    server, _thread = start_http_server(port, addr=host)
    bound = server.server_address[1]
    logger.info("metrics endpoint listening address=%s port=%d", host, bound)
    return bound
