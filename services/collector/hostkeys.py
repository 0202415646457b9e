"""Host key checks for the SSH pool: the known_hosts file, each node's stored key, and TOFU.

A node is trusted when its host key is in the known_hosts file (matched by address and port)
or equals the key stored for the node. With trust on first use enabled, a node with no known
key at all is accepted once and its key is stored; after that a different key is rejected.
"""

import logging
from pathlib import Path

import asyncssh

logger = logging.getLogger(__name__)

_KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")


def parse_host_key(text: str | None) -> asyncssh.SSHKey | None:
    """Parse a public key (``ssh-ed25519 AAAA... comment``) or a known_hosts line.

    Raises ``ValueError`` when the text contains no public key.
    """
    if not text or not text.strip():
        return None

    parts = text.split()
    for index, part in enumerate(parts[:4]):
        if part.startswith(_KEY_TYPE_PREFIXES) and index + 1 < len(parts):
            try:
                return asyncssh.import_public_key(f"{part} {parts[index + 1]}")
            except asyncssh.KeyImportError as error:
                raise ValueError(f"invalid host key: {error}") from None
    raise ValueError("invalid host key: expected 'TYPE BASE64' or a known_hosts line")


def export_host_key(key: asyncssh.SSHKey) -> str:
    """Return ``key`` as one ``TYPE BASE64`` line, the form stored for a node."""
    return key.export_public_key("openssh").decode().split("\n", 1)[0].strip()


def trusted_keys(known_hosts: Path, address: str, port: int, stored: str | None) -> list[asyncssh.SSHKey]:
    """Return the keys trusted for ``address:port``: matches in ``known_hosts`` plus ``stored``."""
    keys: list[asyncssh.SSHKey] = []
    if known_hosts.is_file():
        try:
            matches = asyncssh.match_known_hosts(str(known_hosts), address, address, port if port != 22 else None)
            keys.extend(matches[0])
        except (OSError, ValueError) as error:
            logger.warning("known_hosts file unreadable path=%s error=%s", known_hosts, error)

    try:
        stored_key = parse_host_key(stored)
    except ValueError as error:
        logger.warning("stored host key invalid address=%s error=%s", address, error)
        stored_key = None
    if stored_key is not None:
        keys.append(stored_key)
    return keys


class HostKeyClient(asyncssh.SSHClient):
    """An SSH client that records the host key it saw and accepts an unknown one only when told.

    asyncssh calls ``validate_host_public_key`` only for a key outside the trusted list, so
    returning ``accept_unknown`` there implements trust on first use.
    """

    def __init__(self, accept_unknown: bool) -> None:
        self.accept_unknown = accept_unknown
        self.seen_key: asyncssh.SSHKey | None = None
        self.accepted_unknown = False
        self.closed = False

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.seen_key = key
        self.accepted_unknown = self.accept_unknown
        return self.accept_unknown

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
