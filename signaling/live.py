"""Live hearings: who is connected, who waits in the lobby, and each hearing's SFU room.

Socket.IO, WHIP/WHEP and the HTTP moderation routes all act through ``LiveHearings`` so that a
removal over HTTP disconnects the socket, an admission over Socket.IO lets a WHIP encoder in, and
so on. State changes of one hearing happen under that hearing's lock; SDP negotiation does not (it
can take a while and must not hold up the lobby).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sfu import Peer, Room, SfuError, Worker
from signaling.errors import (
    Code,
    CourtError,
    conflict,
    forbidden,
    not_admitted,
    not_found,
    unauthorized,
)
from signaling.hearings import HearingService
from signaling.models import Hearing, HearingState, Participant, ParticipantState
from signaling.mutes import MuteState
from signaling.outbox import Outbox
from signaling.roles import Actor, Grants, Role, grants_for, outranks
from signaling.sfu_listeners import PeerEvents, RoomEvents, WhepEvents, publication_json
from signaling.tokens import TokenRevoked

log = logging.getLogger("cloudcourt.live")


@contextmanager
def _sdp_errors() -> Iterator[None]:
    """Turn the SFU's refusal of an SDP or ICE candidate into the ``sdp`` error the client gets."""
    try:
        yield
    except SfuError as exc:
        raise CourtError(Code.SDP, str(exc)) from None


def hearing_room(hearing_id: str) -> str:
    return f"hearing:{hearing_id}"


def moderators_room(hearing_id: str) -> str:
    return f"moderators:{hearing_id}"


class Via(StrEnum):
    SOCKET = "socket"
    WHIP = "whip"


@dataclass(eq=False)
class Connection:
    """A participant's presence: one socket, or one WHIP publish. One per participant."""

    participant: Participant
    via: Via
    sid: str | None = None
    resource_id: str | None = None
    peer: Peer | None = None
    # Admitted and present: listed to others, in the hearing's Socket.IO room, has an SFU peer.
    in_room: bool = False

    @property
    def grants(self) -> Grants:
        return grants_for(self.participant.role)


@dataclass(eq=False)
class WhepSession:
    """A WHEP playback. Not a presence: it is not listed and does not displace the participant's
    socket, so a participant may watch over WHEP while also being in the hearing."""

    resource_id: str
    participant: Participant
    peer: Peer


class LiveHearing:
    def __init__(self, hearing_id: str) -> None:
        self.id = hearing_id
        self.room_name = hearing_room(hearing_id)
        self.moderators_name = moderators_room(hearing_id)
        self.lock = asyncio.Lock()
        self.connections: dict[str, Connection] = {}
        self.wheps: dict[str, WhepSession] = {}
        self.mutes: dict[str, MuteState] = {}
        self.room: Room | None = None

    def mute_state(self, participant_id: str) -> MuteState:
        return self.mutes.setdefault(participant_id, MuteState())

    def participant_json(self, participant: Participant) -> dict[str, Any]:
        return participant.to_json(muted=self.mute_state(participant.id).to_json())

    def present(self) -> list[dict[str, Any]]:
        return [
            self.participant_json(c.participant)
            for c in self.connections.values()
            if c.in_room and not c.grants.hidden
        ]

    def waiting(self) -> list[dict[str, Any]]:
        return [
            self.participant_json(c.participant)
            for c in self.connections.values()
            if c.via is Via.SOCKET and not c.in_room
        ]

    def publications(self) -> list[dict[str, Any]]:
        if self.room is None:
            return []
        return [publication_json(p) for p in self.room.publications.values()]


class LiveHearings:
    def __init__(
        self,
        service: HearingService,
        worker: Worker,
        outbox: Outbox,
        ice_servers: list[dict[str, Any]],
    ) -> None:
        self.service = service
        self.tokens = service.tokens
        self.worker = worker
        self.outbox = outbox
        self.ice_servers = ice_servers
        self._hearings: dict[str, LiveHearing] = {}
        self._sockets: dict[str, tuple[str, str]] = {}  # sid -> (hearing id, participant id)
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ plumbing
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def _live(self, hearing_id: str) -> LiveHearing:
        live = self._hearings.get(hearing_id)
        if live is None:
            live = self._hearings[hearing_id] = LiveHearing(hearing_id)
        return live

    def _room(self, live: LiveHearing) -> Room:
        if live.room is None:
            live.room = self.worker.room(live.id, RoomEvents(self, live))
        return live.room

    def stats(self) -> dict[str, int]:
        return {
            "live_hearings": sum(1 for h in self._hearings.values() if h.connections or h.wheps),
            "sockets": len(self._sockets),
        }

    async def _fresh(self, participant: Participant) -> Participant:
        """Re-read under the lock: the participant may have been removed since authentication."""
        current = await self.service.participant(participant.hearing_id, participant.id)
        if current.revoked:
            raise TokenRevoked()
        return current

    async def _remove_peer(self, live: LiveHearing, peer_id: str) -> None:
        if live.room is None:
            return
        try:
            await live.room.remove_peer(peer_id)
        except Exception:
            log.exception("closing SFU peer %s of hearing %s failed", peer_id, live.id)

    async def _close_idle_room(self, live: LiveHearing) -> None:
        """Close the SFU room once nobody is connected, so idle hearings cost the SFU nothing."""
        if live.room is None or live.wheps:
            return
        if any(c.peer is not None for c in live.connections.values()):
            return
        live.room = None
        try:
            await self.worker.close_room(live.id)
        except Exception:
            log.exception("closing the SFU room of hearing %s failed", live.id)

    def _hearing_changed(self, live: LiveHearing, hearing: Hearing | None) -> None:
        if hearing is not None:
            log.info("hearing %s is now %s", hearing.id, hearing.state)
            self.outbox.emit("hearing_state", {"hearing": hearing.to_json()}, to=live.room_name)

    def _lobby_changed(self, live: LiveHearing) -> None:
        self.outbox.emit("lobby", {"waiting": live.waiting()}, to=live.moderators_name)

    def _admission_payload(self, live: LiveHearing, conn: Connection) -> dict[str, Any]:
        return {
            "participant": live.participant_json(conn.participant),
            "participants": live.present(),
            "publications": live.publications(),
            "ice_servers": self.ice_servers,
        }

    def _new_peer(self, live: LiveHearing, conn: Connection) -> Peer:
        grants = conn.grants
        subscribe = grants.subscribe and conn.via is Via.SOCKET
        peer = self._room(live).add_peer(
            conn.participant.id,
            publish=grants.publish,
            subscribe=subscribe,
            listener=PeerEvents(self, live, conn),
        )
        if subscribe:
            # Room.add_peer only subscribes a peer to publications that appear *after* it; the
            # ones already flowing are offered when the peer is asked to sync. Not (yet) part of
            # docs/SFU.md; harmless if add_peer starts doing it itself.
            sync = getattr(peer, "sync_subscriptions", None)
            if callable(sync):
                sync()
        return peer

    async def _bring_in(self, live: LiveHearing, conn: Connection, *, tell_admitted: bool) -> None:
        """Admit a present participant: hearing room, SFU peer, announcement."""
        participant = conn.participant
        if not participant.admitted or participant.state is not ParticipantState.ADMITTED:
            participant = await self.service.admit(participant)
            participant = await self.service.set_state(participant, ParticipantState.ADMITTED)
        conn.participant = participant
        conn.in_room = True
        if conn.sid is not None:
            self.outbox.enter(conn.sid, live.room_name)
            if tell_admitted:
                # Queued before the SFU peer exists, so it reaches the client before any offer.
                self.outbox.emit("admitted", self._admission_payload(live, conn), to=conn.sid)
        conn.peer = self._new_peer(live, conn)
        if not conn.grants.hidden:
            self.outbox.emit(
                "participant_joined",
                {"participant": live.participant_json(participant)},
                to=live.room_name,
                skip_sid=conn.sid,
            )

    async def _drop(
        self,
        live: LiveHearing,
        conn: Connection,
        *,
        reason: str,
        notify: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """Take a connection out of the hearing; ``notify`` is told to its socket first."""
        pid = conn.participant.id
        if live.connections.get(pid) is conn:
            del live.connections[pid]
        if conn.sid is not None:
            self._sockets.pop(conn.sid, None)
            self.outbox.leave(conn.sid, live.room_name)
            self.outbox.leave(conn.sid, live.moderators_name)
            if notify is not None:
                self.outbox.emit(notify[0], notify[1], to=conn.sid)
                self.outbox.disconnect(conn.sid)
        was_in_room, conn.in_room = conn.in_room, False
        peer, conn.peer = conn.peer, None
        if peer is not None:
            await self._remove_peer(live, pid)
            await self._close_idle_room(live)
        if was_in_room:
            if not conn.grants.hidden:
                self.outbox.emit(
                    "participant_left",
                    {"participant_id": pid, "reason": reason},
                    to=live.room_name,
                )
        elif conn.via is Via.SOCKET:
            self._lobby_changed(live)

    async def _drop_wheps(self, live: LiveHearing, participant_id: str) -> None:
        for session in [s for s in live.wheps.values() if s.participant.id == participant_id]:
            live.wheps.pop(session.resource_id, None)
            await self._remove_peer(live, session.peer.id)
        await self._close_idle_room(live)

    # ------------------------------------------------------------------ Socket.IO presence
    def socket_actor(self, sid: str) -> tuple[LiveHearing, Connection]:
        entry = self._sockets.get(sid)
        live = self._hearings.get(entry[0]) if entry else None
        conn = live.connections.get(entry[1]) if live and entry else None
        if live is None or conn is None or conn.sid != sid:
            raise unauthorized("join the hearing with a token first")
        return live, conn

    def is_joined(self, sid: str) -> bool:
        return sid in self._sockets

    async def join(self, sid: str, token: object) -> dict[str, Any]:
        if sid in self._sockets:
            raise conflict("this socket has already joined; leave first or open a new socket")
        claims, participant = await self.tokens.authenticate(token)
        grants = grants_for(claims.role)
        if not grants.webrtc:
            raise forbidden("a viewer token is for the public stream and cannot join the hearing")
        hearing = await self.service.get_open(claims.hearing_id)
        live = self._live(hearing.id)
        async with live.lock:
            if sid in self._sockets:
                raise conflict("this socket has already joined; leave first or open a new socket")
            participant = await self._fresh(participant)
            old = live.connections.get(participant.id)
            if old is not None:
                # The newest connection wins: a participant who reloads the page must not be
                # locked out by the socket that has not timed out yet.
                await self._drop(
                    live, old, reason="replaced", notify=("removed", {"reason": "replaced"})
                )
            conn = Connection(participant=participant, via=Via.SOCKET, sid=sid)
            live.connections[participant.id] = conn
            self._sockets[sid] = (hearing.id, participant.id)
            try:
                changed = await self.service.note_joined(hearing.id, claims.role)
                if changed is not None:
                    hearing = changed
                    self._hearing_changed(live, changed)
                if grants.moderate:
                    self.outbox.enter(sid, live.moderators_name)
                if grants.moderate or participant.admitted:
                    await self._bring_in(live, conn, tell_admitted=False)
                    ack = {"ok": True, "state": "admitted", "hearing": hearing.to_json()}
                    ack.update(self._admission_payload(live, conn))
                else:
                    self._lobby_changed(live)
                    ack = {
                        "ok": True,
                        "state": "lobby",
                        "hearing": hearing.to_json(),
                        "participant": live.participant_json(conn.participant),
                        "participants": [],
                        "publications": [],
                        "ice_servers": [],
                    }
            except Exception:
                # Half a join is worse than none: the client is told it failed, so undo it.
                await self._drop(live, conn, reason="failed")
                raise
            if grants.moderate:
                self.outbox.emit("lobby", {"waiting": live.waiting()}, to=sid)
            log.info(
                "%s %s joined hearing %s (%s)",
                claims.role,
                participant.id,
                hearing.id,
                ack["state"],
            )
            return ack

    async def leave(self, sid: str, reason: str) -> None:
        entry = self._sockets.get(sid)
        if entry is None:
            return
        live = self._hearings.get(entry[0])
        if live is None:
            self._sockets.pop(sid, None)
            return
        async with live.lock:
            conn = live.connections.get(entry[1])
            if conn is None or conn.sid != sid:
                self._sockets.pop(sid, None)
                return
            was_in_room = conn.in_room
            await self._drop(live, conn, reason=reason)
            if was_in_room:
                try:
                    await self.service.set_state(conn.participant, ParticipantState.LEFT)
                except CourtError:
                    pass  # the hearing's records went away meanwhile; nothing to mark
            log.info("participant %s left hearing %s (%s)", conn.participant.id, live.id, reason)

    # ------------------------------------------------------------------ Socket.IO negotiation
    def _media_peer(self, sid: str, grant: str) -> Peer:
        _, conn = self.socket_actor(sid)
        if not conn.in_room or conn.peer is None:
            raise not_admitted("you are waiting in the lobby until a moderator admits you")
        if grant and not getattr(conn.grants, grant):
            raise forbidden(f"a {conn.participant.role} token does not have the {grant} grant")
        return conn.peer

    async def publish(self, sid: str, sdp: str) -> str:
        peer = self._media_peer(sid, "publish")
        with _sdp_errors():
            return await peer.publisher_offer(sdp)

    async def subscriber_answer(self, sid: str, sdp: str) -> None:
        peer = self._media_peer(sid, "subscribe")
        with _sdp_errors():
            await peer.subscriber_answer(sdp)

    async def ice_candidate(
        self, sid: str, target: str, candidate: str, sdp_mid: str | None, index: int | None
    ) -> None:
        peer = self._media_peer(sid, "")
        with _sdp_errors():
            await peer.add_ice_candidate(target, candidate, sdp_mid, index)  # type: ignore[arg-type]

    async def peer_closed(
        self, live: LiveHearing, conn: Connection, peer: Peer, reason: str
    ) -> None:
        """The SFU gave up on a peer (ICE/DTLS failure, or a WHIP publisher fell silent)."""
        async with live.lock:
            if conn.peer is not peer or live.connections.get(conn.participant.id) is not conn:
                return
            log.info("media of %s in hearing %s closed: %s", conn.participant.id, live.id, reason)
            if conn.via is Via.WHIP:
                await self._drop(live, conn, reason="connection_lost")
                await self.service.set_state(conn.participant, ParticipantState.LEFT)
                return
            # The socket is still there: give it fresh server-side connections and tell the
            # client to build new ones (a browser cannot reuse a failed RTCPeerConnection).
            conn.peer = None
            await self._remove_peer(live, conn.participant.id)
            if conn.sid is not None:
                self.outbox.emit("media_reset", {"reason": reason}, to=conn.sid)
            conn.peer = self._new_peer(live, conn)

    # ------------------------------------------------------------------ moderation
    async def admit(self, hearing_id: str, participant_id: object, actor: Actor) -> dict[str, Any]:
        if not actor.may_moderate:
            raise forbidden("admitting needs the moderate grant (judge or clerk)")
        await self.service.get_open(hearing_id)
        live = self._live(hearing_id)
        async with live.lock:
            target = await self.service.participant(hearing_id, participant_id)
            target = await self.service.admit(target)
            conn = live.connections.get(target.id)
            if conn is not None and not conn.in_room:
                conn.participant = target
                await self._bring_in(live, conn, tell_admitted=True)
                self._lobby_changed(live)
                target = conn.participant
            elif conn is None and target.state is not ParticipantState.ADMITTED:
                target = await self.service.set_state(target, ParticipantState.ADMITTED)
            log.info("%s admitted %s to hearing %s", actor.label, target.id, hearing_id)
            return live.participant_json(target)

    async def deny(
        self, hearing_id: str, participant_id: object, actor: Actor, reason: str | None
    ) -> dict[str, Any]:
        if not actor.may_moderate:
            raise forbidden("denying needs the moderate grant (judge or clerk)")
        await self.service.get_open(hearing_id)
        live = self._live(hearing_id)
        async with live.lock:
            target = await self.service.participant(hearing_id, participant_id)
            target = await self.service.deny(target)
            conn = live.connections.get(target.id)
            if conn is not None:
                text = reason or "the court did not admit you to this hearing"
                await self._drop(live, conn, reason="denied", notify=("denied", {"reason": text}))
            log.info("%s denied %s in hearing %s", actor.label, target.id, hearing_id)
            return live.participant_json(target)

    async def remove(
        self, hearing_id: str, participant_id: object, actor: Actor, reason: str | None
    ) -> dict[str, Any]:
        if not actor.may_moderate:
            raise forbidden("removing needs the moderate grant (judge or clerk)")
        await self.service.get(hearing_id)
        live = self._live(hearing_id)
        async with live.lock:
            target = await self.service.participant(hearing_id, participant_id)
            if not outranks(actor.role, target.role):
                raise forbidden(f"a {actor.role} may not remove the {target.role}")
            target = await self.service.remove(target)
            conn = live.connections.get(target.id)
            if conn is not None:
                text = reason or "you were removed from the hearing"
                await self._drop(live, conn, reason="removed", notify=("removed", {"reason": text}))
            await self._drop_wheps(live, target.id)
            log.info("%s removed %s from hearing %s", actor.label, target.id, hearing_id)
            return live.participant_json(target)

    async def mute(
        self, hearing_id: str, actor: Actor, participant_id: object, kind: str, muted: bool
    ) -> dict[str, Any]:
        await self.service.get_open(hearing_id)
        live = self._live(hearing_id)
        async with live.lock:
            target = await self.service.participant(hearing_id, participant_id)
            is_self = actor.participant_id == target.id
            as_moderator = actor.may_moderate and outranks(actor.role, target.role)
            if not as_moderator and not is_self:
                if actor.may_moderate:
                    raise forbidden(f"a {actor.role} may not mute the {target.role}")
                raise forbidden("only a moderator can mute another participant")
            state = live.mute_state(target.id)
            if state.apply(kind, muted, as_moderator=as_moderator):
                self._enforce_mute(live, target.id, kind, by=actor.label)
            return live.participant_json(target)

    def _enforce_mute(self, live: LiveHearing, participant_id: str, kind: str, by: str) -> None:
        if live.room is None:
            return
        muted = live.mute_state(participant_id).muted(kind)
        for publication in list(live.room.publications.values()):
            if publication.peer_id != participant_id or publication.kind != kind:
                continue
            live.room.set_muted(publication.id, muted)
            self.outbox.emit(
                "track_muted",
                {
                    "publication_id": publication.id,
                    "participant_id": participant_id,
                    "kind": kind,
                    "muted": muted,
                    "by": by,
                },
                to=live.room_name,
            )

    async def end(self, hearing_id: str, actor: Actor) -> Hearing:
        if not actor.may_moderate:
            raise forbidden("ending the hearing needs the moderate grant (judge or clerk)")
        await self.service.get(hearing_id)
        live = self._live(hearing_id)
        async with live.lock:
            hearing = await self.service.end(hearing_id)
            payload = {"hearing": hearing.to_json()}
            for conn in list(live.connections.values()):
                if conn.sid is not None:
                    self._sockets.pop(conn.sid, None)
                    self.outbox.emit("hearing_ended", payload, to=conn.sid)
                    self.outbox.disconnect(conn.sid)
            live.connections.clear()
            live.wheps.clear()
            if live.room is not None:
                live.room = None
                try:
                    await self.worker.close_room(hearing_id)
                except Exception:
                    log.exception("closing the SFU room of hearing %s failed", hearing_id)
            self._hearings.pop(hearing_id, None)
        log.info("%s ended hearing %s", actor.label, hearing_id)
        return hearing

    # ------------------------------------------------------------------ WHIP / WHEP
    async def _http_participant(
        self, hearing_id: str, token: object, grant: str
    ) -> tuple[Hearing, Participant]:
        hearing = await self.service.get(hearing_id)
        _, participant = await self.tokens.authenticate(token, hearing_id=hearing.id)
        grants = grants_for(participant.role)
        if not grants.webrtc:
            raise forbidden("a viewer token is for the public stream and cannot use WHIP or WHEP")
        if not getattr(grants, grant):
            raise forbidden(f"a {participant.role} token does not have the {grant} grant")
        if hearing.state is HearingState.ENDED:
            raise conflict("the hearing has ended")
        if not (grants.moderate or participant.admitted):
            raise not_admitted(
                "the participant is waiting in the lobby; a moderator must admit them first"
            )
        return hearing, participant

    async def whip_publish(self, hearing_id: str, token: object, sdp: str) -> tuple[str, str]:
        """Returns (resource id, SDP answer)."""
        hearing, participant = await self._http_participant(hearing_id, token, "publish")
        live = self._live(hearing.id)
        async with live.lock:
            participant = await self._fresh(participant)
            old = live.connections.get(participant.id)
            if old is not None:
                await self._drop(
                    live, old, reason="replaced", notify=("removed", {"reason": "replaced"})
                )
            conn = Connection(
                participant=participant, via=Via.WHIP, resource_id=secrets.token_urlsafe(16)
            )
            live.connections[participant.id] = conn
            conn.peer = self._new_peer(live, conn)
        peer = conn.peer
        with _sdp_errors():
            try:
                # ffmpeg never answers ICE consent checks once it streams; see docs/OPERATIONS.md.
                answer = await peer.publisher_offer(sdp, consent_checks=False)
            except Exception:
                async with live.lock:
                    await self._drop(live, conn, reason="failed")
                raise
        async with live.lock:
            if live.connections.get(participant.id) is not conn or conn.peer is not peer:
                raise conflict("the publish was replaced or removed while it was being set up")
            conn.in_room = True
            conn.participant = await self.service.set_state(
                conn.participant, ParticipantState.ADMITTED
            )
            self._hearing_changed(
                live, await self.service.note_joined(hearing.id, participant.role)
            )
            if not conn.grants.hidden:
                self.outbox.emit(
                    "participant_joined",
                    {"participant": live.participant_json(conn.participant)},
                    to=live.room_name,
                )
        log.info(
            "WHIP publish by %s %s in hearing %s", participant.role, participant.id, hearing.id
        )
        assert conn.resource_id is not None
        return conn.resource_id, answer

    def _whep_source(self, live: LiveHearing, requested: str | None) -> str:
        publishers = [p.peer_id for p in live.room.publications.values()] if live.room else []
        if requested is not None:
            if requested not in publishers:
                raise not_found(f"participant {requested!r} is not publishing in this hearing")
            return requested
        judges = {
            pid
            for pid, c in live.connections.items()
            if c.in_room and c.participant.role is Role.JUDGE
        }
        for pid in publishers:
            if pid in judges:
                return pid
        raise not_found("the judge is not publishing yet; try again once the judge is on")

    async def whep_play(
        self, hearing_id: str, token: object, sdp: str, source: str | None
    ) -> tuple[str, str]:
        hearing, participant = await self._http_participant(hearing_id, token, "subscribe")
        live = self._live(hearing.id)
        async with live.lock:
            await self._fresh(participant)
            source_id = self._whep_source(live, source)
            resource_id = secrets.token_urlsafe(16)
            # Its own peer id, so playback never collides with the participant's own presence.
            peer = self._room(live).add_peer(
                f"{participant.id}/whep/{resource_id}",
                publish=False,
                subscribe=True,
                listener=WhepEvents(self, live, resource_id),
            )
            session = WhepSession(resource_id=resource_id, participant=participant, peer=peer)
            live.wheps[resource_id] = session
        with _sdp_errors():
            try:
                answer = await peer.whep_offer(sdp, source_peer_id=source_id)
            except Exception:
                await self.close_whep(live, resource_id, "failed")
                raise
        log.info("WHEP playback of %s by %s in hearing %s", source_id, participant.id, hearing.id)
        return resource_id, answer

    async def close_whep(self, live: LiveHearing, resource_id: str, reason: str) -> bool:
        async with live.lock:
            session = live.wheps.pop(resource_id, None)
            if session is None:
                return False
            await self._remove_peer(live, session.peer.id)
            await self._close_idle_room(live)
            log.info("WHEP playback %s in hearing %s ended: %s", resource_id, live.id, reason)
            return True

    async def delete_resource(self, hearing_id: str, resource_id: str, via: str) -> None:
        live = self._hearings.get(hearing_id)
        if live is not None:
            if via == "whep":
                if await self.close_whep(live, resource_id, "deleted"):
                    return
            else:
                async with live.lock:
                    for conn in list(live.connections.values()):
                        if conn.via is Via.WHIP and conn.resource_id == resource_id:
                            was_in_room = conn.in_room
                            await self._drop(live, conn, reason="left")
                            if was_in_room:
                                await self.service.set_state(
                                    conn.participant, ParticipantState.LEFT
                                )
                            return
        raise not_found(f"no {via.upper()} session {resource_id!r} in hearing {hearing_id!r}")

    # ------------------------------------------------------------------ shutdown
    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for live in list(self._hearings.values()):
            for conn in live.connections.values():
                if conn.sid is not None:
                    self.outbox.disconnect(conn.sid)
        self._hearings.clear()
        self._sockets.clear()
