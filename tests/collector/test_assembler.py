"""Record assembly and batching without SSH: boundaries, held lines, replay with stored cuts."""

import json
from datetime import UTC, datetime, timedelta, timezone

from libs.common.events import LogBatch, LogEntry
from services.collector.assembler import Record, RecordAssembler, make_batches
from services.collector.node_target import NodeTarget
from services.collector.publisher import encode_log_batch
from tests.collector.conftest import header_line, stack_trace

TEXT = "".join(stack_trace(n) if n % 5 == 0 else header_line(n) for n in range(1, 41)).encode()


def assemble(data: bytes, chunk: int, *, offset: int = 0, cuts=()) -> list:
    assembler = RecordAssembler(offset, max_record_bytes=4096, cuts=cuts)
    records = []
    for start in range(0, len(data), chunk):
        records.extend(assembler.feed(data[start : start + chunk]))
    records.extend(assembler.flush())
    return records


def test_assembler_same_records_any_chunking():
    whole = assemble(TEXT, len(TEXT))
    for chunk in (1, 7, 64, 1000):
        pieces = assemble(TEXT, chunk)
        assert [(r.offset, r.length, r.text) for r in pieces] == [(r.offset, r.length, r.text) for r in whole]


def test_assembler_offsets_cover_file():
    records = assemble(TEXT, 100)
    assert records[0].offset == 0
    for before, after in zip(records, records[1:], strict=False):
        assert before.end == after.offset
    assert records[-1].end == len(TEXT)
    assert len(records) == 40


def test_assembler_keeps_stack_trace_whole():
    records = assemble(TEXT, 13)
    trace = next(record for record in records if record.level == "ERROR")
    assert trace.text == stack_trace(5).rstrip("\n")
    assert trace.logger == "org.apache.hadoop.hdfs.server.datanode.DataNode"


def test_assembler_holds_unterminated_line():
    assembler = RecordAssembler(0, max_record_bytes=4096)
    first = assembler.feed(header_line(1).encode() + header_line(2).encode()[:20])
    flushed = assembler.flush()
    rest = assembler.feed(header_line(2).encode()[20:])
    last = assembler.flush()
    assert first == [], "record 1 may still get continuation lines"
    assert [record.text for record in flushed] == [header_line(1).strip()], "the partial line was flushed"
    assert rest == []
    assert [record.text for record in last] == [header_line(2).strip()]


def test_assembler_holds_record_until_next_header():
    assembler = RecordAssembler(0, max_record_bytes=4096)
    early = assembler.feed(stack_trace(1).encode())
    later = assembler.feed(header_line(2).encode())
    assert early == []
    assert [record.text for record in later] == [stack_trace(1).rstrip("\n")]
    assert assembler.holds_record


def test_assembler_lines_before_header_are_records():
    data = b"banner line one\nbanner line two\n" + header_line(1).encode()
    records = assemble(data, len(data))
    assert [record.text for record in records] == ["banner line one", "banner line two", header_line(1).strip()]
    assert records[0].level is None


def test_assembler_cuts_long_line():
    assembler = RecordAssembler(0, max_record_bytes=1024)
    records = assembler.feed(b"x" * 3000)
    assert [record.length for record in records] == [3000]


def test_assembler_finish_emits_last_line():
    assembler = RecordAssembler(0, max_record_bytes=4096)
    assembler.feed(header_line(1).encode() + b"2026-12-04 10:00:02,000 INFO a.B: no newline")
    records = assembler.finish()
    assert [record.text for record in records] == [
        header_line(1).strip(),
        "2026-12-04 10:00:02,000 INFO a.B: no newline",
    ]


def test_replay_with_cuts_rebuilds_batches():
    """A group flushed early (quiet time) is rebuilt with the same boundaries after a restart."""
    assembler = RecordAssembler(0, max_record_bytes=4096)
    early = assembler.feed(TEXT[:1500]) + assembler.flush()
    original = make_batches(early, max_records=3, max_bytes=10_000)
    starts = [batch[0].offset for batch in original]
    end = original[-1][-1].end

    replayed = assemble(TEXT, len(TEXT), cuts=[*starts[1:], end])
    rebuilt = make_batches(replayed, max_records=3, max_bytes=10_000, starts=[*starts, end])
    assert [batch[0].offset for batch in rebuilt[: len(original)]] == starts
    assert [[r.text for r in batch] for batch in rebuilt[: len(original)]] == [
        [r.text for r in batch] for batch in original
    ]
    assert rebuilt[len(original)][0].offset == end


def test_make_batches_limits():
    records = assemble(TEXT, len(TEXT))
    batches = make_batches(records, max_records=7, max_bytes=600)
    assert all(len(batch) <= 7 for batch in batches)
    assert all(sum(len(r.text) for r in batch) <= 600 or len(batch) == 1 for batch in batches)
    assert [r for batch in batches for r in batch] == records


def test_encoded_batch_matches_model():
    records = assemble(TEXT, len(TEXT))[:5]
    target = NodeTarget("c-uuid", "c", "n-uuid", "dn1", "127.0.0.2", 22, "hadoop")
    encoded = LogBatch.model_validate_json(
        encode_log_batch(target, path="/logs/x.log", inode=42, log_type="datanode", records=records)
    )
    expected = [
        LogEntry(offset=r.offset, length=r.length, text=r.text, timestamp=r.timestamp, level=r.level, logger=r.logger)
        for r in records
    ]
    assert encoded.entries == expected
    assert (encoded.cluster, encoded.node, encoded.file, encoded.inode) == ("c-uuid", "dn1", "/logs/x.log", 42)
    assert encoded.collected_at.tzinfo is not None


def test_encoded_batch_bytes_match_stdlib_json():
    stamps = [
        datetime(2015, 10, 18, 18, 1, 47, 978000, tzinfo=UTC),
        datetime(2015, 10, 18, 18, 1, 48, tzinfo=UTC),
        datetime(2015, 10, 18, 18, 1, 49, 5000, tzinfo=timezone(timedelta(hours=8))),
        None,
    ]
    records = [
        Record(
            offset=index * 100, length=100, text=f'日志 "{index}"\n\tat x', timestamp=stamp, level="WARN", logger="a.B"
        )
        for index, stamp in enumerate(stamps)
    ]
    target = NodeTarget("c-uuid", "c", "n-uuid", "dn1", "127.0.0.2", 22, "hadoop")

    encoded = encode_log_batch(target, path="/logs/x.log", inode=42, log_type="datanode", records=records)

    batch = json.loads(encoded)
    expected = [stamp.isoformat() if stamp else None for stamp in stamps]
    assert [entry["timestamp"] for entry in batch["entries"]] == expected
    assert encoded == json.dumps(batch, ensure_ascii=False, separators=(",", ":")).encode()
