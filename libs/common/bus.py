"""NATS connection, JetStream streams and key-value buckets."""

import asyncio
import logging
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError

from libs.common.names import Names

logger = logging.getLogger(__name__)

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
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            try:
                await js.add_stream(config)
                logger.info("stream created stream=%s", config.name)
            except Exception as error:  # another replica may have created it first
                logger.info("stream create skipped stream=%s reason=%s", config.name, error)


async def ensure_kv(js: JetStreamContext, bucket: str, ttl: float | None = None, history: int = 1):
    """Return the key-value bucket, creating it when missing."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        try:
            return await js.create_key_value(KeyValueConfig(bucket=bucket, ttl=ttl, history=history))
        except Exception:
            await asyncio.sleep(0.2)
            return await js.key_value(bucket)
