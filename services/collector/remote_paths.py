"""Remote path rules: the normal form of a node path and the directories that commands may touch."""

import posixpath
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo
from pydantic_core import PydanticCustomError

MAX_PATH_LENGTH = 1024
# Characters allowed in a remote path. Hadoop log and temporary paths need no others, and
# rejecting spaces, '%', quotes and every shell metacharacter keeps encoded traversal out.
_SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9._,+=@:/-]*$")


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


def _check_log_file(value: str, info: ValidationInfo) -> str:
    path = normalise_path(value)
    if not any(is_within(path, root, allow_equal=False) for root in _scope(info).log_dirs):
        raise PydanticCustomError("path_outside_log_dirs", "path is outside the node's log directories")
    return path


def _check_log_dir(value: str, info: ValidationInfo) -> str:
    path = normalise_path(value)
    if not any(is_within(path, root, allow_equal=True) for root in _scope(info).log_dirs):
        raise PydanticCustomError("path_outside_log_dirs", "path is outside the node's log directories")
    return path


def _check_temp_dir(value: str, info: ValidationInfo) -> str:
    path = normalise_path(value)
    if not any(is_within(path, root, allow_equal=True) for root in _scope(info).temp_roots):
        raise PydanticCustomError("path_outside_temp_roots", "path is outside the configured temporary roots")
    return path


AbsolutePath = Annotated[str, AfterValidator(normalise_path)]
LogFilePath = Annotated[str, AfterValidator(_check_log_file)]
LogDirPath = Annotated[str, AfterValidator(_check_log_dir)]
TempDirPath = Annotated[str, AfterValidator(_check_temp_dir)]
