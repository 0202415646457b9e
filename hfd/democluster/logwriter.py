"""Append-only log files that rotate the way Hadoop deployments rotate them.

``rename`` follows log4j 1.2's RollingFileAppender (Hadoop's RFA appender). After a write
that brings the file to ``max_bytes`` or more, ``x.log.(N-1)`` becomes ``x.log.N`` and so
on down to ``x.log``, which becomes ``x.log.1``. Then a new empty ``x.log`` is opened. The
file a reader has open keeps its inode but gets no more lines.
``copytruncate`` follows logrotate's option of that name: the backups shift the same way,
``x.log`` is copied to ``x.log.1`` and then truncated in place, so the inode stays the
same and its size drops to zero.
"""

import logging
import os
import shutil
from pathlib import Path
from typing import Literal

from hfd.democluster.daemons import YARN_DAEMONS

logger = logging.getLogger(__name__)

RotationStyle = Literal["rename", "copytruncate"]


def rotation_style(mode: str, daemon: str | None) -> RotationStyle:
    """Return the rotation style of one log file; ``mixed`` gives YARN daemons copytruncate and
    everything else rename, so a collector meets both on one cluster."""
    if mode == "mixed":
        return "copytruncate" if daemon in YARN_DAEMONS else "rename"
    if mode not in ("rename", "copytruncate"):
        raise ValueError(f"invalid rotation mode {mode!r}: use rename, copytruncate or mixed")
    return mode


class LogWriter:
    """One log file, opened for append, flushed after every record."""

    def __init__(self, path: Path, max_bytes: int, backup_count: int, style: RotationStyle) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self.style = style
        self.rotations = 0
        self._file = None

    def write(self, text: str) -> None:
        """Append text (whole lines, ending in a newline) and rotate if the size limit is reached."""
        data = text.encode("utf-8", errors="surrogateescape")
        handle = self._open()
        handle.write(data)

        size = os.fstat(handle.fileno()).st_size
        if size >= self.max_bytes:
            self.rotate()

    def rotate(self) -> None:
        """Rotate now, whatever the size."""
        self._shift_backups()

        if self.style == "rename":
            self.close()
            if self.path.exists():
                os.replace(self.path, self._backup(1))
            # log4j creates the new file at once, so the name never goes missing for long.
            self._open()
        else:
            handle = self._open()
            shutil.copyfile(self.path, self._backup(1))
            handle.truncate(0)

        self.rotations += 1
        logger.debug("rotated %s (%s), rotation %d", self.path, self.style, self.rotations)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self):
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Kept open between writes, as log4j keeps its appender's file open.
            self._file = open(self.path, "ab", buffering=0)
        return self._file

    def _backup(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def _shift_backups(self) -> None:
        oldest = self._backup(self.backup_count)
        if oldest.exists():
            oldest.unlink()

        for index in range(self.backup_count - 1, 0, -1):
            source = self._backup(index)
            if source.exists():
                os.replace(source, self._backup(index + 1))


def rotate_out_files(out_path: Path, keep: int = 5) -> None:
    """Shift ``x.out`` to ``x.out.1`` and so on, as Hadoop's daemon scripts do before a start."""
    for index in range(keep - 1, 0, -1):
        source = out_path.with_name(f"{out_path.name}.{index}")
        if source.exists():
            os.replace(source, out_path.with_name(f"{out_path.name}.{index + 1}"))

    if out_path.exists():
        os.replace(out_path, out_path.with_name(f"{out_path.name}.1"))
