"""The hearings in session: each one's ``HearingSession`` and lock, whose socket is whose, each
hearing's SFU room, and the background tasks the parts start.

Socket.IO, WHIP/WHEP and the HTTP moderation routes all act on the same sessions (through
``Presence``, ``Negotiation``, ``Moderation``, ``WhipWhepSessions`` and ``TokenExpiry``) so that a
removal over HTTP disconnects the socket, an admission over Socket.IO lets a WHIP encoder in, and
so on. State
changes of one hearing happen under that hearing's lock; SDP negotiation does not (it can take a
while and must not hold up the lobby).

Anything that starts something in a hearing re-checks, once it holds the lock, that the hearing
has not ended while it waited (``locked_unended``): ending closes the SFU room and drops the
hearing's entry, and a caller that went on regardless would open a new room nobody ever closes.
Entries that hold nothing any more are dropped too (``_forget_if_idle``), so memory follows what
is live, not every hearing ever touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from signaling.errors import conflict, unauthorized
from signaling.hearings import HearingService
from signaling.live_state import Connection, HearingSession, WhepPlayback
from signaling.models import Hearing
from signaling.mutes import MuteState
from signaling.outbox import Outbox
from signaling.sfu_listeners import RoomEvents
from signaling.sidecars import Sidecars
from signaling.workers import Pool, RoomHandle

log = logging.getLogger("cloudcourt.live")

HEARING_ENDED = "the hearing has ended"


class SessionRegistry:
    def __init__(self, service: HearingService, pool: Pool, outbox: Outbox) -> None:
        self.service = service
        self.pool = pool
        self.outbox = outbox
        self.sidecars = Sidecars()
        self._sessions: dict[str, HearingSession] = {}
        # Mutes by hearing, apart from the entries: someone the court muted stays muted when
        # everyone drops out and comes back. Forgotten when the hearing ends, or when its entry
        # goes idle with nothing muted.
        self._mutes: dict[str, dict[str, MuteState]] = {}
        self._sockets: dict[str, tuple[str, str]] = {}  # sid -> (hearing id, participant id)
        # WebRTC connections that clients reported as not connected in time (media_status).
        self.media_failures = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ background tasks
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    # ------------------------------------------------------------------ sessions and locks
    def get(self, hearing_id: str) -> HearingSession | None:
        """The hearing's session if it has one now (none is made)."""
        return self._sessions.get(hearing_id)

    def is_current(self, session: HearingSession) -> bool:
        """Whether ``session`` is still the hearing's entry (not ended, not dropped as idle)."""
        return self._sessions.get(session.id) is session

    def all(self) -> list[HearingSession]:
        return list(self._sessions.values())

    def _session(self, hearing_id: str) -> HearingSession:
        session = self._sessions.get(hearing_id)
        if session is None:
            mutes = self._mutes.setdefault(hearing_id, {})
            session = self._sessions[hearing_id] = HearingSession(hearing_id, mutes)
        return session

    def _forget_if_idle(self, session: HearingSession) -> None:
        if not session.idle() or not self.is_current(session):
            return
        del self._sessions[session.id]
        for pid in [pid for pid, state in session.mutes.items() if not state.any()]:
            del session.mutes[pid]
        if not session.mutes and self._mutes.get(session.id) is session.mutes:
            del self._mutes[session.id]

    @asynccontextmanager
    async def locked(self, session: HearingSession) -> AsyncIterator[None]:
        """Hold the hearing's lock; afterwards drop its entry if nothing is left in it."""
        session.users += 1
        try:
            async with session.lock:
                yield
        finally:
            session.users -= 1
            self._forget_if_idle(session)

    @asynccontextmanager
    async def locked_session(self, hearing_id: str) -> AsyncIterator[HearingSession]:
        """The hearing's session (made if it has none), locked."""
        session = self._session(hearing_id)
        async with self.locked(session):
            yield session

    @asynccontextmanager
    async def locked_unended(
        self, hearing_id: str
    ) -> AsyncIterator[tuple[HearingSession, Hearing]]:
        """The hearing's session, locked, for something that may only happen before it ends.

        Both checks come after the lock is taken: an end the caller waited for has set ``closed``
        on the entry the caller holds; an entry made after the end dropped the old one is new, so
        only the stored state tells."""
        async with self.locked_session(hearing_id) as session:
            if session.closed:
                raise conflict(HEARING_ENDED)
            hearing = await self.service.get_unended(hearing_id)
            yield session, hearing

    async def discard_ended(self, session: HearingSession) -> None:
        """Let go of everything an ended hearing held, under its lock, once ``closed`` is set."""
        session.connections.clear()
        session.playbacks.clear()
        session.mutes.clear()
        session.hands.clear()
        if session.room is not None:
            session.room = None
            try:
                await self.pool.close_room(session.id)
            except Exception:
                log.exception("closing the SFU room of hearing %s failed", session.id)
        if self.is_current(session):
            del self._sessions[session.id]
        if self._mutes.get(session.id) is session.mutes:
            del self._mutes[session.id]

    # ------------------------------------------------------------------ sockets
    def add_socket(self, sid: str, hearing_id: str, participant_id: str) -> None:
        self._sockets[sid] = (hearing_id, participant_id)

    def forget_socket(self, sid: str) -> None:
        self._sockets.pop(sid, None)

    def socket_owner(self, sid: str) -> tuple[str, str] | None:
        """(hearing id, participant id) the socket joined as, if it has joined."""
        return self._sockets.get(sid)

    def is_joined(self, sid: str) -> bool:
        return sid in self._sockets

    def socket_actor(self, sid: str) -> tuple[HearingSession, Connection]:
        entry = self._sockets.get(sid)
        session = self._sessions.get(entry[0]) if entry else None
        conn = session.connections.get(entry[1]) if session and entry else None
        if session is None or conn is None or conn.sid != sid:
            raise unauthorized("join the hearing with a token first")
        return session, conn

    # ------------------------------------------------------------------ SFU rooms
    def room(self, session: HearingSession) -> RoomHandle:
        if session.closed:
            # locked_unended keeps callers away from ended hearings; this is the last line of
            # defence against a room that would never be closed.
            raise conflict(HEARING_ENDED)
        if session.room is None or self.pool.get_room(session.id) is not session.room:
            # None, or its worker process died (the pool forgot it): placed afresh, on a worker
            # that is up. The peers of the lost room are closed and re-made by their listeners.
            session.room = self.pool.room(
                session.id, RoomEvents(self.outbox, self.sidecars, session)
            )
        return session.room

    async def remove_peer(self, session: HearingSession, peer_id: str) -> None:
        if session.room is None:
            return
        try:
            await session.room.remove_peer(peer_id)
        except Exception:
            log.exception("closing SFU peer %s of hearing %s failed", peer_id, session.id)

    async def discard_stray_peer(self, hearing_id: str, peer_id: str) -> None:
        """Take a peer out of an SFU room of this hearing that no session looks after any more
        (the hearing ended meanwhile), and close that room once it is empty."""
        room = self.pool.get_room(hearing_id)
        owner = self._sessions.get(hearing_id)
        if room is None or (owner is not None and owner.room is room):
            return
        try:
            await room.remove_peer(peer_id)
            if not room.peers and self.pool.get_room(hearing_id) is room:
                await self.pool.close_room(hearing_id)
        except Exception:
            log.exception("discarding SFU peer %s of hearing %s failed", peer_id, hearing_id)

    async def close_idle_room(self, session: HearingSession) -> None:
        """Close the SFU room once nobody is connected, so idle hearings cost the SFU nothing."""
        if session.room is None or session.playbacks:
            return
        if any(c.peer is not None for c in session.connections.values()):
            return
        session.room = None
        try:
            await self.pool.close_room(session.id)
        except Exception:
            log.exception("closing the SFU room of hearing %s failed", session.id)

    async def drop_playback(self, session: HearingSession, playback: WhepPlayback) -> None:
        if session.playbacks.get(playback.resource_id) is playback:
            del session.playbacks[playback.resource_id]
        await self.remove_peer(session, playback.peer.id)

    # ------------------------------------------------------------------ figures and shutdown
    def stats(self) -> dict[str, int]:
        return {
            # Hearings with live state in memory: someone connected or in the lobby, a WHIP/WHEP
            # session, or a request under way. An ended or idle hearing is not counted.
            "live_hearings": len(self._sessions),
            "sockets": len(self._sockets),
            "media_connect_failures": self.media_failures,
        }

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for session in self._sessions.values():
            for conn in session.connections.values():
                if conn.sid is not None:
                    self.outbox.disconnect(conn.sid)
        self._sessions.clear()
        self._mutes.clear()
        self._sockets.clear()
