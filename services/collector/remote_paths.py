"""Remote path rules: the normal form of a node path and the directories that commands may touch."""

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo
from pydantic_core import PydanticCustomError

MAX_PATH_LENGTH = 1024
# Characters allowed in a remote path. Hadoop log and temporary paths need no others, and
# rejecting spaces, '%', quotes and every shell metacharacter keeps encoded traversal out.
_SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9._,+=@:/-]*$")
# Validation errors (code, message) of a path outside the allowed directories.
_OUTSIDE_LOG_DIRS = ("path_outside_log_dirs", "path is outside the node's log directories")
_OUTSIDE_TEMP_ROOTS = ("path_outside_temp_roots", "path is outside the configured temporary roots")


@dataclass(frozen=True)
class NodeScope:
    """Directories that commands may touch on one node, already in normal form."""

    log_dirs: tuple[str, ...]
    temp_roots: tuple[str, ...] = ()


def normalise_path(value: str) -> str:
    """Return the normal form of an absolute remote path, or raise ``PydanticCustomError``.

    Rejects NUL and control characters, relative paths, any ``..`` component (even one that
    would stay inside a directory after normalisation) and characters outside a small set.
    """
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PydanticCustomError("path_control_character", "path contains a control character")
    if not value.startswith("/"):
        raise PydanticCustomError("path_not_absolute", "path is not absolute")
    if len(value) > MAX_PATH_LENGTH:
        raise PydanticCustomError("path_too_long", "path is too long", {"max": MAX_PATH_LENGTH})
    if ".." in value.split("/"):
        raise PydanticCustomError("path_traversal", "path contains ..")
    if not _SAFE_PATH_RE.fullmatch(value):
        raise PydanticCustomError("path_invalid_characters", "path contains characters that are not allowed")

    normal = posixpath.normpath(value)
    return "/" + normal.lstrip("/")


def is_within(path: str, root: str, *, allow_equal: bool) -> bool:
    """Return whether normal path ``path`` is ``root`` itself (when allowed) or below it."""
    root = root.rstrip("/") or "/"
    if path == root:
        return allow_equal
    return path.startswith(root if root == "/" else root + "/")


def _scope(info: ValidationInfo) -> NodeScope:
    scope = (info.context or {}).get("scope")
    if not isinstance(scope, NodeScope):
        # Fail closed: a path argument can only be checked against a node's directories.
        raise PydanticCustomError("path_outside_log_dirs", "no node scope to check the path against")
    return scope


def _path_within(value: str, roots: Iterable[str], *, allow_equal: bool, error: tuple[str, str]) -> str:
    """Return ``value`` normalised, or raise the validation ``error`` when it is under none of ``roots``."""
    path = normalise_path(value)
    if not any(is_within(path, root, allow_equal=allow_equal) for root in roots):
        raise PydanticCustomError(*error)
    return path


def _check_log_file(value: str, info: ValidationInfo) -> str:
    return _path_within(value, _scope(info).log_dirs, allow_equal=False, error=_OUTSIDE_LOG_DIRS)


def _check_log_dir(value: str, info: ValidationInfo) -> str:
    return _path_within(value, _scope(info).log_dirs, allow_equal=True, error=_OUTSIDE_LOG_DIRS)


def _check_temp_dir(value: str, info: ValidationInfo) -> str:
    return _path_within(value, _scope(info).temp_roots, allow_equal=True, error=_OUTSIDE_TEMP_ROOTS)


AbsolutePath = Annotated[str, AfterValidator(normalise_path)]
LogFilePath = Annotated[str, AfterValidator(_check_log_file)]
LogDirPath = Annotated[str, AfterValidator(_check_log_dir)]
TempDirPath = Annotated[str, AfterValidator(_check_temp_dir)]
