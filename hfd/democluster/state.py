"""Simulated Hadoop state of one node, kept in a small JSON file.

The state file is shared by two writers: the log generator inside the demo cluster process
and the simulated commands (``hdfs``, ``yarn``, ``hadoop-daemon.sh``) that SSH sessions run.
Every change is a read-modify-write under an exclusive ``flock`` on a separate lock file, and
the new content replaces the old with ``os.replace``, so readers without the lock never see a
partial file. Standard library only, because the simulated commands import it.

Layout of the state (times are ISO 8601 UTC strings, except ``since_epoch`` in Unix seconds)::

    {
      "node": "demo-dn1",
      "daemons": {"datanode": {"running": true, "pid": 23817, "generation": 1,
                                "changed_at": "...", "stop_reason": null}},
      "safemode": false,
      "safemode_reason": null,
      "faults": {"disk_full": {"daemon": "datanode", "since": "...", "since_epoch": 1796380800.0,
                               "generation": 1, "details": {"filler_files": ["..."]}}},
      "fault_history": [{"scenario": "disk_full", "since": "...", "cleared_at": "...",
                         "cleared_by": "temp_dir_cleaned"}],
    }

``generation`` counts starts of a daemon: a start through a simulated command increments it,
which is how the generator notices a restart even when stop and start fall between two polls.
``stop_reason`` is ``command`` for a stop through a simulated command, or the name of the
fault that stopped the daemon. ``safemode_reason`` is ``manual`` or ``resources``.
"""

import fcntl
import json
import os
import random
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

FAULT_HISTORY_LIMIT = 50


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_pid(rng: random.Random | None = None) -> int:
    """Return a plausible Linux process id for a simulated JVM."""
    return (rng or random).randint(2000, 60000)


def initial_state(node: str, daemons: list[str], rng: random.Random) -> dict[str, Any]:
    now = utc_now_iso()
    return {
        "node": node,
        "daemons": {
            daemon: {"running": True, "pid": new_pid(rng), "generation": 1, "changed_at": now, "stop_reason": None}
            for daemon in daemons
        },
        "safemode": False,
        "safemode_reason": None,
        "faults": {},
        "fault_history": [],
    }


class StateStore:
    """Locked access to one node's state file."""

    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self.lock_path = lock_path

    def read(self) -> dict[str, Any]:
        """Return the current state; raises FileNotFoundError when the node was never created."""
        with self.path.open(encoding="utf-8") as handle:
            return json.load(handle)

    def write(self, state: dict[str, Any]) -> None:
        with self._locked():
            self._replace(state)

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Apply ``change`` to the state under the lock, store the result and return what
        ``change`` returned. ``change`` edits the dict in place."""
        with self._locked():
            state = self.read()
            result = change(state)
            self._replace(state)
            return result

    @contextmanager
    def _locked(self):
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _replace(self, state: dict[str, Any]) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.path)


def record_fault_cleared(state: dict[str, Any], scenario: str, cleared_by: str) -> bool:
    """Move an active fault into the bounded history. Returns False when it was not active."""
    fault = state["faults"].pop(scenario, None)
    if fault is None:
        return False

    entry = {"scenario": scenario, "since": fault["since"], "cleared_at": utc_now_iso(),
             "cleared_by": cleared_by}
    history = state.setdefault("fault_history", [])
    history.append(entry)
    del history[:-FAULT_HISTORY_LIMIT]
    return True
