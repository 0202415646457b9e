"""Turning the bytes of one log file into complete log records, and records into batches.

Bytes are fed in file order. A line is used only once its newline has arrived. A record is a
header line (``libs.common.logformat.header_fields``) and the continuation lines that follow
it, such as a stack trace. It is complete when the next header line arrives, when the caller
flushes it after a quiet time, or when the file is finished. A line that comes before any
header, or after a record was flushed, is a record of its own.

Record and batch boundaries depend only on the bytes and on the cut offsets given to the
assembler, so re-reading a file from a stored offset with the stored cuts rebuilds the same
batches, with the same message ids.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from libs.common.logformat import header_fields

# The timestamp, level and logger of a header line.
HeaderFields = tuple[datetime | None, str, str]


@dataclass(slots=True)
class Record:
    """One complete record: where it sits in the file and its parsed header fields."""

    offset: int
    length: int
    text: str
    timestamp: datetime | None = None
    level: str | None = None
    logger: str | None = None

    @property
    def end(self) -> int:
        return self.offset + self.length


class RecordAssembler:
    """Assemble the records of one file (one inode) from ``offset`` on.

    ``cuts`` are offsets at which a record must end even without a following header. They
    come from the batch boundaries of a publish that was not committed before a restart.
    """

    def __init__(self, offset: int, *, max_record_bytes: int, cuts: Iterable[int] = ()) -> None:
        self.position = offset
        self.max_record_bytes = max_record_bytes
        self._cuts = set(cuts)
        self._partial = bytearray()
        self._record_start: int | None = None
        self._record_lines: list[bytes] = []
        self._record_size = 0
        self._header: HeaderFields | None = None

    @property
    def held_from(self) -> int:
        """Offset of the first byte not yet part of an emitted record."""
        if self._record_start is not None:
            return self._record_start
        return self.position - len(self._partial)

    @property
    def holds_record(self) -> bool:
        return self._record_start is not None

    def feed(self, data: bytes) -> list[Record]:
        """Add the next bytes of the file and return the records they complete."""
        records: list[Record] = []
        line_start = self.position - len(self._partial)
        self._partial.extend(data)
        self.position += len(data)

        buffer = self._partial
        cursor = 0
        while True:
            newline = buffer.find(b"\n", cursor)
            if newline < 0:
                break
            line = bytes(buffer[cursor : newline + 1])
            self._add_line(line, line_start, records)
            line_start += len(line)
            cursor = newline + 1
        del buffer[:cursor]

        if len(buffer) >= self.max_record_bytes:
            # An unterminated line this long is not a log line still being written; emit it.
            line = bytes(buffer)
            buffer.clear()
            self._add_line(line, line_start, records)
        return records

    def flush(self) -> list[Record]:
        """Complete the held record; an unterminated line stays held until its newline."""
        records: list[Record] = []
        self._complete(records)
        return records

    def finish(self) -> list[Record]:
        """Complete everything, the unterminated last line included: the file will not grow."""
        records = self.flush()
        if self._partial:
            line = bytes(self._partial)
            start = self.position - len(line)
            self._partial.clear()
            self._add_line(line, start, records)
            self._complete(records)
        return records

    def _add_line(self, line: bytes, start: int, records: list[Record]) -> None:
        header = _header_of(line)
        continues = (
            header is None
            and self._header is not None
            and start not in self._cuts
            and self._record_size + len(line) <= self.max_record_bytes
        )
        if continues:
            self._record_lines.append(line)
            self._record_size += len(line)
        else:
            self._complete(records)
            self._record_start, self._record_lines, self._record_size = start, [line], len(line)
            self._header = header
            if header is None:
                # A line without a header never takes continuation lines, so it is complete now.
                self._complete(records)

        if start + len(line) in self._cuts:
            self._complete(records)

    def _complete(self, records: list[Record]) -> None:
        if self._record_start is None:
            return
        raw = b"".join(self._record_lines)
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n").replace("\r\n", "\n")
        header = self._header
        if header is None:
            record = Record(offset=self._record_start, length=len(raw), text=text)
        else:
            timestamp, level, logger_name = header
            record = Record(self._record_start, len(raw), text, timestamp, level, logger_name or None)
        records.append(record)
        self._record_start, self._record_lines, self._record_size, self._header = None, [], 0, None


def _header_of(line: bytes) -> HeaderFields | None:
    if not line[:1].isdigit():
        return None
    return header_fields(line.decode("utf-8", errors="replace"))


def make_batches(
    records: list[Record], *, max_records: int, max_bytes: int, starts: Iterable[int] = ()
) -> list[list[Record]]:
    """Split consecutive records into batches of at most ``max_records`` and about ``max_bytes``.

    A batch also starts at every offset in ``starts``. A single record larger than
    ``max_bytes`` travels alone.
    """
    forced = set(starts)
    batches: list[list[Record]] = []
    current: list[Record] = []
    size = 0
    for record in records:
        record_size = len(record.text)
        full = len(current) >= max_records or (current and size + record_size > max_bytes)
        if current and (full or record.offset in forced):
            batches.append(current)
            current, size = [], 0
        current.append(record)
        size += record_size
    if current:
        batches.append(current)
    return batches
