"""NATS connection, JetStream streams and key-value buckets."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NoStreamResponseError, NotFoundError, ServiceUnavailableError
from nats.js.kv import KeyValue

from libs.common.names import Names

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Stream ages. Byte caps are off by default because JetStream reserves a file stream's
# max_bytes from the server's storage when the stream is created, so a generous cap fails on a
# small disk; HFD_STREAM_MAX_BYTES sets one cap for every stream in production.
STREAM_LIMITS: dict[str, dict[str, Any]] = {
    "LOGS": {"max_age": 24 * 3600},
    "METRICS": {"max_age": 2 * 24 * 3600},
    "FAULTS": {"max_age": 90 * 24 * 3600},
    "DIAGNOSES": {"max_age": 90 * 24 * 3600},
    "AUDIT": {"max_age": 30 * 24 * 3600},
}
DUPLICATE_WINDOW_SECONDS = 2 * 3600
# Seconds a starting service retries a JetStream request that gets no response, before it fails.
STREAMS_READY_SECONDS = 60.0
# Seconds a new bucket on a NATS cluster may take until stream info finds it with a leader.
BUCKET_READY_SECONDS = 30.0


async def connect(url: str, name: str) -> Client:
    """Connect to NATS, reconnecting forever with backoff and logging each state change."""

    async def on_disconnected() -> None:
        logger.warning("nats disconnected client=%s", name)

    async def on_reconnected() -> None:
        logger.info("nats reconnected client=%s", name)

    async def on_error(error: Exception) -> None:
        logger.warning("nats error client=%s error=%s", name, error)

    nc = await nats.connect(
        [server.strip() for server in url.split(",") if server.strip()],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        error_cb=on_error,
    )
    logger.info("nats connected client=%s url=%s", name, _redact(url))
    return nc


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


async def ensure_streams(
    js: JetStreamContext, names: Names, streams: list[str], replicas: int | None = None
) -> None:
    """Create the named streams when missing, with their subjects and limits."""
    from libs.common.settings import get_common_settings

    common = get_common_settings()
    for stream in streams:
        config = StreamConfig(
            name=names.stream(stream),
            subjects=names.stream_subjects(stream),
            storage=StorageType.FILE,
            max_age=STREAM_LIMITS[stream]["max_age"],
            max_bytes=common.stream_max_bytes,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas or common.stream_replicas,
        )
        await _ensure_stream(js, config)


# Errors a JetStream API call returns while the cluster's meta or stream leader is not elected,
# or while the servers are too busy to respond within the request timeout. A key-value put
# raised NoStreamResponseError (no responders) right after its bucket was created on a cluster
# of three nats-server 2.15.1 servers, although the bucket's stream already had a leader.
TRANSIENT_ERRORS = (nats.errors.TimeoutError, ServiceUnavailableError, NoRespondersError, NoStreamResponseError)


async def retry_while_unavailable(
    request: str, call: Callable[[], Awaitable[T]], seconds: float = STREAMS_READY_SECONDS
) -> T:
    """Return ``await call()``, retrying each second while JetStream does not respond, for ``seconds`` at most.

    Many processes starting at once on a NATS cluster can see API requests time out, or get
    "JetStream system temporarily unavailable", until the cluster's leaders settle and the
    servers catch up. Any other error is raised at once.
    """
    deadline = asyncio.get_running_loop().time() + seconds
    attempt = 0
    while True:
        try:
            return await call()
        except TRANSIENT_ERRORS as error:
            attempt += 1
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"JetStream did not respond to {request} within {seconds:.0f}s ({type(error).__name__}); "
                    "check that the NATS servers run with JetStream and reach each other"
                ) from error
            logger.warning("jetstream request failed, retrying request=%s attempt=%d error=%s",
                           request, attempt, type(error).__name__)
            await asyncio.sleep(1.0)


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream of ``config`` when missing."""
    try:
        await retry_while_unavailable(f"stream info of {config.name}", lambda: js.stream_info(config.name))
        return
    except NotFoundError:
        pass

    try:
        await retry_while_unavailable(f"create of stream {config.name}", lambda: js.add_stream(config))
        logger.info("stream created stream=%s", config.name)
    except Exception as error:  # another replica may have created it first
        logger.info("stream create skipped stream=%s reason=%s", config.name, error)


async def ensure_kv(js: JetStreamContext, bucket: str, ttl: float | None = None, history: int = 1) -> KeyValue:
    """Return the key-value bucket, creating it when missing with ``HFD_STREAM_REPLICAS`` replicas.

    Leases and token state live in these buckets, so on a NATS cluster they need the same
    replicas as the streams: a bucket with one replica is gone while its server is down.
    """
    from libs.common.settings import get_common_settings

    replicas = get_common_settings().stream_replicas
    try:
        await retry_while_unavailable(f"info of bucket {bucket}", lambda: js.key_value(bucket))
    except BucketNotFoundError:
        config = KeyValueConfig(bucket=bucket, ttl=ttl, history=history, replicas=replicas)
        try:
            await retry_while_unavailable(f"create of bucket {bucket}", lambda: js.create_key_value(config))
        except Exception as error:  # another replica may have created it first
            logger.info("bucket create skipped bucket=%s reason=%s", bucket, error)
    return await _wait_for_bucket(js, bucket)


async def _wait_for_bucket(js: JetStreamContext, bucket: str) -> KeyValue:
    """Return the bucket once its stream is found and, on a NATS cluster, has a leader.

    Right after a create on a cluster, stream info can return "stream not found" for a moment
    (when another replica created the same bucket at the same time), and a put finds no
    responders until the stream's leader is elected. Both were seen with nats-server 2.15.1
    when two replicas of a service started together. A busy server may also time out.
    """
    deadline = asyncio.get_running_loop().time() + BUCKET_READY_SECONDS
    while True:
        try:
            kv = await js.key_value(bucket)
            cluster = (await kv.status()).stream_info.cluster
            if cluster is None or cluster.leader:
                return kv
        except (NotFoundError, *TRANSIENT_ERRORS) as error:
            logger.info("bucket not ready bucket=%s error=%s", bucket, type(error).__name__)
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(
                f"key-value bucket {bucket} not ready within {BUCKET_READY_SECONDS:.0f}s: its stream is missing "
                "or has no leader; check that the NATS servers with JetStream are up and routed to each other"
            )
        await asyncio.sleep(0.2)


async def raise_kv_ttl(js: JetStreamContext, kv: KeyValue, bucket: str, ttl: float) -> None:
    """Raise the TTL of ``bucket`` to ``ttl`` when it was created with a shorter one; never lower it.

    A bucket keeps the TTL it was created with, so a longer TTL configured later needs a stream
    update, which the caller's NATS user must be allowed (``$JS.API.STREAM.UPDATE.KV_<bucket>``).
    """
    status = await retry_while_unavailable(f"status of bucket {bucket}", kv.status)
    current = status.ttl  # read first, because status.ttl reads the config that the update changes
    if current is not None and 0 < current < ttl:
        config = status.stream_info.config
        config.max_age = ttl
        await retry_while_unavailable(f"update of bucket {bucket}", lambda: js.update_stream(config))
        logger.warning("bucket ttl raised bucket=%s old=%.0fs new=%.0fs", bucket, current, ttl)
