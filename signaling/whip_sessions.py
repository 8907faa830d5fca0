"""WHIP publishes and WHEP playbacks: an encoder's presence over HTTP, and a participant's
playback of one publisher, each a resource the client DELETEs when done.

A WHIP publish is a presence (``Presence.connect``), listed and replaced like a socket; a WHEP
playback is not (``WhepPlayback``).
"""

from __future__ import annotations

import logging
import secrets

from sfu import SfuError
from signaling import consumption
from signaling.errors import Code, CourtError, conflict, forbidden, not_admitted, not_found
from signaling.live_state import (
    MAX_WHEPS_PER_PARTICIPANT,
    HearingSession,
    LeftReason,
    Via,
    WhepPlayback,
)
from signaling.models import HearingState, Participant, ParticipantState
from signaling.presence import Presence
from signaling.registry import HEARING_ENDED, SessionRegistry
from signaling.roles import Role
from signaling.sfu_listeners import WhepEvents
from signaling.tokens import TokenClaims

log = logging.getLogger("cloudcourt.live")


class WhipWhepSessions:
    def __init__(self, sessions: SessionRegistry, presence: Presence) -> None:
        self.sessions = sessions
        self.service = sessions.service
        self.outbox = sessions.outbox
        self.presence = presence

    async def _http_participant(
        self, hearing_id: str, token: object, grant: str
    ) -> tuple[TokenClaims, Participant]:
        # Credentials before the hearing: without a valid token of this hearing, an unknown id and
        # somebody else's hearing must look alike (401), or hearing ids could be probed.
        claims, participant = await self.service.tokens.authenticate(token, hearing_id=hearing_id)
        grants = participant.grants
        if not grants.webrtc:
            raise forbidden("a viewer token is for the public stream and cannot use WHIP or WHEP")
        if not getattr(grants, grant):
            raise forbidden(f"a {participant.role} token does not have the {grant} grant")
        hearing = await self.service.get(hearing_id)
        if hearing.state is HearingState.ENDED:
            raise conflict(HEARING_ENDED)
        if not (grants.moderate or participant.admitted):
            raise not_admitted(
                "the participant is waiting in the lobby; a moderator must admit them first"
            )
        return claims, participant

    @staticmethod
    def _setup_failed(session: HearingSession, exc: Exception, what: str) -> Exception | None:
        """What a WHIP/WHEP client is told when its SDP step failed (None: the error itself)."""
        if session.closed:
            return conflict(f"the hearing ended while the {what} was being set up")
        if isinstance(exc, SfuError):
            return CourtError(Code.SDP, str(exc))
        return None

    # ------------------------------------------------------------------ WHIP
    async def whip_publish(self, hearing_id: str, token: object, sdp: str) -> tuple[str, str]:
        """Returns (resource id, SDP answer)."""
        claims, participant = await self._http_participant(hearing_id, token, "publish")
        async with self.sessions.locked_unended(hearing_id) as (session, hearing):
            conn = await self.presence.connect(
                session,
                participant,
                via=Via.WHIP,
                expires_at=claims.expires_at,
                resource_id=secrets.token_urlsafe(16),
            )
            conn.peer = self.presence.new_peer(session, conn)
        peer = conn.peer
        try:
            # ffmpeg never answers ICE consent checks once it streams; see docs/OPERATIONS.md.
            answer = await peer.publisher_offer(sdp, consent_checks=False)
        except Exception as exc:
            async with self.sessions.locked(session):
                await self.presence.drop(session, conn, reason=LeftReason.FAILED)
            told = self._setup_failed(session, exc, "publish")
            if told is None:
                raise
            raise told from None
        async with self.sessions.locked(session):
            if session.closed:
                raise conflict(HEARING_ENDED)
            if session.connections.get(participant.id) is not conn or conn.peer is not peer:
                raise conflict("the publish was replaced or removed while it was being set up")
            conn.in_room = True
            conn.participant = await self.service.set_state(
                conn.participant, ParticipantState.ADMITTED
            )
            self.presence.hearing_changed(
                session, await self.service.note_joined(hearing.id, participant.role, hearing.kind)
            )
            if not conn.grants.hidden:
                self.outbox.emit(
                    "participant_joined",
                    {"participant": session.participant_json(conn.participant)},
                    to=session.room_name,
                )
        log.info(
            "WHIP publish by %s %s in hearing %s", participant.role, participant.id, hearing.id
        )
        assert conn.resource_id is not None
        return conn.resource_id, answer

    # ------------------------------------------------------------------ WHEP
    def _whep_source(self, session: HearingSession, requested: str | None) -> str:
        room = session.room
        publishers = [p.peer_id for p in room.publications.values()] if room else []
        if requested is not None:
            if requested not in publishers:
                raise not_found(f"participant {requested!r} is not publishing in this hearing")
            return requested
        judges = {
            pid
            for pid, c in session.connections.items()
            if c.in_room and c.participant.role is Role.JUDGE
        }
        for pid in publishers:
            if pid in judges:
                return pid
        raise not_found("the judge is not publishing yet; try again once the judge is on")

    async def whep_play(
        self, hearing_id: str, token: object, sdp: str, source: str | None
    ) -> tuple[str, str]:
        claims, participant = await self._http_participant(hearing_id, token, "subscribe")
        async with self.sessions.locked_unended(hearing_id) as (session, _):
            participant = await self.presence.reread_participant(participant)
            # Counted under the lock and including playbacks still being set up, so parallel
            # requests cannot get past the cap together.
            if len(session.playbacks_of(participant.id)) >= MAX_WHEPS_PER_PARTICIPANT:
                raise conflict(
                    f"a participant may have at most {MAX_WHEPS_PER_PARTICIPANT} WHEP playbacks "
                    "at a time; DELETE one before starting another"
                )
            source_id = self._whep_source(session, source)
            resource_id = secrets.token_urlsafe(16)

            def closed(reason: str) -> None:
                self.sessions.spawn(self.end_playback(session, resource_id, reason))

            # Its own peer id, so playback never collides with the participant's own presence.
            peer = self.sessions.room(session).add_peer(
                f"{participant.id}/whep/{resource_id}",
                publish=False,
                subscribe=True,
                listener=WhepEvents(closed),
            )
            playback = WhepPlayback(
                resource_id=resource_id,
                participant=participant,
                peer=peer,
                expires_at=claims.expires_at,
            )
            session.playbacks[resource_id] = playback
            source_ids = consumption.source_publications(self.sessions.room(session), source_id)
        try:
            answer = await peer.whep_offer(sdp, source_ids)
        except Exception as exc:
            await self.end_playback(session, resource_id, "failed")
            told = self._setup_failed(session, exc, "playback")
            if told is None:
                raise
            raise told from None
        async with self.sessions.locked(session):
            if session.closed:
                raise conflict(HEARING_ENDED)
            if session.playbacks.get(resource_id) is not playback:
                raise conflict("the playback was ended while it was being set up")
            # Its source's later publications too (and any published during the offer).
            consumption.playback_started(session, playback, source_id)
        log.info("WHEP playback of %s by %s in hearing %s", source_id, participant.id, hearing_id)
        return resource_id, answer

    async def end_playback(self, session: HearingSession, resource_id: str, reason: str) -> bool:
        async with self.sessions.locked(session):
            playback = session.playbacks.get(resource_id)
            if playback is None:
                return False
            await self.sessions.drop_playback(session, playback)
            await self.sessions.close_idle_room(session)
            log.info("WHEP playback %s in hearing %s ended: %s", resource_id, session.id, reason)
            return True

    # ------------------------------------------------------------------ DELETE
    async def delete_resource(self, hearing_id: str, resource_id: str, via: str) -> None:
        session = self.sessions.get(hearing_id)
        if session is not None:
            if via == "whep":
                if await self.end_playback(session, resource_id, "deleted"):
                    return
            else:
                async with self.sessions.locked(session):
                    for conn in list(session.connections.values()):
                        if conn.via is Via.WHIP and conn.resource_id == resource_id:
                            was_in_room = conn.in_room
                            await self.presence.drop(session, conn, reason=LeftReason.LEFT)
                            if was_in_room:
                                await self.presence.mark_left(conn.participant)
                            return
        raise not_found(f"no {via.upper()} session {resource_id!r} in hearing {hearing_id!r}")
