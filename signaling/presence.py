"""Presence and lobby: who is connected to a hearing (a socket or a WHIP publish), who waits in
the lobby, and bringing a participant into the room (Socket.IO room, SFU peer, announcements).

The other parts (moderation, WHIP/WHEP, token expiry) add and take away presences through
``connect``, ``bring_in`` and ``drop``, always under the hearing's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from signaling import consumption
from signaling.errors import CourtError, conflict, forbidden
from signaling.live_state import Connection, HearingSession, LeftReason, Via
from signaling.models import Hearing, Participant, ParticipantState
from signaling.registry import SessionRegistry
from signaling.rooms import audience, rooms_json, tell_about
from signaling.sfu_listeners import PeerEvents
from signaling.tokens import TokenRevoked
from signaling.workers import PeerHandle

log = logging.getLogger("cloudcourt.live")


class Presence:
    def __init__(self, sessions: SessionRegistry, ice_servers: list[dict[str, Any]]) -> None:
        self.sessions = sessions
        self.service = sessions.service
        self.outbox = sessions.outbox
        self.ice_servers = ice_servers

    # ------------------------------------------------------------------ Socket.IO join and leave
    async def join(
        self,
        sid: str,
        token: object,
        connected: Callable[[], bool] = lambda: True,
        hearing_id: str | None = None,
    ) -> dict[str, Any]:
        """``hearing_id``: the hearing the client means (the one its page's URL names); a token
        of another hearing is then refused rather than joined to the hearing it is for."""
        if self.sessions.is_joined(sid):
            raise conflict("this socket has already joined; leave first or open a new socket")
        claims, participant = await self.service.tokens.authenticate(token, hearing_id=hearing_id)
        grants = participant.grants
        if not grants.webrtc:
            raise forbidden("a viewer token is for the public stream and cannot join the hearing")
        async with self.sessions.locked_unended(claims.hearing_id) as (session, hearing):
            if self.sessions.is_joined(sid):
                raise conflict("this socket has already joined; leave first or open a new socket")
            if not connected():
                raise conflict("the socket disconnected while joining")
            conn = await self.connect(
                session, participant, via=Via.SOCKET, expires_at=claims.expires_at, sid=sid
            )
            participant = conn.participant
            self.sessions.add_socket(sid, hearing.id, participant.id)
            await self._reread_present(session)
            try:
                changed = await self.service.note_joined(hearing.id, claims.role, hearing.kind)
                if changed is not None:
                    hearing = changed
                    self.hearing_changed(session, changed)
                if grants.moderate:
                    self.outbox.enter(sid, session.moderators_name)
                if grants.moderate or participant.admitted:
                    await self.bring_in(session, conn, tell_admitted=False)
                    ack = {"ok": True, "state": "admitted", "hearing": hearing.to_json()}
                    ack.update(self._admission_payload(session, conn))
                    # What this token may do here: a page must not guess it from the role
                    # (a mediator moderates a mediation but not a court hearing).
                    ack["grants"] = grants.to_json()
                else:
                    self.lobby_changed(session)
                    ack = {
                        "ok": True,
                        "state": "lobby",
                        "hearing": hearing.to_json(),
                        "participant": session.participant_json(conn.participant),
                        "participants": [],
                        "publications": [],
                        "ice_servers": [],
                        "grants": grants.to_json(),
                    }
            except Exception:
                # Half a join is worse than none: the client is told it failed, so undo it.
                await self.drop(session, conn, reason=LeftReason.FAILED)
                raise
            if grants.moderate:
                self.outbox.emit("lobby", {"waiting": session.waiting()}, to=sid)
            log.info(
                "%s %s joined hearing %s (%s)",
                claims.role,
                participant.id,
                hearing.id,
                ack["state"],
            )
            return ack

    async def leave(self, sid: str, reason: LeftReason) -> None:
        entry = self.sessions.socket_owner(sid)
        if entry is None:
            return
        hearing_id, participant_id = entry
        session = self.sessions.get(hearing_id)
        if session is None:
            self.sessions.forget_socket(sid)
            await self.sessions.discard_stray_peer(hearing_id, participant_id)
            return
        async with self.sessions.locked(session):
            conn = session.connections.get(participant_id)
            if conn is None or conn.sid != sid:
                self.sessions.forget_socket(sid)
                return
            was_in_room = conn.in_room
            await self.drop(session, conn, reason=reason)
            if was_in_room:
                await self.mark_left(conn.participant)
            log.info("participant %s left hearing %s (%s)", participant_id, session.id, reason)

    async def peer_closed(
        self, session: HearingSession, conn: Connection, peer: PeerHandle, reason: str
    ) -> None:
        """The SFU gave up on a peer (ICE/DTLS failure, or a WHIP publisher fell silent)."""
        async with self.sessions.locked(session):
            if session.closed or not self.sessions.is_current(session):
                # The hearing ended meanwhile: whatever room still holds the peer must let go.
                await self.sessions.discard_stray_peer(session.id, peer.id)
                return
            if conn.peer is not peer or session.connections.get(conn.participant.id) is not conn:
                return
            log.info(
                "media of %s in hearing %s closed: %s", conn.participant.id, session.id, reason
            )
            if conn.via is Via.WHIP:
                await self.drop(session, conn, reason=LeftReason.CONNECTION_LOST)
                await self.mark_left(conn.participant)
                return
            # The socket is still there: give it fresh server-side connections and tell the
            # client to build new ones (a browser cannot reuse a failed RTCPeerConnection).
            conn.peer = None
            await self.sessions.remove_peer(session, conn.participant.id)
            if conn.sid is not None:
                self.outbox.emit("media_reset", {"reason": reason}, to=conn.sid)
            conn.peer = self.new_peer(session, conn)

    async def participant_changed(self, participant: Participant) -> None:
        """A stored participant changed outside the live actions (e.g. masked for the public
        stream): the live copy must follow at once — sidecars are handed it with every new
        publication — and the others in the room are told."""
        session = self.sessions.get(participant.hearing_id)
        if session is None:
            return
        async with self.sessions.locked(session):
            conn = session.connections.get(participant.id)
            if conn is None:
                return
            conn.participant = participant
            if conn.in_room and not conn.grants.hidden:
                tell_about(
                    self.outbox,
                    session,
                    participant.id,
                    "participant_updated",
                    {"participant": session.participant_json(participant)},
                    to_self=True,  # their own page shows that they are masked
                )

    # ------------------------------------------------------------------ for the other parts
    async def connect(
        self, session: HearingSession, participant: Participant, **fields: Any
    ) -> Connection:
        """Register a participant's new presence (socket or WHIP), under the hearing's lock.

        The newest connection wins: a participant who reloads the page, or an encoder that
        reconnects, must not be locked out by a connection that has not timed out yet.
        """
        participant = await self.reread_participant(participant)
        old = session.connections.get(participant.id)
        if old is not None:
            await self.drop(
                session, old, reason=LeftReason.REPLACED, notify=("removed", {"reason": "replaced"})
            )
        conn = Connection(participant=participant, **fields)
        session.connections[participant.id] = conn
        return conn

    async def reread_participant(self, participant: Participant) -> Participant:
        """Re-read under the lock: the participant may have been removed since authentication."""
        current = await self.service.participant(participant.hearing_id, participant.id)
        if current.revoked:
            raise TokenRevoked()
        return current

    async def _reread_present(self, session: HearingSession) -> None:
        """Re-read who is connected as stored now, so that a newcomer's list is current: the HTTP
        API changes some of it (masking for the public stream) without telling the live state."""
        stored = {p.id: p for p in await self.service.participants(session.id)}
        for conn in session.connections.values():
            conn.participant = stored.get(conn.participant.id, conn.participant)

    async def mark_left(self, participant: Participant) -> None:
        try:
            await self.service.set_state(participant, ParticipantState.LEFT)
        except CourtError:
            pass  # the hearing's records went away meanwhile; nothing to mark

    def hearing_changed(self, session: HearingSession, hearing: Hearing | None) -> None:
        if hearing is not None:
            log.info("hearing %s is now %s", hearing.id, hearing.state)
            self.outbox.emit("hearing_state", {"hearing": hearing.to_json()}, to=session.room_name)
            self.sessions.sidecars.hearing_changed(hearing)

    def lobby_changed(self, session: HearingSession) -> None:
        self.outbox.emit("lobby", {"waiting": session.waiting()}, to=session.moderators_name)

    def rooms_changed(self, session: HearingSession) -> None:
        """The rooms and who is in each, to the moderators (on every open, close, move, join
        and leave)."""
        self.outbox.emit("rooms", {"rooms": rooms_json(session)}, to=session.moderators_name)

    def _admission_payload(self, session: HearingSession, conn: Connection) -> dict[str, Any]:
        return {
            "participant": session.participant_json(conn.participant),
            "participants": session.present(conn),
            "publications": session.publications(conn),
            "ice_servers": self.ice_servers,
            "room": session.rooms.rooms[session.rooms.place(conn).room_id].brief(),
        }

    def tell_room(self, session: HearingSession, conn: Connection, by: str | None) -> None:
        """``room_changed`` to the participant: which room they are in now, and whom they see
        there (a non-moderator's list is their room's)."""
        if conn.sid is None:
            return
        room = session.rooms.rooms[session.rooms.place(conn).room_id]
        payload: dict[str, Any] = {
            "room": room.brief(),
            "by": by,
            "participants": session.present(conn),
        }
        if conn.grants.moderate:  # kept across a reconnect: the page must not assume the default
            payload["watching"] = sorted(session.rooms.watched_by(conn.participant.id))
        self.outbox.emit("room_changed", payload, to=conn.sid)

    def new_peer(self, session: HearingSession, conn: Connection) -> PeerHandle:
        grants = conn.grants
        subscribe = grants.subscribe and conn.via is Via.SOCKET

        def closed(peer: PeerHandle, reason: str) -> None:
            self.sessions.spawn(self.peer_closed(session, conn, peer, reason))

        mutes = session.mute_state(conn.participant.id).to_json()
        peer = self.sessions.room(session).add_peer(
            conn.participant.id,
            publish=grants.publish,
            subscribe=subscribe,
            listener=PeerEvents(self.outbox, conn, closed),
            # A standing mute holds from a new publication's first packet, also across a channel.
            muted_kinds=[kind for kind, muted in mutes.items() if muted],
        )
        if subscribe and session.room is not None:
            # The SFU forwards nothing unasked: what is already published, this peer receives
            # now; what comes later, `RoomEvents.on_publication` hands it.
            peer.consume(consumption.wanted(session, conn, session.room))
        return peer

    async def bring_in(
        self, session: HearingSession, conn: Connection, *, tell_admitted: bool
    ) -> None:
        """Admit a present participant: hearing room, SFU peer, announcement."""
        participant = conn.participant
        if not participant.admitted or participant.state is not ParticipantState.ADMITTED:
            participant = await self.service.admit(participant)
            participant = await self.service.set_state(participant, ParticipantState.ADMITTED)
        conn.participant = participant
        conn.in_room = True
        # In a room from now on (the one they were in before a reconnect, if any): what the new
        # peer consumes and whom the lists show follow from it.
        session.rooms.place(conn)
        if conn.sid is not None:
            self.outbox.enter(conn.sid, session.room_name)
            if tell_admitted:
                # Queued before the SFU peer exists, so it reaches the client before any offer.
                self.outbox.emit("admitted", self._admission_payload(session, conn), to=conn.sid)
            self.tell_room(session, conn, by=None)
            if conn.grants.moderate:
                # An alarm raised while nobody could hear it (at start-up, before this moderator
                # came, on a socket that then dropped) still stands: told on every coming in.
                for alarm in self.sessions.sidecars.standing_alarms(session.id):
                    self.outbox.emit("alarm", {"hearing_id": session.id, **alarm}, to=conn.sid)
                for pid in sorted(session.hands):
                    self.outbox.emit(
                        "hand_raised", {"participant_id": pid, "raised": True}, to=conn.sid
                    )
        conn.peer = self.new_peer(session, conn)
        if not conn.grants.hidden:
            tell_about(
                self.outbox,
                session,
                participant.id,
                "participant_joined",
                {"participant": session.participant_json(participant)},
            )
            self.rooms_changed(session)

    async def drop(
        self,
        session: HearingSession,
        conn: Connection,
        *,
        reason: LeftReason,
        notify: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """Take a connection out of the hearing; ``notify`` is told to its socket first."""
        pid = conn.participant.id
        # Who is told that they left: those who saw them, as they were before they went.
        told = audience(session, pid)
        if reason is LeftReason.REMOVED:
            session.rooms.forget(pid)  # their token is revoked: no room to come back to
        if session.connections.get(pid) is conn:
            del session.connections[pid]
            # Whoever leaves stops asking to speak; the consoles drop the hand with the tile.
            session.hands.discard(pid)
        if conn.sid is not None:
            self.sessions.forget_socket(conn.sid)
            self.outbox.leave(conn.sid, session.room_name)
            self.outbox.leave(conn.sid, session.moderators_name)
            if notify is not None:
                self.outbox.emit(notify[0], notify[1], to=conn.sid)
                self.outbox.disconnect(conn.sid)
        was_in_room, conn.in_room = conn.in_room, False
        peer, conn.peer = conn.peer, None
        if peer is not None:
            await self.sessions.remove_peer(session, pid)
            await self.sessions.close_idle_room(session)
        if was_in_room:
            if not conn.grants.hidden:
                tell_about(
                    self.outbox,
                    session,
                    pid,
                    "participant_left",
                    {"participant_id": pid, "reason": reason.value},
                    sids=told,
                )
                self.rooms_changed(session)
        elif conn.via is Via.SOCKET:
            self.lobby_changed(session)
