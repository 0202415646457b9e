"""Opening one SSH connection to a node: host key trust, login options and connect errors.

The host key must be in the known_hosts file or equal the node's stored key. With trust on
first use enabled, a node with no known key is accepted and the returned client records it.
A failed connect raises ``NodeUnreachable`` (``HostKeyRejected`` for a host key) with a short reason.
"""

import asyncio
import logging

import asyncssh

from services.collector import hostkeys
from services.collector.config import CollectorSettings
from services.collector.credentials import NodeSecret
from services.collector.node_target import NodeTarget
from services.collector.ssh_errors import HostKeyRejected, NodeUnreachable
from services.collector.telemetry import SSH_ERRORS

logger = logging.getLogger(__name__)


async def open_connection(
    settings: CollectorSettings, target: NodeTarget, secret: NodeSecret, known_host_key: str | None
) -> tuple[asyncssh.SSHClientConnection, hostkeys.HostKeyClient]:
    """Connect and log in to ``target``. The returned client records whether it accepted an unknown host key."""
    trusted = hostkeys.trusted_keys(settings.known_hosts_path(), target.address, target.port, known_host_key)
    accept_unknown = settings.trust_on_first_use and not trusted
    client = hostkeys.HostKeyClient(accept_unknown)
    client_keys = _client_keys(secret)

    try:
        connection, _ = await asyncio.wait_for(
            asyncssh.create_connection(
                lambda: client,
                target.address,
                target.port,
                username=target.user,
                password=secret.password,
                client_keys=client_keys,
                known_hosts=(trusted, [], []),
                agent_path=None,
                config=None,
                preferred_auth="publickey,password" if client_keys else "password",
                keepalive_interval=settings.keepalive_interval,
                keepalive_count_max=3,
            ),
            timeout=settings.connect_timeout,
        )
    except TimeoutError as error:
        SSH_ERRORS.labels("timeout").inc()
        raise NodeUnreachable(target, "connect timed out") from error
    except asyncssh.PermissionDenied as error:
        SSH_ERRORS.labels("auth").inc()
        raise NodeUnreachable(target, "authentication failed") from error
    except (asyncssh.HostKeyNotVerifiable, asyncssh.KeyExchangeFailed) as error:
        SSH_ERRORS.labels("host_key").inc()
        reason = "host key mismatch" if trusted else "host key unknown and trust on first use is off"
        logger.error("ssh host key rejected node=%s address=%s reason=%s", target.name, target.address, reason)
        raise HostKeyRejected(target, reason) from error
    except (asyncssh.Error, OSError) as error:
        SSH_ERRORS.labels("connect").inc()
        raise NodeUnreachable(target, f"connect failed: {_describe(error)}") from error
    return connection, client


def _client_keys(secret: NodeSecret) -> list[asyncssh.SSHKey] | None:
    if not secret.private_key:
        return None
    return [asyncssh.import_private_key(secret.private_key)]


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]
