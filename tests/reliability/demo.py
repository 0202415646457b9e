"""The demo cluster of the reliability test, run on an event loop of its own."""

import time

from tests.ai.helpers import BackgroundDemo


class TimedDemo(BackgroundDemo):
    """A ``BackgroundDemo`` that keeps the ``time.monotonic()`` at which its nodes started writing."""

    started_at = 0.0

    def start(self) -> "TimedDemo":
        super().start()
        self.started_at = time.monotonic()
        return self
