"""The rule for a node's log folder, shared by inventory, the collector and the collector's folder probe.

A log folder is more than a place to tail, because read-log, the log views and the command
policy let a caller read any file under a node's log folders. So a folder must be a plain
absolute path (``normalise_log_dir``). It must also open no part of the operating system and
no user's secrets (``is_forbidden_log_dir``). ``check_log_dir`` applies both and raises ``PydanticCustomError``
whose type is a message code of ``libs.common.i18n``: ``invalid_log_dir`` or ``forbidden_log_dir``.
"""

import posixpath
import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from pydantic_core import PydanticCustomError

MAX_LOG_DIR_LENGTH = 1024
# Log folders reach commands on the nodes, so only these characters are accepted: no whitespace,
# quotes, '$', '`', ';', '|', '&', '<', '>', '*', '?', '~', '%', brackets or NUL. The collector's
# command policy (services/collector/remote_paths.py) accepts the same characters and length.
LOG_DIR_PATTERN = re.compile(r"^/[A-Za-z0-9._+@=,:/-]*$")

# Trees of the operating system: programs, libraries, configuration with password hashes and
# keys, root's home, the kernel's and processes' views, and the state of packages, services,
# mail and cron. A log folder may not be one of them or lie inside one.
SYSTEM_TREES = (
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/root",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/libexec",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/run",
    "/var/run",
    "/var/lib",
    "/var/spool",
    "/var/mail",
    "/var/backups",
)
# Folders that contain a system tree, so that a log folder equal to one would open it. Files
# below them in other trees, such as /usr/local/hadoop/logs or /var/log/hadoop, are allowed.
SYSTEM_TREE_PARENTS = tuple(
    sorted({str(parent) for tree in SYSTEM_TREES for parent in PurePosixPath(tree).parents} - set(SYSTEM_TREES))
)
# Folders shared by unrelated owners. A log folder may lie inside them but not be one of them.
SHARED_FOLDERS = ("/home", "/tmp", "/var/tmp")  # noqa: S108 - names of folders to reject, not temp files
# A user's home directory contains their SSH keys and shell history.
_HOME_DIRECTORY = re.compile(r"^/home/[^/]+$")


def normalise_log_dir(value: str) -> str:
    """Return the normal form of an absolute folder path without ``..``, or raise ``invalid_log_dir``.

    The normal form has no repeated, trailing or ``.`` components, so ``//etc/./`` reads ``/etc``.
    """
    if len(value) > MAX_LOG_DIR_LENGTH or not LOG_DIR_PATTERN.match(value) or ".." in value.split("/"):
        raise PydanticCustomError("invalid_log_dir", "invalid log directory")
    # posixpath keeps two leading slashes ("//etc"), which name the same folder on Linux.
    return "/" + posixpath.normpath(value).lstrip("/")


def is_forbidden_log_dir(folder: str) -> bool:
    """Return whether the normalised ``folder`` would open a system tree or a user's secrets."""
    if folder == "/" or folder in SYSTEM_TREE_PARENTS or folder in SHARED_FOLDERS:
        return True
    if any(folder == tree or folder.startswith(tree + "/") for tree in SYSTEM_TREES):
        return True
    if _HOME_DIRECTORY.match(folder):
        return True
    # Hidden folders (.ssh, .gnupg, .aws, .kube) contain keys and credentials, and Hadoop does not log there.
    return any(part.startswith(".") for part in folder.split("/"))


def check_log_dir(value: str) -> str:
    """Return the normal form of a log folder, or raise ``invalid_log_dir`` or ``forbidden_log_dir``."""
    folder = normalise_log_dir(value)
    if is_forbidden_log_dir(folder):
        raise PydanticCustomError("forbidden_log_dir", "log directory is a system folder or contains one")
    return folder


def allowed_log_dirs(values: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split stored folders into those that pass ``check_log_dir`` (normalised) and those that do not.

    Folders stored before a rule existed can break it, so every reader of stored folders
    drops the failing ones instead of trusting the store.
    """
    allowed: list[str] = []
    rejected: list[str] = []
    for value in values:
        try:
            folder = check_log_dir(str(value))
        except PydanticCustomError:
            rejected.append(str(value))
            continue
        if folder not in allowed:
            allowed.append(folder)
    return allowed, rejected
