"""Tailing the log files of one node by (inode, byte offset) into the ``LOGS`` stream.

Each poll runs one ``stat`` for all followed files of the node, reads the new bytes of each
over SFTP in bounded chunks, assembles records and publishes them. Before a publish the batch
boundaries are stored; after every acknowledgement the new offset is stored. A restart
therefore resumes at the last acknowledged record, and rebuilds any unacknowledged batches
with the same message ids, which JetStream drops when it already has them.

Rotation by rename (the path shows a new inode) finishes the old inode from the sibling that
now has it (``x.log.1``), then starts the new file at 0. Copy-truncate (same inode, smaller
size) finishes from the ``x.log.1`` copy when it contains bytes not read yet, then restarts at 0.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from libs.common.db import Database
from services.collector import discovery, service
from services.collector.assembler import Record, RecordAssembler, make_batches
from services.collector.config import CollectorSettings
from services.collector.node_target import NodeTarget
from services.collector.publisher import PreparedBatch, Publisher
from services.collector.service import PositionUpdate
from services.collector.ssh import SshPool
from services.collector.telemetry import BYTES_READ, BYTES_SKIPPED, RECORDS_COLLECTED, TAIL_LAG_BYTES

logger = logging.getLogger(__name__)

STAT_TIMEOUT = 30.0


@dataclass
class TrackedFile:
    """A followed file: its current inode, the committed offset and the records held in memory."""

    path: str
    log_type: str
    inode: int | None = None
    committed: int = 0
    generation: int = 0
    pending_starts: list[int] | None = None
    pending_end: int | None = None
    assembler: RecordAssembler | None = None
    last_growth: float = field(default_factory=time.monotonic)
    size: int = 0
    missing: bool = False

    def position(self) -> PositionUpdate:
        assert self.inode is not None
        return PositionUpdate(self.path, self.log_type, self.inode, self.committed, self.generation)


@dataclass
class _Output:
    file: TrackedFile
    records: list[Record]


class NodeTailer:
    """Follows the log files of one node; ``running_types`` returns the log types to collect."""

    def __init__(
        self,
        node_uuid: str,
        *,
        pool: SshPool,
        db: Database,
        publisher: Publisher,
        settings: CollectorSettings,
        log_dirs: Callable[[], list[str]],
        on_log_types: Callable[[str, set[str]], object],
    ) -> None:
        self.node_uuid = node_uuid
        self.pool = pool
        self.db = db
        self.publisher = publisher
        self.settings = settings
        self.log_dirs = log_dirs
        self.on_log_types = on_log_types
        self.files: dict[str, TrackedFile] = {}
        self._loaded = False
        self._discovered_at = 0.0
        self._listed_dirs: list[str] = []
        # Folders whose real path broke the rule at the last listing, so each change is logged once.
        self._rejected_dirs: list[str] = []
        self.backlog = False

    @property
    def target(self) -> NodeTarget:
        target = self.pool.node(self.node_uuid)
        if target is None:
            raise LookupError(f"node {self.node_uuid} was removed")
        return target

    async def load(self) -> None:
        """Read the stored positions, so followed files resume where they were acknowledged."""
        async with self.db.session() as session:
            rows = await service.load_positions(session, node_uuid=self.node_uuid)
        for row in rows.values():
            self.files[row.path] = TrackedFile(
                path=row.path,
                log_type=row.log_type,
                inode=row.inode,
                committed=row.offset,
                generation=row.generation,
                pending_starts=row.pending_starts,
                pending_end=row.pending_end,
            )
        self._loaded = True

    def resume_from_stored(self) -> None:
        """Forget the files held in memory, so that the next poll loads the stored positions and lists the files.

        Call it after a failed poll. A poll that fails after it read bytes (storing the batch
        boundaries failed, or SSH failed on a later file) contains records that were never
        published. The next poll reads them again from the stored positions, as a restarted
        collector does. A batch that was published already gets its old message id, so
        JetStream drops it.
        """
        self.files.clear()
        self._loaded = False
        self._discovered_at = 0.0
        self._listed_dirs = []
        self.backlog = False

    async def poll(self, running: set[str], stopping: asyncio.Event) -> bool:
        """Collect once from the files of ``running`` log types; return whether records were published."""
        if not self._loaded:
            await self.load()
        # A change of the log folders (set-log-dir) lists the files at once instead of at the next interval.
        due = time.monotonic() - self._discovered_at >= self.settings.discovery_interval
        if due or self.log_dirs() != self._listed_dirs:
            await self.discover()

        files = [item for item in self.files.values() if item.log_type in running]
        if not files:
            return False

        stats = await self._stat([item.path for item in files])
        outputs: list[_Output] = []
        for item in files:
            output = await self._read_file(item, stats.get(item.path), stopping)
            if output is not None and output.records:
                outputs.append(output)

        self._report_lag(files)
        self.backlog = any(
            item.assembler is not None and item.size > item.assembler.position and not item.missing for item in files
        )
        if outputs:
            await self._publish(outputs, stopping)
        return bool(outputs)

    async def discover(self) -> None:
        """List the node's log files and start following new ones."""
        configured = list(self.log_dirs())
        log_dirs, rejected = await discovery.confine_log_dirs(self.pool, self.node_uuid, configured)
        if rejected and rejected != self._rejected_dirs:
            logger.warning(
                "log folders ignored: their real path breaks the log folder rule node=%s folders=%s",
                self.target.name,
                ",".join(repr(folder)[:200] for folder in rejected),
            )
        self._rejected_dirs = rejected
        listed = await discovery.list_log_files(self.pool, self.node_uuid, log_dirs)
        self._discovered_at = time.monotonic()
        self._listed_dirs = configured
        new_types: set[str] = set()
        for path, log_type in listed.items():
            if path not in self.files:
                self.files[path] = TrackedFile(path=path, log_type=log_type)
                new_types.add(log_type)
                logger.info("log file found node=%s path=%s log_type=%s", self.target.name, path, log_type)

        for path in [path for path, item in self.files.items() if path not in listed and item.missing]:
            logger.info("log file gone node=%s path=%s", self.target.name, path)
            del self.files[path]
        # Files outside the current folders stop being followed; their stored positions stay,
        # so a folder set back later resumes where it was acknowledged.
        for path in [path for path in self.files if path not in listed and not _inside(path, log_dirs)]:
            logger.info("log file no longer in the log folders node=%s path=%s", self.target.name, path)
            del self.files[path]

        known_types = {item.log_type for item in self.files.values()}
        result = self.on_log_types(self.node_uuid, known_types)
        if asyncio.iscoroutine(result):
            await result

    # One file

    async def _read_file(
        self, item: TrackedFile, stat: tuple[int, int] | None, stopping: asyncio.Event
    ) -> _Output | None:
        if stat is None:
            item.missing = True
            if item.inode is not None and item.assembler is not None:
                await self._switch_inode(item, None, stopping)
            return None

        inode, size = stat
        item.missing, item.size = False, size
        if item.inode is None:
            await self._start_file(item, inode)
        elif inode != item.inode:
            await self._switch_inode(item, inode, stopping)
        elif size < self._assembler(item).position:
            await self._restart_truncated(item, size, stopping)

        return await self._read_new_bytes(item, size)

    async def _read_new_bytes(self, item: TrackedFile, size: int) -> _Output | None:
        assembler = self._assembler(item)
        now = time.monotonic()
        if size > assembler.position:
            length = min(size - assembler.position, self.settings.read_chunk_bytes)
            if item.pending_end is not None:
                length = max(length, min(size, item.pending_end) - assembler.position)
            # NOTE: SFTP opens by path and reports no inode. A file renamed away after the stat
            # and replaced by a new one already larger than ``size`` would be read here as the old
            # inode; only the next stat notices the switch.
            data = await self.pool.read_range(self.node_uuid, item.path, assembler.position, length, min_size=size)
            if data is None:
                return None  # truncated or replaced since the stat, which the next poll detects
            BYTES_READ.inc(len(data))
            item.last_growth = now
            records = assembler.feed(data)
        elif assembler.holds_record and now - item.last_growth >= self.settings.multiline_quiet_seconds:
            records = assembler.flush()
        else:
            return None

        RECORDS_COLLECTED.labels(item.log_type).inc(len(records))
        return _Output(item, records)

    def _assembler(self, item: TrackedFile) -> RecordAssembler:
        if item.assembler is None:
            cuts: list[int] = []
            if item.pending_starts and item.pending_starts[0] == item.committed and item.pending_end is not None:
                cuts = [*item.pending_starts[1:], item.pending_end]
            else:
                item.pending_starts, item.pending_end = None, None
            item.assembler = RecordAssembler(item.committed, max_record_bytes=self.settings.max_record_bytes, cuts=cuts)
        return item.assembler

    async def _start_file(self, item: TrackedFile, inode: int) -> None:
        item.inode, item.committed, item.assembler = inode, 0, None
        item.pending_starts, item.pending_end = None, None
        await self._save([item.position()])

    async def _switch_inode(self, item: TrackedFile, inode: int | None, stopping: asyncio.Event) -> None:
        """Finish the old inode from the sibling that has it now, then follow ``inode`` from 0."""
        old_inode = item.inode
        assert old_inode is not None
        sibling = await discovery.find_inode(self.pool, self.node_uuid, item.path, old_inode)
        if sibling is not None:
            logger.info("log file rotated node=%s path=%s now=%s", self.target.name, item.path, sibling)
            await self._drain(item, sibling, stopping)
        else:
            held = self._assembler(item).held_from
            logger.warning(
                "rotated log file not found; unread bytes skipped node=%s path=%s inode=%d offset=%d",
                self.target.name,
                item.path,
                old_inode,
                held,
            )
            BYTES_SKIPPED.inc(max(0, item.size - held))

        item.generation += 1
        if inode is None:
            item.assembler, item.inode = None, None  # the next stat that finds the path starts the new file
            return
        await self._start_file(item, inode)

    async def _restart_truncated(self, item: TrackedFile, size: int, stopping: asyncio.Event) -> None:
        """Finish a copy-truncated file from its copy when the copy has unread bytes, then restart at 0."""
        assembler = self._assembler(item)
        copy = f"{item.path}.1"
        copy_stat = (await self._stat([copy])).get(copy)
        if copy_stat is not None and copy_stat[1] > assembler.position:
            logger.info("log file truncated; reading its copy node=%s path=%s", self.target.name, item.path)
            await self._drain(item, copy, stopping)
        else:
            logger.info("log file truncated node=%s path=%s size=%d", self.target.name, item.path, size)
            await self._publish([_Output(item, assembler.finish())], stopping)

        item.generation += 1
        assert item.inode is not None
        await self._start_file(item, item.inode)

    async def _drain(self, item: TrackedFile, source: str, stopping: asyncio.Event) -> None:
        """Read ``source`` (the old bytes of ``item``) from the held offset to its end and publish them."""
        assembler = self._assembler(item)
        while True:
            data = await self.pool.read_range(
                self.node_uuid, source, assembler.position, self.settings.read_chunk_bytes
            )
            BYTES_READ.inc(len(data or b""))
            records = assembler.feed(data) if data else assembler.finish()
            RECORDS_COLLECTED.labels(item.log_type).inc(len(records))
            await self._publish([_Output(item, records)], stopping)
            if not data:
                return

    # Publishing

    async def _publish(self, outputs: list[_Output], stopping: asyncio.Event) -> None:
        """Store batch boundaries, publish every batch, then store the acknowledged offsets."""
        target = self.target
        prepared: list[PreparedBatch] = []
        pending: list[PositionUpdate] = []
        committed: list[tuple[TrackedFile, int]] = []

        for output in outputs:
            if not output.records:
                continue
            item = output.file
            assert item.inode is not None
            starts = [*(item.pending_starts or []), *([item.pending_end] if item.pending_end is not None else [])]
            batches = make_batches(
                output.records,
                max_records=self.settings.batch_max_records,
                max_bytes=self.settings.batch_max_bytes,
                starts=starts,
            )
            for records in batches:
                prepared.append(
                    self.publisher.prepare(
                        target,
                        path=item.path,
                        inode=item.inode,
                        generation=item.generation,
                        log_type=item.log_type,
                        records=records,
                    )
                )
            end = batches[-1][-1].end
            first_starts = [records[0].offset for records in batches]
            pending.append(
                PositionUpdate(item.path, item.log_type, item.inode, item.committed, item.generation, first_starts, end)
            )
            committed.append((item, end))

        if not prepared:
            return
        await self._save(pending)
        await self.publisher.publish_batches(prepared, stopping)

        for item, end in committed:
            item.committed = end
            if item.pending_end is not None and end >= item.pending_end:
                item.pending_starts, item.pending_end = None, None
        await self._save([item.position() for item, _ in committed])

    async def _save(self, updates: list[PositionUpdate]) -> None:
        async with self.db.session() as session:
            await service.save_positions(session, node_uuid=self.node_uuid, updates=updates)

    # Remote commands

    async def _stat(self, paths: list[str]) -> dict[str, tuple[int, int]]:
        return await discovery.stat_files(self.pool, self.node_uuid, paths, timeout=STAT_TIMEOUT)

    def _report_lag(self, files: list[TrackedFile]) -> None:
        lag = sum(max(0, item.size - item.committed) for item in files if not item.missing)
        TAIL_LAG_BYTES.labels(self.target.name).set(lag)


def _inside(path: str, folders: list[str]) -> bool:
    return any(path.startswith(folder.rstrip("/") + "/") for folder in folders)
