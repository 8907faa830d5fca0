"""Ordered delivery of everything the server pushes over Socket.IO.

SFU callbacks are plain functions and cannot await; request handlers can. If both sent directly,
a participant could see ``track_unpublished`` before ``track_published``, or get a hearing's events
before being put in its room. Every emit, room change and disconnect therefore goes through one
queue, worked off in order by one task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

log = logging.getLogger("cloudcourt.outbox")

Action = Callable[[], Awaitable[Any]]


class Outbox:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio
        self._queue: asyncio.Queue[Action | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # sid -> whether a disconnect was asked for while the sid's own event was being handled
        self._held: dict[str, bool] = {}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._pump(), name="outbox")

    async def close(self) -> None:
        """Deliver what is queued, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5)
            except TimeoutError:
                self._task.cancel()
                await self._task
        self._task = None

    def emit(self, event: str, data: Any, *, to: str, skip_sid: str | None = None) -> None:
        self._queue.put_nowait(lambda: self._sio.emit(event, data, to=to, skip_sid=skip_sid))

    def enter(self, sid: str, room: str) -> None:
        self._queue.put_nowait(lambda: self._sio.enter_room(sid, room))

    def leave(self, sid: str, room: str) -> None:
        self._queue.put_nowait(lambda: self._sio.leave_room(sid, room))

    def disconnect(self, sid: str) -> None:
        if sid in self._held:
            self._held[sid] = True
            return
        self._queue.put_nowait(lambda: self._sio.disconnect(sid))

    def hold(self, sid: str) -> None:
        """Defer disconnecting ``sid`` until ``release``: while a socket's own event (say
        ``end_hearing``) is handled, its acknowledgement must reach it before the disconnect."""
        self._held.setdefault(sid, False)

    def release(self, sid: str) -> None:
        """Queue the deferred disconnect, if any. Call it with no await between it and the
        handler's return: Socket.IO then queues the ack before this task lets the pump run."""
        if self._held.pop(sid, False):
            self.disconnect(sid)

    async def _pump(self) -> None:
        while True:
            action = await self._queue.get()
            if action is None:
                return
            try:
                await action()
            except Exception:
                # One dead socket must not stop delivery to everyone else.
                log.exception("pushing to a Socket.IO client failed")
