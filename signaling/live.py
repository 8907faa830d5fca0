"""Live hearings: who is connected, who waits in the lobby, and each hearing's SFU room.

Socket.IO, WHIP/WHEP and the HTTP moderation routes all act through ``LiveHearings`` so that a
removal over HTTP disconnects the socket, an admission over Socket.IO lets a WHIP encoder in, and
so on. State changes of one hearing happen under that hearing's lock; SDP negotiation does not (it
can take a while and must not hold up the lobby).

Anything that starts something in a hearing re-checks, once it holds the lock, that the hearing
has not ended while it waited (``_open``): ``end`` closes the SFU room and drops the hearing's
entry, and a caller that went on regardless would open a new room nobody ever closes. Entries that
hold nothing any more are dropped too (``_forget_if_idle``), so memory follows what is live, not
every hearing ever touched.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
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
from signaling.live_state import (
    MAX_WHEPS_PER_PARTICIPANT,
    Connection,
    LeftReason,
    LiveHearing,
    Via,
    WhepSession,
    moderators_room,
)
from signaling.models import Hearing, HearingState, Participant, ParticipantState
from signaling.mutes import MuteState
from signaling.outbox import Outbox
from signaling.roles import Actor, Role, grants_for, outranks
from signaling.sfu_listeners import PeerEvents, RoomEvents, WhepEvents
from signaling.sidecars import Sidecars
from signaling.tokens import TokenClaims, TokenRevoked

log = logging.getLogger("cloudcourt.live")

HEARING_ENDED = "the hearing has ended"


@contextmanager
def _sdp_errors() -> Iterator[None]:
    """Turn the SFU's refusal of an SDP or ICE candidate into the ``sdp`` error the client gets."""
    try:
        yield
    except SfuError as exc:
        raise CourtError(Code.SDP, str(exc)) from None


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
        self.sidecars = Sidecars()
        self._hearings: dict[str, LiveHearing] = {}
        # Mutes by hearing, apart from the entries: someone the court muted stays muted when
        # everyone drops out and comes back. Forgotten when the hearing ends, or when its entry
        # goes idle with nothing muted.
        self._mutes: dict[str, dict[str, MuteState]] = {}
        self._sockets: dict[str, tuple[str, str]] = {}  # sid -> (hearing id, participant id)
        # Raised hands by hearing (participant ids asking to speak): for the moderators only.
        self._hands: dict[str, set[str]] = {}
        # WebRTC connections that clients reported as not connected in time (media_status).
        self.media_failures = 0
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
            mutes = self._mutes.setdefault(hearing_id, {})
            live = self._hearings[hearing_id] = LiveHearing(hearing_id, mutes)
        return live

    def _forget_if_idle(self, live: LiveHearing) -> None:
        if not live.idle() or self._hearings.get(live.id) is not live:
            return
        del self._hearings[live.id]
        for pid in [pid for pid, state in live.mutes.items() if not state.any()]:
            del live.mutes[pid]
        if not live.mutes and self._mutes.get(live.id) is live.mutes:
            del self._mutes[live.id]

    @asynccontextmanager
    async def _locked(self, live: LiveHearing) -> AsyncIterator[None]:
        """Hold the hearing's lock; afterwards drop its entry if nothing is left in it."""
        live.users += 1
        try:
            async with live.lock:
                yield
        finally:
            live.users -= 1
            self._forget_if_idle(live)

    @asynccontextmanager
    async def _open(self, hearing_id: str) -> AsyncIterator[tuple[LiveHearing, Hearing]]:
        """The hearing's live state, locked, for something that may only happen before it ends.

        Both checks come after the lock is taken: an ``end`` the caller waited for has set
        ``closed`` on the entry the caller holds; an entry made after ``end`` dropped the old one
        is new, so only the stored state tells."""
        live = self._live(hearing_id)
        async with self._locked(live):
            if live.closed:
                raise conflict(HEARING_ENDED)
            hearing = await self.service.get_open(hearing_id)
            yield live, hearing

    def _room(self, live: LiveHearing) -> Room:
        if live.closed:
            # _open keeps callers away from ended hearings; this is the last line of defence
            # against a room that would never be closed.
            raise conflict(HEARING_ENDED)
        if live.room is None:
            live.room = self.worker.room(live.id, RoomEvents(self, live))
        return live.room

    def stats(self) -> dict[str, int]:
        return {
            # Hearings with live state in memory: someone connected or in the lobby, a WHIP/WHEP
            # session, or a request under way. An ended or idle hearing is not counted.
            "live_hearings": len(self._hearings),
            "sockets": len(self._sockets),
            "media_connect_failures": self.media_failures,
        }

    async def _connect(
        self, live: LiveHearing, participant: Participant, **fields: Any
    ) -> Connection:
        """Register a participant's new presence (socket or WHIP), under the hearing's lock.

        The newest connection wins: a participant who reloads the page, or an encoder that
        reconnects, must not be locked out by a connection that has not timed out yet.
        """
        participant = await self._fresh(participant)
        old = live.connections.get(participant.id)
        if old is not None:
            await self._drop(
                live, old, reason=LeftReason.REPLACED, notify=("removed", {"reason": "replaced"})
            )
        conn = Connection(participant=participant, **fields)
        live.connections[participant.id] = conn
        return conn

    async def _fresh(self, participant: Participant) -> Participant:
        """Re-read under the lock: the participant may have been removed since authentication."""
        current = await self.service.participant(participant.hearing_id, participant.id)
        if current.revoked:
            raise TokenRevoked()
        return current

    async def _reread(self, live: LiveHearing) -> None:
        """Re-read who is connected as stored now, so that a newcomer's list is current: the HTTP
        API changes some of it (masking for the public stream) without telling the live state."""
        stored = {p.id: p for p in await self.service.participants(live.id)}
        for conn in live.connections.values():
            conn.participant = stored.get(conn.participant.id, conn.participant)

    async def _mark_left(self, participant: Participant) -> None:
        try:
            await self.service.set_state(participant, ParticipantState.LEFT)
        except CourtError:
            pass  # the hearing's records went away meanwhile; nothing to mark

    async def _remove_peer(self, live: LiveHearing, peer_id: str) -> None:
        if live.room is None:
            return
        try:
            await live.room.remove_peer(peer_id)
        except Exception:
            log.exception("closing SFU peer %s of hearing %s failed", peer_id, live.id)

    async def _discard_stray_peer(self, hearing_id: str, peer_id: str) -> None:
        """Take a peer out of an SFU room of this hearing that no live entry looks after any more
        (the hearing ended meanwhile), and close that room once it is empty."""
        room = self.worker.get_room(hearing_id)
        owner = self._hearings.get(hearing_id)
        if room is None or (owner is not None and owner.room is room):
            return
        try:
            await room.remove_peer(peer_id)
            if not room.peers and self.worker.get_room(hearing_id) is room:
                await self.worker.close_room(hearing_id)
        except Exception:
            log.exception("discarding SFU peer %s of hearing %s failed", peer_id, hearing_id)

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
            self.sidecars.hearing_changed(hearing)

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
            if conn.grants.moderate:
                # An alarm raised while nobody could hear it (at start-up, before this moderator
                # came, on a socket that then dropped) still stands: told on every coming in.
                for alarm in self.sidecars.standing_alarms(live.id):
                    self.outbox.emit("alarm", {"hearing_id": live.id, **alarm}, to=conn.sid)
                for pid in sorted(self._hands.get(live.id, ())):
                    self.outbox.emit(
                        "hand_raised", {"participant_id": pid, "raised": True}, to=conn.sid
                    )
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
        reason: LeftReason,
        notify: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """Take a connection out of the hearing; ``notify`` is told to its socket first."""
        pid = conn.participant.id
        if live.connections.get(pid) is conn:
            del live.connections[pid]
            # Whoever leaves stops asking to speak; the consoles drop the hand with the tile.
            self._hands.get(live.id, set()).discard(pid)
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
                    {"participant_id": pid, "reason": reason.value},
                    to=live.room_name,
                )
        elif conn.via is Via.SOCKET:
            self._lobby_changed(live)

    async def _drop_whep(self, live: LiveHearing, session: WhepSession) -> None:
        if live.wheps.get(session.resource_id) is session:
            del live.wheps[session.resource_id]
        await self._remove_peer(live, session.peer.id)

    async def _drop_wheps(self, live: LiveHearing, participant_id: str) -> None:
        for session in live.wheps_of(participant_id):
            await self._drop_whep(live, session)
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

    async def join(
        self,
        sid: str,
        token: object,
        connected: Callable[[], bool] = lambda: True,
        hearing_id: str | None = None,
    ) -> dict[str, Any]:
        """``hearing_id``: the hearing the client means (the one its page's URL names); a token
        of another hearing is then refused rather than joined to the hearing it is for."""
        if sid in self._sockets:
            raise conflict("this socket has already joined; leave first or open a new socket")
        claims, participant = await self.tokens.authenticate(token, hearing_id=hearing_id)
        grants = grants_for(claims.role)
        if not grants.webrtc:
            raise forbidden("a viewer token is for the public stream and cannot join the hearing")
        async with self._open(claims.hearing_id) as (live, hearing):
            if sid in self._sockets:
                raise conflict("this socket has already joined; leave first or open a new socket")
            if not connected():
                raise conflict("the socket disconnected while joining")
            conn = await self._connect(
                live, participant, via=Via.SOCKET, expires_at=claims.expires_at, sid=sid
            )
            participant = conn.participant
            self._sockets[sid] = (hearing.id, participant.id)
            await self._reread(live)
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
                await self._drop(live, conn, reason=LeftReason.FAILED)
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

    async def leave(self, sid: str, reason: LeftReason) -> None:
        entry = self._sockets.get(sid)
        if entry is None:
            return
        hearing_id, participant_id = entry
        live = self._hearings.get(hearing_id)
        if live is None:
            self._sockets.pop(sid, None)
            await self._discard_stray_peer(hearing_id, participant_id)
            return
        async with self._locked(live):
            conn = live.connections.get(participant_id)
            if conn is None or conn.sid != sid:
                self._sockets.pop(sid, None)
                return
            was_in_room = conn.in_room
            await self._drop(live, conn, reason=reason)
            if was_in_room:
                await self._mark_left(conn.participant)
            log.info("participant %s left hearing %s (%s)", participant_id, live.id, reason)

    # ------------------------------------------------------------------ Socket.IO negotiation
    def _media_peer(self, sid: str, grant: str) -> Peer:
        _, conn = self.socket_actor(sid)
        if not conn.in_room or conn.peer is None:
            raise not_admitted("you are waiting in the lobby until a moderator admits you")
        if grant and not getattr(conn.grants, grant):
            raise forbidden(f"a {conn.participant.role} token does not have the {grant} grant")
        return conn.peer

    async def publish(self, sid: str, sdp: str, sources: dict[str, str]) -> str:
        peer = self._media_peer(sid, "publish")
        with _sdp_errors():
            return await peer.publisher_offer(sdp, sources=sources)

    async def subscriber_answer(self, sid: str, sdp: str) -> None:
        peer = self._media_peer(sid, "subscribe")
        with _sdp_errors():
            await peer.subscriber_answer(sdp)

    async def ice_candidate(
        self, sid: str, target: str, candidate: str | None, sdp_mid: str | None, index: int | None
    ) -> None:
        """``candidate`` None is the end of candidates. Admission is checked even then: a socket
        in the lobby has no connection to trickle to and must not be told otherwise."""
        peer = self._media_peer(sid, "")
        if candidate is None:
            return  # aiortc needs no signal for the end of candidates
        with _sdp_errors():
            await peer.add_ice_candidate(target, candidate, sdp_mid, index)  # type: ignore[arg-type]

    async def pause_subscription(self, sid: str, publication_id: str, paused: bool) -> None:
        """A subscriber switches one publication off (or on again) for itself only."""
        peer = self._media_peer(sid, "subscribe")
        if not peer.set_off(publication_id, paused):
            raise not_found("no such publication in this hearing")

    async def peer_closed(
        self, live: LiveHearing, conn: Connection, peer: Peer, reason: str
    ) -> None:
        """The SFU gave up on a peer (ICE/DTLS failure, or a WHIP publisher fell silent)."""
        async with self._locked(live):
            if live.closed or self._hearings.get(live.id) is not live:
                # The hearing ended meanwhile: whatever room still holds the peer must let go.
                await self._discard_stray_peer(live.id, peer.id)
                return
            if conn.peer is not peer or live.connections.get(conn.participant.id) is not conn:
                return
            log.info("media of %s in hearing %s closed: %s", conn.participant.id, live.id, reason)
            if conn.via is Via.WHIP:
                await self._drop(live, conn, reason=LeftReason.CONNECTION_LOST)
                await self._mark_left(conn.participant)
                return
            # The socket is still there: give it fresh server-side connections and tell the
            # client to build new ones (a browser cannot reuse a failed RTCPeerConnection).
            conn.peer = None
            await self._remove_peer(live, conn.participant.id)
            if conn.sid is not None:
                self.outbox.emit("media_reset", {"reason": reason}, to=conn.sid)
            conn.peer = self._new_peer(live, conn)

    # ------------------------------------------------------------------ moderation
    async def participant_changed(self, participant: Participant) -> None:
        """A stored participant changed outside the live actions (e.g. masked for the public
        stream): the live copy must follow at once — sidecars are handed it with every new
        publication — and the others in the room are told."""
        live = self._hearings.get(participant.hearing_id)
        if live is None:
            return
        async with self._locked(live):
            conn = live.connections.get(participant.id)
            if conn is None:
                return
            conn.participant = participant
            if conn.in_room and not conn.grants.hidden:
                self.outbox.emit(
                    "participant_updated",
                    {"participant": live.participant_json(participant)},
                    to=live.room_name,
                )

    async def admit(self, hearing_id: str, participant_id: object, actor: Actor) -> dict[str, Any]:
        if not actor.may_moderate:
            raise forbidden("admitting needs the moderate grant (judge or clerk)")
        async with self._open(hearing_id) as (live, _):
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
        async with self._open(hearing_id) as (live, _):
            target = await self.service.participant(hearing_id, participant_id)
            target = await self.service.deny(target)
            conn = live.connections.get(target.id)
            if conn is not None:
                text = reason or "the court did not admit you to this hearing"
                await self._drop(
                    live, conn, reason=LeftReason.REMOVED, notify=("denied", {"reason": text})
                )
            log.info("%s denied %s in hearing %s", actor.label, target.id, hearing_id)
            return live.participant_json(target)

    async def remove(
        self, hearing_id: str, participant_id: object, actor: Actor, reason: str | None
    ) -> dict[str, Any]:
        if not actor.may_moderate:
            raise forbidden("removing needs the moderate grant (judge or clerk)")
        async with self._open(hearing_id) as (live, _):
            target = await self.service.participant(hearing_id, participant_id)
            if not outranks(actor.role, target.role):
                raise forbidden(f"a {actor.role} may not remove the {target.role}")
            target = await self.service.remove(target)
            conn = live.connections.get(target.id)
            if conn is not None:
                text = reason or "you were removed from the hearing"
                await self._drop(
                    live, conn, reason=LeftReason.REMOVED, notify=("removed", {"reason": text})
                )
            await self._drop_wheps(live, target.id)
            log.info("%s removed %s from hearing %s", actor.label, target.id, hearing_id)
            return live.participant_json(target)

    async def mute(
        self, hearing_id: str, actor: Actor, participant_id: object, kind: str, muted: bool
    ) -> dict[str, Any]:
        async with self._open(hearing_id) as (live, _):
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
            if as_moderator and kind == "audio" and not muted:
                # Given the floor: the request to speak is answered.
                self._lower_hand(live, target.id)
            return live.participant_json(target)

    async def media_status(self, sid: str, target: str, connected: bool, state: str) -> None:
        """A client says whether one of its PCs connected (``connected: false`` once its deadline
        passed, or it failed): logged, counted, and told to the moderators, so that a hearing
        whose media never flows is noticed in seconds rather than by black tiles."""
        live, conn = self.socket_actor(sid)
        if not conn.in_room:
            raise not_admitted("you are waiting in the lobby until a moderator admits you")
        pid = conn.participant.id
        if connected:
            log.info(
                "%s %s in hearing %s: %s media connected",
                conn.participant.role,
                pid,
                live.id,
                target,
            )
        else:
            self.media_failures += 1
            log.warning(
                "%s %s in hearing %s: %s media did not connect (ICE/DTLS state %s); "
                "the client was told to check its network and browser",
                conn.participant.role,
                pid,
                live.id,
                target,
                state,
            )
        self.outbox.emit(
            "media_status",
            {"participant_id": pid, "target": target, "connected": connected, "state": state},
            to=live.moderators_name,
        )

    async def raise_hand(self, sid: str) -> None:
        """A participant asks to speak (typically one the court muted)."""
        live, conn = self.socket_actor(sid)
        if not conn.in_room:
            raise not_admitted("you are waiting in the lobby until a moderator admits you")
        if not conn.grants.publish:
            raise forbidden(f"a {conn.participant.role} token cannot ask to speak")
        hands = self._hands.setdefault(live.id, set())
        pid = conn.participant.id
        if pid not in hands:
            hands.add(pid)
            log.info("%s %s raised a hand in hearing %s", conn.participant.role, pid, live.id)
            self.outbox.emit(
                "hand_raised", {"participant_id": pid, "raised": True}, to=live.moderators_name
            )

    async def lower_hand(self, sid: str, participant_id: str) -> None:
        """A moderator dismisses a raised hand, or its owner takes it back."""
        live, conn = self.socket_actor(sid)
        if participant_id != conn.participant.id and not conn.grants.moderate:
            raise forbidden("only a moderator can lower another participant's hand")
        if participant_id not in live.connections:
            raise not_found(f"no participant {participant_id} is in the hearing")
        self._lower_hand(live, participant_id)

    def _lower_hand(self, live: LiveHearing, participant_id: str) -> None:
        hands = self._hands.get(live.id)
        if hands is None or participant_id not in hands:
            return
        hands.discard(participant_id)
        payload = {"participant_id": participant_id, "raised": False}
        self.outbox.emit("hand_raised", payload, to=live.moderators_name)
        conn = live.connections.get(participant_id)
        if conn is not None and conn.sid is not None and not conn.grants.moderate:
            # Answered or dismissed: its owner may ask again.
            self.outbox.emit("hand_raised", payload, to=conn.sid)

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
        live = self._live(hearing_id)
        async with self._locked(live):
            if live.closed:
                raise conflict(f"hearing {hearing_id} has already ended")
            hearing = await self.service.end(hearing_id)
            # From here on, whoever waited for this lock finds the hearing closed.
            live.closed = True
            payload = {"hearing": hearing.to_json()}
            for conn in list(live.connections.values()):
                if conn.sid is not None:
                    self._sockets.pop(conn.sid, None)
                    self.outbox.emit("hearing_ended", payload, to=conn.sid)
                    self.outbox.disconnect(conn.sid)
            live.connections.clear()
            live.wheps.clear()
            live.mutes.clear()
            if live.room is not None:
                live.room = None
                try:
                    await self.worker.close_room(hearing_id)
                except Exception:
                    log.exception("closing the SFU room of hearing %s failed", hearing_id)
            if self._hearings.get(hearing_id) is live:
                del self._hearings[hearing_id]
            if self._mutes.get(hearing_id) is live.mutes:
                del self._mutes[hearing_id]
            self._hands.pop(hearing_id, None)
        log.info("%s ended hearing %s", actor.label, hearing_id)
        self.sidecars.hearing_ended(hearing)
        return hearing

    # ------------------------------------------------------------------ WHIP / WHEP
    async def _http_participant(
        self, hearing_id: str, token: object, grant: str
    ) -> tuple[TokenClaims, Participant]:
        # Credentials before the hearing: without a valid token of this hearing, an unknown id and
        # somebody else's hearing must look alike (401), or hearing ids could be probed.
        claims, participant = await self.tokens.authenticate(token, hearing_id=hearing_id)
        grants = grants_for(participant.role)
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
    def _setup_failed(live: LiveHearing, exc: Exception, what: str) -> Exception | None:
        """What a WHIP/WHEP client is told when its SDP step failed (None: the error itself)."""
        if live.closed:
            return conflict(f"the hearing ended while the {what} was being set up")
        if isinstance(exc, SfuError):
            return CourtError(Code.SDP, str(exc))
        return None

    async def whip_publish(self, hearing_id: str, token: object, sdp: str) -> tuple[str, str]:
        """Returns (resource id, SDP answer)."""
        claims, participant = await self._http_participant(hearing_id, token, "publish")
        async with self._open(hearing_id) as (live, hearing):
            conn = await self._connect(
                live,
                participant,
                via=Via.WHIP,
                expires_at=claims.expires_at,
                resource_id=secrets.token_urlsafe(16),
            )
            conn.peer = self._new_peer(live, conn)
        peer = conn.peer
        try:
            # ffmpeg never answers ICE consent checks once it streams; see docs/OPERATIONS.md.
            answer = await peer.publisher_offer(sdp, consent_checks=False)
        except Exception as exc:
            async with self._locked(live):
                await self._drop(live, conn, reason=LeftReason.FAILED)
            told = self._setup_failed(live, exc, "publish")
            if told is None:
                raise
            raise told from None
        async with self._locked(live):
            if live.closed:
                raise conflict(HEARING_ENDED)
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
        claims, participant = await self._http_participant(hearing_id, token, "subscribe")
        async with self._open(hearing_id) as (live, _):
            participant = await self._fresh(participant)
            # Counted under the lock and including playbacks still being set up, so parallel
            # requests cannot get past the cap together.
            if len(live.wheps_of(participant.id)) >= MAX_WHEPS_PER_PARTICIPANT:
                raise conflict(
                    f"a participant may have at most {MAX_WHEPS_PER_PARTICIPANT} WHEP playbacks "
                    "at a time; DELETE one before starting another"
                )
            source_id = self._whep_source(live, source)
            resource_id = secrets.token_urlsafe(16)
            # Its own peer id, so playback never collides with the participant's own presence.
            peer = self._room(live).add_peer(
                f"{participant.id}/whep/{resource_id}",
                publish=False,
                subscribe=True,
                listener=WhepEvents(self, live, resource_id),
            )
            session = WhepSession(
                resource_id=resource_id,
                participant=participant,
                peer=peer,
                expires_at=claims.expires_at,
            )
            live.wheps[resource_id] = session
        try:
            answer = await peer.whep_offer(sdp, source_peer_id=source_id)
        except Exception as exc:
            await self.close_whep(live, resource_id, "failed")
            told = self._setup_failed(live, exc, "playback")
            if told is None:
                raise
            raise told from None
        async with self._locked(live):
            if live.closed:
                raise conflict(HEARING_ENDED)
            if live.wheps.get(resource_id) is not session:
                raise conflict("the playback was ended while it was being set up")
        log.info("WHEP playback of %s by %s in hearing %s", source_id, participant.id, hearing_id)
        return resource_id, answer

    async def close_whep(self, live: LiveHearing, resource_id: str, reason: str) -> bool:
        async with self._locked(live):
            session = live.wheps.get(resource_id)
            if session is None:
                return False
            await self._drop_whep(live, session)
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
                async with self._locked(live):
                    for conn in list(live.connections.values()):
                        if conn.via is Via.WHIP and conn.resource_id == resource_id:
                            was_in_room = conn.in_room
                            await self._drop(live, conn, reason=LeftReason.LEFT)
                            if was_in_room:
                                await self._mark_left(conn.participant)
                            return
        raise not_found(f"no {via.upper()} session {resource_id!r} in hearing {hearing_id!r}")

    # ------------------------------------------------------------------ token expiry
    async def expire_due(self) -> None:
        """End the presences and playbacks whose token has expired. A token is checked when it is
        used; this is for what it opened and that would otherwise last for hours after."""
        expired = self.tokens.expired
        for live in list(self._hearings.values()):
            if not any(expired(c.expires_at) for c in live.connections.values()) and not any(
                expired(s.expires_at) for s in live.wheps.values()
            ):
                continue
            async with self._locked(live):
                for conn in [c for c in live.connections.values() if expired(c.expires_at)]:
                    was_in_room = conn.in_room
                    await self._drop(
                        live,
                        conn,
                        reason=LeftReason.EXPIRED,
                        notify=("removed", {"reason": LeftReason.EXPIRED.value}),
                    )
                    if was_in_room:
                        await self._mark_left(conn.participant)
                    log.info("token of %s in hearing %s expired", conn.participant.id, live.id)
                for session in [s for s in live.wheps.values() if expired(s.expires_at)]:
                    await self._drop_whep(live, session)
                    log.info("WHEP playback %s in hearing %s expired", session.resource_id, live.id)
                await self._close_idle_room(live)

    # ------------------------------------------------------------------ shutdown
    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for live in list(self._hearings.values()):
            for conn in live.connections.values():
                if conn.sid is not None:
                    self.outbox.disconnect(conn.sid)
        self._hearings.clear()
        self._mutes.clear()
        self._sockets.clear()
