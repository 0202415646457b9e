"""Encryption at rest of the SSH secrets of each node, with Fernet and ``HFD_SECRET_KEY``."""

import json
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken


class SecretDecryptionError(Exception):
    """The stored secret could not be decrypted: ``HFD_SECRET_KEY`` changed or the row is corrupt."""


class CredentialsUnavailable(Exception):
    """A node's inherited login cannot be used; ``reason`` gives the cause in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NodeSecret:
    """The login secret of one node: a password, a private key (PEM or OpenSSH text), or both."""

    password: str | None = None
    private_key: str | None = None

    def __repr__(self) -> str:  # keeps secrets out of logs and tracebacks
        password = "***" if self.password else None
        private_key = "***" if self.private_key else None
        return f"NodeSecret(password={password}, private_key={private_key})"


class SecretBox:
    """Encrypts and decrypts ``NodeSecret`` values as one Fernet token."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def encrypt(self, secret: NodeSecret) -> bytes:
        plain = json.dumps({"password": secret.password, "private_key": secret.private_key}).encode()
        return self._fernet.encrypt(plain)

    def decrypt(self, token: bytes | None) -> NodeSecret:
        if not token:
            return NodeSecret()
        try:
            values = json.loads(self._fernet.decrypt(token))
        except (InvalidToken, ValueError) as error:
            raise SecretDecryptionError("stored SSH secret cannot be decrypted with HFD_SECRET_KEY") from error
        return NodeSecret(password=values.get("password"), private_key=values.get("private_key"))
