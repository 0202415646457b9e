"""The ground truth of the run: the demo nodes' log files, compared with the ``LOGS`` stream.

A record in the stream is identified by (node, file, inode, offset). Every live log file that
the collector follows must be covered by records from offset 0 to its size, each record's
text equal to the file's bytes at that place, with no record twice and no message id twice.
"""

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.common.events import LogBatch
from services.collector.discovery import classify


@dataclass
class StreamMessage:
    seq: int
    msg_id: str
    data: bytes


async def read_stream(
    js: JetStreamContext, stream: str, subject: str, idle_timeout: float = 5.0
) -> list[StreamMessage]:
    """Return every message on ``subject`` in ``stream`` at the time of the read, in stream order."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, filter_subject=subject)
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True, config=config)
    messages: list[StreamMessage] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=idle_timeout)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
            messages.append(StreamMessage(msg.metadata.sequence.stream, msg_id, msg.data))
            if msg.metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    return messages


@dataclass(frozen=True)
class LiveFile:
    """A log file on a demo node that the collector follows, as it is on disk at the end."""

    node: str
    path: str
    inode: int
    data: bytes


def live_files(manifest) -> list[LiveFile]:
    """Return the files of every node's log folders that the collector's discovery would follow."""
    files = []
    for node in manifest.nodes:
        for log_dir in node.log_dirs:
            for root, _dirs, names in os.walk(log_dir):
                for name in names:
                    path = str(Path(root) / name)
                    if classify(path, str(log_dir)) is None:
                        continue
                    stat = os.stat(path)
                    files.append(LiveFile(node.name, path, stat.st_ino, Path(path).read_bytes()))
    return files


def record_text(raw: bytes) -> str:
    """Return a record's text as the collector's assembler makes it from the record's bytes."""
    return raw.decode("utf-8", errors="replace").rstrip("\r\n").replace("\r\n", "\n")


@dataclass
class RecordReport:
    """What differs between the stream and the files; every list is empty on a clean run."""

    batches: int = 0
    records: int = 0
    files: int = 0
    file_bytes: int = 0
    duplicate_msg_ids: list[str] = field(default_factory=list)
    repeated_positions: list[tuple] = field(default_factory=list)
    gaps: list[tuple] = field(default_factory=list)
    text_mismatches: list[tuple] = field(default_factory=list)
    short_files: list[tuple] = field(default_factory=list)
    files_without_records: list[tuple] = field(default_factory=list)
    records_of_other_inodes: int = 0


def compare_records(messages: list[StreamMessage], files: list[LiveFile]) -> tuple[RecordReport, list[LogBatch]]:
    """Compare the stream's log batches with the files; return the report and the batches in stream order."""
    report = RecordReport(files=len(files), file_bytes=sum(len(item.data) for item in files))
    batches = [LogBatch.model_validate_json(message.data) for message in messages]
    report.batches = len(batches)
    report.records = sum(len(batch.entries) for batch in batches)

    ids = Counter(message.msg_id for message in messages)
    report.duplicate_msg_ids = sorted(msg_id for msg_id, count in ids.items() if count > 1)

    by_file: dict[tuple[str, str, int], list] = defaultdict(list)
    for batch in batches:
        by_file[(batch.node, batch.file, batch.inode)].extend(batch.entries)
    positions = Counter(
        (key, entry.offset) for key, entries in by_file.items() for entry in entries
    )
    report.repeated_positions = sorted(position for position, count in positions.items() if count > 1)

    live_keys = set()
    for item in files:
        key = (item.node, item.path, item.inode)
        live_keys.add(key)
        entries = sorted(by_file.get(key, []), key=lambda entry: entry.offset)
        if not entries:
            if item.data:
                report.files_without_records.append((item.node, item.path, len(item.data)))
            continue
        expected = 0
        for entry in entries:
            if entry.offset != expected:
                report.gaps.append((item.node, item.path, expected, entry.offset))
            raw = item.data[entry.offset : entry.offset + entry.length]
            if record_text(raw) != entry.text:
                report.text_mismatches.append((item.node, item.path, entry.offset))
            expected = entry.offset + entry.length
        if expected != len(item.data):
            report.short_files.append((item.node, item.path, expected, len(item.data)))
    report.records_of_other_inodes = sum(len(entries) for key, entries in by_file.items() if key not in live_keys)
    return report, batches
