"""Random secrets for development installs, created once and kept in ``var/``.

Production refuses to start without explicit secrets; development gets random ones that are
stable across restarts, so tokens and encrypted SSH secrets survive a restart of ``hfd run``.
"""

import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def load_or_create_dev_secrets(path: Path) -> dict[str, str]:
    """Read the development secrets file, creating it with mode 0600 when missing."""
    if path.exists():
        return json.loads(path.read_text())

    path.parent.mkdir(parents=True, exist_ok=True)
    values = {"jwt_secret": secrets.token_urlsafe(48), "secret_key": Fernet.generate_key().decode()}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
    except FileExistsError:
        return json.loads(path.read_text())
    return values
