"""Replay of real logs on a demo node.

All files of a node are merged in timestamp order and written on one clock: the earliest
record is written now, and each later record after the original gap divided by ``speed``,
with no single wait longer than ``max_replay_wait``. Each header gets the time at which it is
written, in the source's layout, so the gaps in the output equal the waits. A record whose
timestamp goes backwards is written without waiting. While the daemon a file belongs to is
stopped through a simulated command, that node's replay pauses.
"""

import asyncio
import heapq
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hfd.democluster.config import DemoClusterConfig
from hfd.democluster.context import NodeIdentity
from hfd.democluster.layout import NodeLayout
from hfd.democluster.logwriter import LogWriter, rotation_style
from hfd.democluster.replaysource import ReplayFile, ReplayNodePlan, iter_source_records
from hfd.democluster.state import StateStore

logger = logging.getLogger(__name__)

# Records written back to back before the replay yields to the event loop.
BURST_RECORDS = 200


class ReplayRuntime:
    """Replays one node's files into its log folder."""

    def __init__(self, identity: NodeIdentity, layout: NodeLayout, config: DemoClusterConfig,
                 plan: ReplayNodePlan) -> None:
        self.identity = identity
        self.layout = layout
        self.config = config
        self.plan = plan
        self.store = StateStore(layout.state_path, layout.state_lock_path)
        self.writers: dict[str, LogWriter] = {}
        self.records_written = 0
        self.passes_done = 0
        self._task: asyncio.Task | None = None
        self._running: dict[str, bool] = {}
        self._state_read_at = 0.0

    @property
    def name(self) -> str:
        return self.identity.name

    def writer(self, replay_file: ReplayFile) -> LogWriter:
        if replay_file.target_name not in self.writers:
            style = rotation_style(self.config.rotation, replay_file.daemon)
            self.writers[replay_file.target_name] = LogWriter(
                self.layout.log_dir / replay_file.target_name, self.config.max_log_bytes,
                self.config.max_backup_index, style,
            )
        return self.writers[replay_file.target_name]

    def log_types(self) -> list[str]:
        return [replay_file.target_name for replay_file in self.plan.files]

    def append_lines(self, log_type: str, lines: list[str]) -> Path:
        """Append exact lines to one replayed file, named by its target file name or its kind."""
        for replay_file in self.plan.files:
            if log_type in (replay_file.target_name, replay_file.kind):
                writer = self.writer(replay_file)
                writer.write("".join(line if line.endswith("\n") else f"{line}\n" for line in lines))
                return writer.path
        raise ValueError(f"node {self.name} has no log {log_type!r}; use one of {self.log_types()}")

    def inject(self, scenario: str) -> dict:
        raise ValueError(f"node {self.name} replays {self.plan.source.name}; fault injection needs generated logs")

    def active_faults(self) -> dict[str, dict]:
        return {}

    def applicable_scenarios(self) -> list[str]:
        return []

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"replay-{self.name}")
        logger.info("node %s replaying %d file(s) from %s", self.name, len(self.plan.files), self.plan.source)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for writer in self.writers.values():
            writer.close()

    async def wait_done(self) -> None:
        """Wait until the replay has written every record (never returns with ``loop_replay``)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                await self._replay_once()
                self.passes_done += 1
                logger.info("node %s: replay pass %d done, %d records written", self.name, self.passes_done,
                            self.records_written)
                if not self.config.loop_replay:
                    return
                # A source that spans less than a second would otherwise be rewritten in a busy loop,
                # which floods the log folder and starves the node's SSH server of the event loop.
                await asyncio.sleep(max(0.0, started + self.config.min_replay_pass - loop.time()))
        except OSError:
            logger.exception("node %s: replay stopped by a file error", self.name)

    async def _replay_once(self) -> None:
        streams = [self._tagged(replay_file) for replay_file in self.plan.files]
        # heapq.merge is stable, so records with equal timestamps keep their file order.
        merged = heapq.merge(*streams, key=lambda item: item[0])
        loop = asyncio.get_running_loop()

        wall_start = datetime.now(UTC).replace(tzinfo=None)
        loop_start = loop.time()
        offset = 0.0
        latest: datetime | None = None
        burst = 0
        for source_time, record, replay_file in merged:
            if latest is not None and source_time > latest:
                gap = (source_time - latest).total_seconds() / self.config.speed
                offset += min(gap, self.config.max_replay_wait)
            latest = source_time if latest is None else max(latest, source_time)

            paused = await self._wait_while_stopped(replay_file)
            loop_start += paused
            wall_start += timedelta(seconds=paused)

            delay = loop_start + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                burst = 0
            else:
                burst += 1
                if burst >= BURST_RECORDS:
                    await asyncio.sleep(0)
                    burst = 0

            self.writer(replay_file).write(record.render(wall_start + timedelta(seconds=offset)))
            self.records_written += 1

    def _tagged(self, replay_file: ReplayFile):
        for record in iter_source_records(replay_file.source, replay_file.layout):
            yield record.timestamp, record, replay_file

    async def _wait_while_stopped(self, replay_file: ReplayFile) -> float:
        """Wait while the file's daemon is stopped, and return the seconds waited."""
        daemon = replay_file.daemon
        if daemon is None:
            return 0.0
        waited = 0.0
        while not self._daemon_running(daemon):
            await asyncio.sleep(self.config.state_poll_interval)
            waited += self.config.state_poll_interval
        return waited

    def _daemon_running(self, daemon: str) -> bool:
        now = time.monotonic()
        if now - self._state_read_at >= self.config.state_poll_interval:
            self._state_read_at = now
            try:
                daemons = self.store.read()["daemons"]
                self._running = {name: entry["running"] for name, entry in daemons.items()}
            except (OSError, ValueError, KeyError) as error:
                logger.warning("node %s: failed to read state, assuming daemons run: %s", self.name, error)
                self._running = {}
        return self._running.get(daemon, True)
