"""SSH keys of a demo cluster: one host key per node and the collector's client key pair.

Keys are created once in the cluster folder and read back on later runs, so a restarted
cluster presents the same host keys and accepts the same client key.
"""

import os
from pathlib import Path

import asyncssh

KEY_ALGORITHM = "ssh-ed25519"


def load_or_create_key(path: Path, comment: str) -> asyncssh.SSHKey:
    """Read the private key at ``path``, or generate an Ed25519 key there (mode 0600) with a
    ``.pub`` file beside it."""
    if path.exists():
        return asyncssh.read_private_key(path)

    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key(KEY_ALGORITHM, comment=comment)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.export_private_key())
    public_path(path).write_bytes(key.export_public_key())
    return key


def public_path(private_path: Path) -> Path:
    return private_path.with_name(f"{private_path.name}.pub")


def public_key_text(key: asyncssh.SSHKey) -> str:
    """Return ``TYPE BASE64`` of a key, without its comment."""
    algorithm, data = key.export_public_key("openssh").decode().split()[:2]
    return f"{algorithm} {data}"


def known_hosts_line(address: str, port: int, key: asyncssh.SSHKey) -> str:
    """Return the OpenSSH known_hosts line for a host key served at ``address:port``."""
    host = address if port == 22 else f"[{address}]:{port}"
    return f"{host} {public_key_text(key)}"
