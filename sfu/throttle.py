"""A rate limit for log lines that anyone outside can cause (the media plane's and the control
plane's): the SFU is the lowest layer, so signaling takes it from here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class Throttle:
    """Lets through at most one line per ``interval`` seconds; the next says how many were not."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next = 0.0
        self._skipped = 0

    def allow(self) -> int | None:
        """None if this line is to be dropped, else how many were dropped before it."""
        now = self._clock()
        if now < self._next:
            self._skipped += 1
            return None
        skipped, self._skipped = self._skipped, 0
        self._next = now + self.interval
        return skipped

    def log(self, logger: logging.Logger, level: int, message: str, *args: object) -> None:
        skipped = self.allow()
        if skipped is None:
            return
        if skipped:
            message += f" ({skipped} more like it in the last {self.interval:g}s not logged)"
        logger.log(level, message, *args)
