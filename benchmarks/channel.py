"""asyncio on one end of a multiprocessing Pipe: how the benchmark's processes talk.

The event loop watches the pipe's file descriptor (no reader thread), so a process that forwards
or receives media is not interrupted by a thread hop per message. Messages are small tuples; the
large ones (pre-encoded clips) travel as process arguments instead, so that two processes never
block each other with a full pipe.
"""

from __future__ import annotations

import asyncio
from multiprocessing.connection import Connection
from typing import Any


class Channel:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(conn.fileno(), self._readable)
        self.closed = False

    def _readable(self) -> None:
        try:
            while self._conn.poll():
                self._queue.put_nowait(self._conn.recv())
        except (EOFError, OSError):
            self._stop_reading()
            self._queue.put_nowait(None)

    def _stop_reading(self) -> None:
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self._conn.fileno())

    async def recv(self) -> Any:
        """The next message; None once the other end has gone."""
        return await self._queue.get()

    def send(self, message: Any) -> None:
        if not self.closed:
            try:
                self._conn.send(message)
            except (BrokenPipeError, OSError):
                self._stop_reading()

    def close(self) -> None:
        self._stop_reading()
        self._conn.close()
