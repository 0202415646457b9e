"""Remote file commands of the tailer: listing log files, ``stat`` and finding an inode.

Every command is an argv run through ``SshPool``; paths are data, never shell text.
"""

import logging
import posixpath
import re

from libs.common.log_dirs import allowed_log_dirs
from libs.common.logformat import log_type_from_filename
from services.collector.ssh import SshPool

logger = logging.getLogger(__name__)

LIST_TIMEOUT = 30.0
# A live log file: Hadoop daemon logs (.log), their stdout captures (.out) and audit logs.
_LIVE_NAME = re.compile(r"(\.log|\.out|\.audit|audit\.log)$")
_CONTAINER_FILES = {"syslog", "stderr", "stdout", "syslog.shuffle", "prelaunch.err", "prelaunch.out"}


def classify(path: str, log_dir: str) -> str | None:
    """Return the log type of ``path`` under ``log_dir``, or None when it is not a live log file.

    Files directly in the folder count when their name ends in ``.log``, ``.out`` or ``.audit``.
    Rotated siblings (``x.log.1``) do not count, because they are read only to finish a rotation.
    YARN container logs count under ``userlogs/<application>/<container>/``.
    """
    relative = posixpath.relpath(path, log_dir)
    parts = relative.split("/")
    if len(parts) == 1:
        return log_type_from_filename(parts[0]) if _LIVE_NAME.search(parts[0]) else None
    if len(parts) == 4 and parts[0] == "userlogs" and parts[2].startswith("container_"):
        return "container" if parts[3] in _CONTAINER_FILES else None
    return None


async def confine_log_dirs(pool: SshPool, node_uuid: str, log_dirs: list[str]) -> tuple[list[str], list[str]]:
    """Split ``log_dirs`` by their real paths on the node into folders to follow and rejected folders.

    A folder such as ``/data/logs`` passes the log folder rule by name even when ``/data`` is
    a symbolic link to ``/etc``, so each folder's real path (``realpath -m``) must pass it too.
    The folders to follow keep their names, so stored positions stay valid when a link is benign.
    Raises ``RuntimeError`` when the real paths cannot be read, so nothing is followed unchecked.
    """
    if not log_dirs:
        return [], []
    # realpath, not the policy's readlink, so that a node's command log distinguishes the two checks.
    result = await pool.run(node_uuid, ["realpath", "-m", "-z", "--", *log_dirs], timeout=LIST_TIMEOUT)
    real_paths = result.stdout.split("\0")[:-1]
    if result.exit_code != 0 or len(real_paths) != len(log_dirs):
        raise RuntimeError(
            f"realpath of the log folders failed with exit code {result.exit_code}, so no folder is listed: "
            f"{result.stderr[:200]}"
        )

    follow: list[str] = []
    rejected: list[str] = []
    for folder, real_path in zip(log_dirs, real_paths, strict=True):
        _, broken = allowed_log_dirs([real_path])
        if broken:
            rejected.append(folder)
        else:
            follow.append(folder)
    return follow, rejected


async def list_log_files(pool: SshPool, node_uuid: str, log_dirs: list[str]) -> dict[str, str]:
    """Return ``{path: log_type}`` for the live log files in ``log_dirs`` of the node."""
    if not log_dirs:
        return {}
    result = await pool.run(
        node_uuid,
        # -H follows a folder that is itself a link (/var/log/hadoop to /data/logs), whose real path
        # confine_log_dirs checked, and no link below it.
        ["find", "-H", *log_dirs, "-maxdepth", "4", "-type", "f"],
        timeout=LIST_TIMEOUT,
        max_output=8 * 1_048_576,
    )
    if result.exit_code not in (0, 1) or result.truncated:
        logger.warning(
            "log file listing incomplete node=%s exit_code=%s truncated=%s stderr=%s",
            node_uuid,
            result.exit_code,
            result.truncated,
            result.stderr[:200],
        )

    files: dict[str, str] = {}
    for line in result.stdout.splitlines():
        for log_dir in log_dirs:
            if line.startswith(log_dir.rstrip("/") + "/"):
                log_type = classify(line, log_dir)
                if log_type is not None:
                    files[line] = log_type
                break
    return files


async def stat_files(pool: SshPool, node_uuid: str, paths: list[str], *, timeout: float) -> dict[str, tuple[int, int]]:
    """Return ``{path: (inode, size)}`` from one ``stat`` of all ``paths``; missing files are left out."""
    if not paths:
        return {}
    result = await pool.run_binary(
        node_uuid, ["stat", "-L", "-c", "%i %s %n", "--", *paths], timeout=timeout, max_output=8 * 1_048_576
    )
    stats: dict[str, tuple[int, int]] = {}
    for line in result.stdout.decode("utf-8", errors="surrogateescape").splitlines():
        fields = line.split(" ", 2)
        if len(fields) == 3 and fields[0].isdigit() and fields[1].isdigit():
            stats[fields[2]] = (int(fields[0]), int(fields[1]))
    return stats


async def find_inode(pool: SshPool, node_uuid: str, path: str, inode: int) -> str | None:
    """Return the file in ``path``'s folder that has ``inode`` now (a rotated copy), or None."""
    folder = posixpath.dirname(path) or "/"
    result = await pool.run(
        node_uuid,
        ["find", "-H", folder, "-maxdepth", "1", "-type", "f", "-inum", str(inode)],
        timeout=LIST_TIMEOUT,
    )
    for line in result.stdout.splitlines():
        if line and line != path:
            return line
    return None
