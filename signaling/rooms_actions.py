"""What moderators do with rooms: open and close private rooms, move participants (also back to
the lobby), look into a room. The same actions for HTTP (``rooms_api``) and Socket.IO
(``socket_events``), under the hearing's lock, with the authority rules of moderation.

Every change is applied at once: the SFU is told what each peer now consumes (no publisher is
renegotiated), each participant's list follows their room, moderators get ``rooms``, and the
sidecars log it (``Sidecars.room_changed``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from signaling import consumption
from signaling.errors import bad_request, conflict, forbidden, not_found
from signaling.live_state import Connection, HearingSession, LeftReason, Via
from signaling.models import ParticipantState
from signaling.presence import Presence
from signaling.registry import SessionRegistry
from signaling.roles import LEADERS, Actor
from signaling.rooms import (
    LOBBY,
    LOBBY_BRIEF,
    MAIN,
    MAX_PRIVATE_ROOMS,
    Room,
    RoomKind,
    audience,
    change,
    rooms_json,
    tell_about,
)

log = logging.getLogger("cloudcourt.live")


def _may_moderate(actor: Actor, what: str) -> None:
    if not actor.may_moderate:
        raise forbidden(f"{what} needs the moderate grant ({LEADERS})")


def _open_room(session: HearingSession, room_id: str) -> Room:
    room = session.rooms.rooms.get(room_id)
    if room is None:
        raise not_found(f"room {room_id} is not open")
    return room


class RoomActions:
    def __init__(self, sessions: SessionRegistry, presence: Presence) -> None:
        self.sessions = sessions
        self.service = sessions.service
        self.outbox = sessions.outbox
        self.presence = presence

    async def list(self, hearing_id: str, actor: Actor) -> list[dict[str, Any]]:
        _may_moderate(actor, "seeing the rooms")
        async with self.sessions.locked_unended(hearing_id) as (session, _):
            return rooms_json(session)

    async def open(self, hearing_id: str, actor: Actor, name: str) -> dict[str, Any]:
        _may_moderate(actor, "opening a room")
        async with self.sessions.locked_unended(hearing_id) as (session, _):
            if len(session.rooms.private_rooms()) >= MAX_PRIVATE_ROOMS:
                raise conflict(f"at most {MAX_PRIVATE_ROOMS} private rooms may be open at once")
            room = session.rooms.open_private(name, actor.participant_id)
            self.sessions.sidecars.room_changed(
                hearing_id, change("open", room, actor.participant_id)
            )
            self.presence.rooms_changed(session)
            log.info("%s opened room %s in hearing %s", actor.label, room.id, hearing_id)
            return {**room.to_json(), "members": []}

    async def close(self, hearing_id: str, actor: Actor, room_id: str) -> dict[str, Any]:
        _may_moderate(actor, "closing a room")
        async with self.sessions.locked_unended(hearing_id) as (session, _):
            room = _open_room(session, room_id)
            if room.kind is not RoomKind.PRIVATE:
                raise conflict("the main room and the witness room cannot be closed")
            book = session.rooms
            members = [pid for pid, p in book.placements.items() if p.room_id == room_id]
            for pid in members:
                conn = session.connections.get(pid)
                if conn is not None and conn.in_room:
                    self._relocate(session, conn, book.rooms[MAIN], actor.participant_id)
            book.close_private(room_id)  # and whoever was placed there but is away now
            self.sessions.sidecars.room_changed(
                hearing_id, change("close", room, actor.participant_id)
            )
            consumption.resync(session)
            self.presence.rooms_changed(session)
            log.info("%s closed room %s in hearing %s", actor.label, room_id, hearing_id)
            return {"closed": room_id, "moved": members}

    async def move(
        self, hearing_id: str, actor: Actor, participant_id: str, room_id: str
    ) -> dict[str, Any]:
        _may_moderate(actor, "moving a participant")
        async with self.sessions.locked_unended(hearing_id) as (session, _):
            target = await self.service.participant(hearing_id, participant_id)
            if actor.participant_id != target.id and not actor.outranks(target.role):
                raise forbidden(f"a {actor.role} may not move the {target.role}")
            conn = session.connections.get(target.id)
            if conn is None or not conn.in_room:
                raise conflict(
                    f"participant {participant_id} is not in the hearing now "
                    "(not admitted, or not connected)"
                )
            if conn.grants.hidden:
                raise conflict("the recorder is in no room: it records the main room")
            if room_id == LOBBY:
                await self._to_lobby(session, conn, actor)
                return {"room": LOBBY}
            room = _open_room(session, room_id)
            if session.rooms.room_of(target.id) != room.id:
                self._relocate(session, conn, room, actor.participant_id)
                consumption.resync(session)
                self.presence.rooms_changed(session)
                log.info(
                    "%s moved %s to room %s in hearing %s",
                    actor.label,
                    target.id,
                    room.id,
                    hearing_id,
                )
            return next(r for r in rooms_json(session) if r["id"] == room.id)

    async def watch(
        self, hearing_id: str, actor: Actor, room_id: str, watching: bool
    ) -> dict[str, Any]:
        if actor.participant_id is None:
            raise bad_request("only a participant can watch a room")
        _may_moderate(actor, "watching a room")
        async with self.sessions.locked_unended(hearing_id) as (session, _):
            room = _open_room(session, room_id)
            session.rooms.set_watching(actor.participant_id, room.id, watching)
            consumption.resync(session)
            return {"watching": sorted(session.rooms.watched_by(actor.participant_id))}

    # ------------------------------------------------------------------ under the lock
    def _relocate(
        self, session: HearingSession, conn: Connection, room: Room, by: str | None
    ) -> None:
        """Move a present participant to another open room and tell everyone concerned; the
        caller resyncs what the SFU forwards (once, after all its moves)."""
        pid = conn.participant.id
        before = audience(session, pid)
        source = session.rooms.move(pid, room.id)
        after = audience(session, pid)
        left = {"participant_id": pid, "reason": LeftReason.MOVED.value}
        for sid in sorted(before - after):
            self.outbox.emit("participant_left", left, to=sid)
        joined = {"participant": session.participant_json(conn.participant)}
        for sid in sorted(after - before):
            self.outbox.emit("participant_joined", joined, to=sid)
        self.presence.tell_room(session, conn, by)
        self.sessions.sidecars.room_changed(
            session.id, change("move", room, by, participant=pid, source=source, target=room.id)
        )

    async def _to_lobby(self, session: HearingSession, conn: Connection, actor: Actor) -> None:
        """Un-admit a present participant: back to waiting (their token still works), out of
        the hearing's events, their SFU peer closed; a moderator admits them again."""
        if conn.grants.moderate:
            raise conflict("a moderator is never in the lobby")
        if conn.via is not Via.SOCKET:
            # The lobby is a socket's waiting screen; an encoder has none (remove it instead).
            raise conflict("a WHIP publisher cannot wait in the lobby")
        pid = conn.participant.id
        room = session.rooms.rooms[session.rooms.room_of(pid)]
        told = audience(session, pid)
        conn.participant = (
            await self.service.store.update_participant(
                pid, admitted=False, state=ParticipantState.LOBBY
            )
            or conn.participant
        )
        conn.in_room = False
        conn.since = time.monotonic()  # waiting from now on
        session.hands.discard(pid)
        session.rooms.forget(pid)
        if conn.sid is not None:
            self.outbox.leave(conn.sid, session.room_name)
            self.outbox.emit(
                "room_changed",
                {"room": LOBBY_BRIEF, "by": actor.participant_id, "participants": []},
                to=conn.sid,
            )
        peer, conn.peer = conn.peer, None
        if peer is not None:
            await self.sessions.remove_peer(session, pid)
            await self.sessions.close_idle_room(session)
        tell_about(
            self.presence.outbox,
            session,
            pid,
            "participant_left",
            {"participant_id": pid, "reason": LeftReason.MOVED.value},
            sids=told,
        )
        self.sessions.sidecars.room_changed(
            session.id,
            change(
                "move", room, actor.participant_id, participant=pid, source=room.id, target=LOBBY
            ),
        )
        self.presence.lobby_changed(session)
        self.presence.rooms_changed(session)
        log.info("%s sent %s back to the lobby in hearing %s", actor.label, pid, session.id)
