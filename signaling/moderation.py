"""Moderation: admitting, denying and removing participants, mutes, raised hands, the clients'
media reports and alarms for the moderators, and ending the hearing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from signaling.errors import conflict, forbidden, not_admitted, not_found
from signaling.live_state import HearingSession, LeftReason, moderators_room
from signaling.models import Hearing, ParticipantState
from signaling.presence import Presence
from signaling.registry import SessionRegistry
from signaling.roles import LEADERS, Actor
from signaling.rooms import tell_about
from signaling.rooms_actions import RoomActions

log = logging.getLogger("cloudcourt.live")


class Moderation:
    def __init__(
        self,
        sessions: SessionRegistry,
        presence: Presence,
        lobby_waited: Callable[[float], None],
    ) -> None:
        self.sessions = sessions
        self.service = sessions.service
        self.outbox = sessions.outbox
        self.presence = presence
        self.lobby_waited = lobby_waited  # seconds someone waited, at their admission
        # Rooms within the hearing (open, close, move, watch): here, so that the HTTP routes
        # and the Socket.IO events reach them as they reach the rest of moderation.
        self.rooms = RoomActions(sessions, presence)

    # ------------------------------------------------------------------ lobby and removal
    async def admit(self, hearing_id: str, participant_id: str, actor: Actor) -> dict[str, Any]:
        if not actor.may_moderate:
            raise forbidden(f"admitting needs the moderate grant ({LEADERS})")
        async with self.sessions.locked_unended(hearing_id) as (session, _):
            target = await self.service.participant(hearing_id, participant_id)
            target = await self.service.admit(target)
            conn = session.connections.get(target.id)
            if conn is not None and not conn.in_room:
                conn.participant = target
                self.lobby_waited(time.monotonic() - conn.since)
                await self.presence.bring_in(session, conn, tell_admitted=True)
                self.presence.lobby_changed(session)
                target = conn.participant
            elif conn is None and target.state is not ParticipantState.ADMITTED:
                target = await self.service.set_state(target, ParticipantState.ADMITTED)
            log.info("%s admitted %s to hearing %s", actor.label, target.id, hearing_id)
            return session.participant_json(target)

    async def deny(
        self, hearing_id: str, participant_id: str, actor: Actor, reason: str | None
    ) -> dict[str, Any]:
        if not actor.may_moderate:
            raise forbidden(f"denying needs the moderate grant ({LEADERS})")
        async with self.sessions.locked_unended(hearing_id) as (session, _):
            target = await self.service.participant(hearing_id, participant_id)
            target = await self.service.deny(target)
            conn = session.connections.get(target.id)
            if conn is not None:
                text = reason or "the court did not admit you to this hearing"
                await self.presence.drop(
                    session, conn, reason=LeftReason.REMOVED, notify=("denied", {"reason": text})
                )
            log.info("%s denied %s in hearing %s", actor.label, target.id, hearing_id)
            return session.participant_json(target)

    async def remove(
        self, hearing_id: str, participant_id: str, actor: Actor, reason: str | None
    ) -> dict[str, Any]:
        if not actor.may_moderate:
            raise forbidden(f"removing needs the moderate grant ({LEADERS})")
        async with self.sessions.locked_unended(hearing_id) as (session, _):
            target = await self.service.participant(hearing_id, participant_id)
            if not actor.outranks(target.role):
                raise forbidden(f"a {actor.role} may not remove the {target.role}")
            target = await self.service.remove(target)
            conn = session.connections.get(target.id)
            if conn is not None:
                text = reason or "you were removed from the hearing"
                await self.presence.drop(
                    session, conn, reason=LeftReason.REMOVED, notify=("removed", {"reason": text})
                )
            for playback in session.playbacks_of(target.id):
                await self.sessions.drop_playback(session, playback)
            await self.sessions.close_idle_room(session)
            log.info("%s removed %s from hearing %s", actor.label, target.id, hearing_id)
            return session.participant_json(target)

    # ------------------------------------------------------------------ mutes and hands
    async def mute(
        self, hearing_id: str, actor: Actor, participant_id: str, kind: str, muted: bool
    ) -> dict[str, Any]:
        async with self.sessions.locked_unended(hearing_id) as (session, _):
            target = await self.service.participant(hearing_id, participant_id)
            is_self = actor.participant_id == target.id
            as_moderator = actor.may_moderate and actor.outranks(target.role)
            if not as_moderator and not is_self:
                if actor.may_moderate:
                    raise forbidden(f"a {actor.role} may not mute the {target.role}")
                raise forbidden("only a moderator can mute another participant")
            state = session.mute_state(target.id)
            if state.apply(kind, muted, as_moderator=as_moderator):
                self._enforce_mute(session, target.id, kind, by=actor.label)
            if as_moderator and kind == "audio" and not muted:
                # Given the floor: the request to speak is answered.
                self._lower_hand(session, target.id)
            return session.participant_json(target)

    def _enforce_mute(
        self, session: HearingSession, participant_id: str, kind: str, by: str
    ) -> None:
        if session.room is None:
            return
        state = session.mute_state(participant_id)
        muted = state.muted(kind)
        conn = session.connections.get(participant_id)
        if conn is not None and conn.peer is not None:
            # Its next publications start in the standing state (from their first packet).
            conn.peer.set_muted_kinds([k for k, m in state.to_json().items() if m])
        for publication in list(session.room.publications.values()):
            if publication.peer_id != participant_id or publication.kind != kind:
                continue
            session.room.set_muted(publication.id, muted)
            # To those who see the participant (their room, the moderators) and to themselves.
            tell_about(
                self.presence.outbox,
                session,
                participant_id,
                "track_muted",
                {
                    "publication_id": publication.id,
                    "participant_id": participant_id,
                    "kind": kind,
                    "muted": muted,
                    "by": by,
                },
                to_self=True,
            )

    async def raise_hand(self, sid: str) -> None:
        """A participant asks to speak (typically one the court muted)."""
        session, conn = self.sessions.socket_actor(sid)
        if not conn.in_room:
            raise not_admitted("you are waiting in the lobby until a moderator admits you")
        if not conn.grants.publish:
            raise forbidden(f"a {conn.participant.role} token cannot ask to speak")
        pid = conn.participant.id
        if pid not in session.hands:
            session.hands.add(pid)
            log.info("%s %s raised a hand in hearing %s", conn.participant.role, pid, session.id)
            self.outbox.emit(
                "hand_raised", {"participant_id": pid, "raised": True}, to=session.moderators_name
            )

    async def lower_hand(self, sid: str, participant_id: str) -> None:
        """A moderator dismisses a raised hand, or its owner takes it back."""
        session, conn = self.sessions.socket_actor(sid)
        if participant_id != conn.participant.id and not conn.grants.moderate:
            raise forbidden("only a moderator can lower another participant's hand")
        if participant_id not in session.connections:
            raise not_found(f"no participant {participant_id} is in the hearing")
        self._lower_hand(session, participant_id)

    def _lower_hand(self, session: HearingSession, participant_id: str) -> None:
        if participant_id not in session.hands:
            return
        session.hands.discard(participant_id)
        payload = {"participant_id": participant_id, "raised": False}
        self.outbox.emit("hand_raised", payload, to=session.moderators_name)
        conn = session.connections.get(participant_id)
        if conn is not None and conn.sid is not None and not conn.grants.moderate:
            # Answered or dismissed: its owner may ask again.
            self.outbox.emit("hand_raised", payload, to=conn.sid)

    # ------------------------------------------------------------------ what moderators are told
    async def media_status(self, sid: str, target: str, connected: bool, state: str) -> None:
        """A client says whether one of its PCs connected (``connected: false`` once its deadline
        passed, or it failed): logged, counted, and told to the moderators, so that a hearing
        whose media never flows is noticed in seconds rather than by black tiles."""
        session, conn = self.sessions.socket_actor(sid)
        if not conn.in_room:
            raise not_admitted("you are waiting in the lobby until a moderator admits you")
        pid = conn.participant.id
        if connected:
            log.info(
                "%s %s in hearing %s: %s media connected",
                conn.participant.role,
                pid,
                session.id,
                target,
            )
        else:
            self.sessions.media_failures += 1
            log.warning(
                "%s %s in hearing %s: %s media did not connect (ICE/DTLS state %s); "
                "the client was told to check its network and browser",
                conn.participant.role,
                pid,
                session.id,
                target,
                state,
            )
        self.outbox.emit(
            "media_status",
            {"participant_id": pid, "target": target, "connected": connected, "state": state},
            to=session.moderators_name,
        )

    def alarm(self, hearing_id: str, alarm: dict[str, Any]) -> None:
        """A sidecar's alarm: to the hearing's moderators (judge console) and the log."""
        log.error(
            "hearing %s: %s alarm %s: %s",
            hearing_id,
            alarm["source"],
            alarm["code"],
            alarm["message"],
        )
        self.outbox.emit(
            "alarm", {"hearing_id": hearing_id, **alarm}, to=moderators_room(hearing_id)
        )

    # ------------------------------------------------------------------ the end
    async def end(self, hearing_id: str, actor: Actor) -> Hearing:
        if not actor.may_moderate:
            raise forbidden(f"ending the hearing needs the moderate grant ({LEADERS})")
        async with self.sessions.locked_session(hearing_id) as session:
            if session.closed:
                raise conflict(f"hearing {hearing_id} has already ended")
            hearing = await self.service.end(hearing_id)
            # From here on, whoever waited for this lock finds the hearing closed.
            session.closed = True
            payload = {"hearing": hearing.to_json()}
            for conn in list(session.connections.values()):
                if conn.sid is not None:
                    self.sessions.forget_socket(conn.sid)
                    self.outbox.emit("hearing_ended", payload, to=conn.sid)
                    self.outbox.disconnect(conn.sid)
            await self.sessions.discard_ended(session)
        log.info("%s ended hearing %s", actor.label, hearing_id)
        self.sessions.sidecars.hearing_ended(hearing)
        return hearing
