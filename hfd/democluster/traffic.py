"""Normal log traffic of simulated daemons: the base class and the factory.

A traffic model returns one record per tick. Multi-step activities (a block written through
a pipeline, an application's life cycle, a container's life cycle) are queued as a workflow
and written one record per tick, so their lines interleave with other records as they do in
real logs. The daemon-specific models live in ``traffic_hdfs`` and ``traffic_yarn``.
"""

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hfd.democluster.context import ClusterContext, NodeIdentity
from hfd.democluster.daemons import daemon_spec
from hfd.democluster.records import Record


@dataclass(frozen=True)
class NodePaths:
    """Paths that appear inside log messages."""

    hadoop_home: Path
    datanode_dir: Path
    name_dir: Path
    nm_local_dir: Path
    log_dir: Path


class TrafficModel:
    """Base of the per-daemon traffic models."""

    daemon = ""
    # Relative rate of this daemon compared to the configured lines per second.
    rate_factor = 1.0

    def __init__(self, ctx: ClusterContext, node: NodeIdentity, paths: NodePaths, rng: random.Random) -> None:
        self.ctx = ctx
        self.node = node
        self.paths = paths
        self.rng = rng
        self.spec = daemon_spec(self.daemon)
        self._pending: deque[Record] = deque()

    def startup_records(self) -> list[Record]:
        """Records logged after the STARTUP_MSG banner."""
        return []

    def condition_records(self) -> list[Record] | None:
        """Records caused by the state of other daemons (a stopped NameNode, safe mode), or None
        to write normal traffic."""
        return None

    def workflows(self) -> list[tuple[float, Callable[[], list[Record]]]]:
        """Weighted workflows; one is chosen whenever the queue runs empty."""
        raise NotImplementedError

    def next_records(self) -> list[Record]:
        condition = self.condition_records()
        if condition is not None:
            return condition

        if not self._pending:
            choices = self.workflows()
            weights = [weight for weight, _ in choices]
            workflow = self.rng.choices([build for _, build in choices], weights=weights)[0]
            self._pending.extend(workflow())

        return [self._pending.popleft()]

    def reset(self) -> None:
        """Drop queued records, as a restart abandons work in progress."""
        self._pending.clear()

    def record(self, message: str, logger: str | None = None, level: str = "INFO",
               detail: tuple[str, ...] = ()) -> Record:
        return Record(level, logger or self.spec.main_class, message, detail)

    def client_port(self) -> int:
        return self.rng.randint(32768, 60999)

    def hex_id(self, digits: int = 16) -> str:
        return f"0x{self.rng.getrandbits(digits * 4):0{digits}x}"

