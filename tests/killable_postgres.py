"""A PostgreSQL server of a test's own, which the test kills with SIGKILL and starts again.

It is the ``pgserver`` wheel's PostgreSQL (``hfd.embedded.EmbeddedPostgres``) on 127.0.0.1, with
a port and a data folder of its own. The kill reads the postmaster's pid from that folder's
``postmaster.pid`` and checks that the process serves that folder, so the machine's server on
port 5432 and every other PostgreSQL stay untouched.
"""

import os
import signal
import time
from pathlib import Path

from hfd.embedded import LOOPBACK, EmbeddedPostgres

# Lines that PostgreSQL 16 logs when it starts on a data folder whose server did not shut down.
CRASH_RECOVERY_LINES = ("database system was interrupted", "database system was not properly shut down")


class KillablePostgres(EmbeddedPostgres):
    """An ``EmbeddedPostgres`` that can be killed like a crashed host and started on the same port and data."""

    @property
    def admin_url(self) -> str:
        return f"postgresql+asyncpg://postgres@{LOOPBACK}:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])

    def kill(self, timeout: float = 30.0) -> list[int]:
        """Send SIGKILL to the postmaster and every process it started; return their pids once they are gone.

        The postmaster is stopped first (SIGSTOP), so that it starts no backend while its
        children are listed. The killed processes are not children of the test, so the system's
        init process reaps them. The method waits for that, because PostgreSQL refuses to start
        while the pid in ``postmaster.pid`` still exists.
        """
        pid = self.postmaster_pid()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if str(self.data_dir).encode() not in command:
            raise RuntimeError(f"process {pid} is not the postmaster of {self.data_dir}: {command}")

        os.kill(pid, signal.SIGSTOP)
        children = child_pids(pid)
        os.kill(pid, signal.SIGKILL)
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass

        killed = [pid, *children]
        deadline = time.monotonic() + timeout
        while any(Path(f"/proc/{process}").exists() for process in killed):
            if time.monotonic() > deadline:
                raise TimeoutError(f"killed PostgreSQL processes {killed} not reaped within {timeout:.0f}s")
            time.sleep(0.05)
        return killed

    def restart(self) -> None:
        """Start the server again on its port and data folder; it replays its WAL before it accepts connections."""
        self.start()

    def recovered_from_crash(self) -> bool:
        """Tell whether the server's log shows a crash recovery."""
        text = self.log_path.read_text(errors="replace")
        return any(line in text for line in CRASH_RECOVERY_LINES)


def child_pids(parent: int) -> list[int]:
    """Return the pids whose parent is ``parent``, read from ``/proc``."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process exited while the folder was read
        # The command name in brackets may contain spaces, so the fields are counted after its ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            children.append(int(entry.name))
    return children
