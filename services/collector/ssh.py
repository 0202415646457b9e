"""SSH connections to the nodes: one reused asyncssh connection per node.

``SshPool`` opens a node's connection on first use and reuses it for every command and SFTP
read. A failed connect is retried no sooner than an exponential backoff with jitter allows
(capped by ``HFD_COLLECTOR_BACKOFF_MAX``); until then callers get ``NodeUnreachable`` at once.
Each node has a cap on concurrent channels. Reachability changes are passed to a callback,
which publishes them as ``NodeStatusEvent``. Commands are argv lists, quoted element by element
with ``shlex.quote``, so no caller ever hands a raw string to the remote shell.
"""

import asyncio
import logging
import random
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncssh

from services.collector import hostkeys
from services.collector.config import CollectorSettings
from services.collector.credentials import CredentialsUnavailable, NodeSecret
from services.collector.node_target import NodeTarget
from services.collector.ssh_command import DEFAULT_MAX_OUTPUT, BinaryResult, CommandResult, run_on_connection
from services.collector.ssh_connect import open_connection
from services.collector.ssh_errors import NodeUnreachable, UnknownNode
from services.collector.telemetry import SSH_ERRORS

logger = logging.getLogger(__name__)

StatusCallback = Callable[[NodeTarget, bool, str | None], Awaitable[None]]
HostKeyCallback = Callable[[NodeTarget, str], Awaitable[None]]
# Returns the decrypted secret of the named node or raises ``CredentialsUnavailable``.
SecretSource = Callable[[str], Awaitable[NodeSecret]]


@dataclass
class _NodeEntry:
    target: NodeTarget
    secret: NodeSecret
    known_host_key: str | None
    sessions: asyncio.Semaphore
    credentials_from: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    connection: asyncssh.SSHClientConnection | None = None
    client: hostkeys.HostKeyClient | None = None
    sftp: asyncssh.SFTPClient | None = None
    failures: int = 0
    retry_at: float = 0.0
    last_error: str | None = None
    reachable: bool | None = None

    def live_connection(self) -> asyncssh.SSHClientConnection | None:
        if self.connection is not None and self.client is not None and not self.client.closed:
            return self.connection
        return None


class SshPool:
    """One asyncssh connection per node, reused, with reconnect backoff and a channel cap."""

    def __init__(
        self,
        settings: CollectorSettings,
        *,
        on_status: StatusCallback | None = None,
        on_host_key: HostKeyCallback | None = None,
        secret_source: SecretSource | None = None,
    ) -> None:
        self.settings = settings
        self.on_status = on_status
        self.on_host_key = on_host_key
        self.secret_source = secret_source
        self._entries: dict[str, _NodeEntry] = {}

    # Node registry

    def set_node(
        self,
        target: NodeTarget,
        secret: NodeSecret,
        known_host_key: str | None,
        *,
        credentials_from: str | None = None,
    ) -> None:
        """Add a node or replace its settings; a changed address, user or secret drops the connection.

        With ``credentials_from`` the node logs in with that node's secret, which
        ``secret_source`` reads at each connect, so a rotated secret applies on the next connect.
        """
        entry = self._entries.get(target.node_uuid)
        if entry is not None:
            same_login = (
                (entry.target.address, entry.target.port, entry.target.user)
                == (target.address, target.port, target.user)
                and entry.secret == secret
                and entry.known_host_key == known_host_key
                and entry.credentials_from == credentials_from
            )
            if same_login:
                entry.target = target
                return
            self._close_entry(entry)

        self._entries[target.node_uuid] = _NodeEntry(
            target=target,
            secret=secret,
            known_host_key=known_host_key,
            sessions=asyncio.Semaphore(self.settings.max_sessions_per_node),
            credentials_from=credentials_from,
        )

    def drop_inheriting(self, source_uuid: str) -> int:
        """Close the connections of nodes that log in with ``source_uuid``'s secret; return how many.

        Their next command connects again and reads the source's secret anew, so a rotated or
        removed source takes effect at once instead of when the old connection happens to drop.
        """
        dropped = 0
        for entry in self._entries.values():
            if entry.credentials_from == source_uuid:
                self._close_entry(entry)
                entry.retry_at = 0.0
                dropped += 1
        return dropped

    async def remove_node(self, node_uuid: str) -> None:
        entry = self._entries.pop(node_uuid, None)
        if entry is not None:
            self._close_entry(entry)

    def node(self, node_uuid: str) -> NodeTarget | None:
        entry = self._entries.get(node_uuid)
        return entry.target if entry else None

    def nodes(self) -> list[NodeTarget]:
        return [entry.target for entry in self._entries.values()]

    def reachable(self, node_uuid: str) -> bool | None:
        entry = self._entries.get(node_uuid)
        return entry.reachable if entry else None

    def last_error(self, node_uuid: str) -> str | None:
        entry = self._entries.get(node_uuid)
        return entry.last_error if entry else None

    async def close(self) -> None:
        for entry in self._entries.values():
            self._close_entry(entry)
        self._entries.clear()

    # Commands and reads

    async def run(
        self, node_uuid: str, argv: list[str], *, timeout: float, max_output: int = DEFAULT_MAX_OUTPUT
    ) -> CommandResult:
        """Run ``argv`` on the node, each element quoted; stdout and stderr are decoded as UTF-8."""
        result = await self.run_binary(node_uuid, argv, timeout=timeout, max_output=max_output)
        return CommandResult(
            exit_code=result.exit_code,
            stdout=result.stdout.decode("utf-8", errors="replace"),
            stderr=result.stderr,
            duration_ms=result.duration_ms,
            truncated=result.truncated,
            timed_out=result.timed_out,
        )

    async def run_binary(
        self, node_uuid: str, argv: list[str], *, timeout: float, max_output: int = DEFAULT_MAX_OUTPUT
    ) -> BinaryResult:
        """Run ``argv`` on the node and keep stdout as bytes (at most ``max_output`` of them)."""
        if not argv:
            raise ValueError("argv must not be empty")
        command = " ".join(shlex.quote(str(part)) for part in argv)
        entry = self._entry(node_uuid)

        async with entry.sessions:
            for attempt in (1, 2):
                connection = await self._connection(entry)
                try:
                    return await run_on_connection(connection, command, timeout, max_output)
                except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError) as error:
                    SSH_ERRORS.labels("channel").inc()
                    logger.warning("ssh channel failed node=%s attempt=%d error=%s", entry.target.name, attempt, error)
                    self._drop_connection(entry, connection)
                    if attempt == 2:
                        raise NodeUnreachable(entry.target, f"channel failed: {error}") from error
        raise AssertionError("unreachable")

    async def sftp_read(self, node_uuid: str, path: str, offset: int, length: int) -> bytes:
        """Read up to ``length`` bytes of ``path`` from ``offset`` over SFTP; fewer at end of file."""
        data = await self.read_range(node_uuid, path, offset, length)
        return data or b""

    async def read_range(
        self, node_uuid: str, path: str, offset: int, length: int, *, min_size: int = 0
    ) -> bytes | None:
        """Read like ``sftp_read``, but return None when the open file is smaller than ``min_size``.

        The size check runs on the opened handle, so a file that was truncated or replaced after
        the caller's ``stat`` is noticed instead of being read at a stale offset.
        """
        entry = self._entry(node_uuid)
        async with entry.sessions:
            for attempt in (1, 2):
                sftp = await self._sftp(entry)
                try:
                    async with sftp.open(path, "rb") as handle:
                        if min_size:
                            attributes = await handle.stat()
                            if attributes.size is not None and attributes.size < min_size:
                                return None
                        return await handle.read(length, offset)
                except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, asyncssh.DisconnectError) as error:
                    SSH_ERRORS.labels("channel").inc()
                    self._drop_connection(entry, entry.connection)
                    if attempt == 2:
                        raise NodeUnreachable(entry.target, f"sftp failed: {error}") from error
        raise AssertionError("unreachable")

    async def check(self, node_uuid: str) -> bool:
        """Open the node's connection when needed; return whether the node is reachable now."""
        try:
            await self._connection(self._entry(node_uuid))
        except NodeUnreachable:
            return False
        return True

    # Connections

    def _entry(self, node_uuid: str) -> _NodeEntry:
        entry = self._entries.get(node_uuid)
        if entry is None:
            raise UnknownNode(node_uuid)
        return entry

    async def _sftp(self, entry: _NodeEntry) -> asyncssh.SFTPClient:
        connection = await self._connection(entry)
        if entry.sftp is None:
            try:
                entry.sftp = await connection.start_sftp_client()
            except (asyncssh.Error, OSError) as error:
                SSH_ERRORS.labels("channel").inc()
                self._drop_connection(entry, connection)
                raise NodeUnreachable(entry.target, f"sftp unavailable: {error}") from error
        return entry.sftp

    async def _connection(self, entry: _NodeEntry) -> asyncssh.SSHClientConnection:
        live = entry.live_connection()
        if live is not None:
            return live

        async with entry.lock:
            live = entry.live_connection()
            if live is not None:
                return live
            if time.monotonic() < entry.retry_at:
                raise NodeUnreachable(entry.target, entry.last_error or "waiting to reconnect")

            try:
                connection, client = await self._open(entry)
            except NodeUnreachable as error:
                await self._record_failure(entry, error.reason)
                raise

            entry.connection, entry.client, entry.sftp = connection, client, None
            entry.failures, entry.retry_at, entry.last_error = 0, 0.0, None
            target = entry.target
            logger.info("ssh connected node=%s address=%s:%d", target.name, target.address, target.port)
            await self._set_reachable(entry, True, None)
            return connection

    async def _open(self, entry: _NodeEntry) -> tuple[asyncssh.SSHClientConnection, hostkeys.HostKeyClient]:
        secret = await self._login_secret(entry)
        connection, client = await open_connection(self.settings, entry.target, secret, entry.known_host_key)
        if client.accepted_unknown and client.seen_key is not None:
            await self._store_first_key(entry, client.seen_key)
        return connection, client

    async def _login_secret(self, entry: _NodeEntry) -> NodeSecret:
        """Return the node's own secret, or the one of the node it inherits its login from."""
        if entry.credentials_from is None:
            return entry.secret
        if self.secret_source is None:
            raise NodeUnreachable(entry.target, "inherited credentials cannot be read")
        try:
            return await self.secret_source(entry.credentials_from)
        except CredentialsUnavailable as error:
            SSH_ERRORS.labels("auth").inc()
            raise NodeUnreachable(entry.target, error.reason) from error

    async def _store_first_key(self, entry: _NodeEntry, key: asyncssh.SSHKey) -> None:
        exported = hostkeys.export_host_key(key)
        entry.known_host_key = exported
        logger.warning(
            "ssh host key trusted on first use node=%s address=%s key=%s",
            entry.target.name,
            entry.target.address,
            exported.split()[0],
        )
        if self.on_host_key is not None:
            await self.on_host_key(entry.target, exported)

    async def _record_failure(self, entry: _NodeEntry, reason: str) -> None:
        entry.failures += 1
        delay = min(self.settings.backoff_max, self.settings.backoff_initial * 2 ** (entry.failures - 1))
        delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
        entry.retry_at = time.monotonic() + delay
        entry.last_error = reason
        logger.warning(
            "ssh connect failed node=%s address=%s:%d failures=%d retry_in=%.1fs reason=%s",
            entry.target.name,
            entry.target.address,
            entry.target.port,
            entry.failures,
            delay,
            reason,
        )
        await self._set_reachable(entry, False, reason)

    async def _set_reachable(self, entry: _NodeEntry, reachable: bool, error: str | None) -> None:
        if entry.reachable == reachable:
            return
        entry.reachable = reachable
        if self.on_status is None:
            return
        try:
            await self.on_status(entry.target, reachable, error)
        except Exception:
            logger.exception("node status callback failed node=%s reachable=%s", entry.target.name, reachable)

    def _drop_connection(self, entry: _NodeEntry, connection: asyncssh.SSHClientConnection | None) -> None:
        if connection is not None and entry.connection is connection:
            connection.close()
            entry.connection, entry.client, entry.sftp = None, None, None

    def _close_entry(self, entry: _NodeEntry) -> None:
        if entry.connection is not None:
            entry.connection.close()
        entry.connection, entry.client, entry.sftp = None, None, None
