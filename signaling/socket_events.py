"""Socket.IO events of docs/PROTOCOL.md: payload checks, acks and error events.

What the events *do* lives in ``presence.py``, ``negotiation.py`` and ``moderation.py``; this
module makes sure that whatever a client sends
(wrong types, huge payloads, unknown events, events out of order, JSON that cannot be decoded) ends
in an ``ok: false`` ack and an ``error`` event, never in an exception inside python-socketio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import socketio
from pydantic import BaseModel

from signaling.errors import Code, CourtError, bad_request, unauthorized
from signaling.live_state import LeftReason
from signaling.moderation import Moderation
from signaling.negotiation import Negotiation
from signaling.outbox import Outbox
from signaling.presence import Presence
from signaling.registry import SessionRegistry
from signaling.roles import Actor
from signaling.rooms import LOBBY
from signaling.schemas import NoFields
from signaling.schemas_parse import body
from signaling.schemas_rooms import CloseRoom, Move, NewRoom, WatchRoom
from signaling.schemas_socket import (
    EVENT_PAYLOADS,
    Answer,
    Deny,
    IceCandidate,
    Join,
    MediaStatus,
    Mute,
    Offer,
    ParticipantRef,
    PauseSubscription,
    Remove,
)
from signaling.socket_json import MALFORMED_EVENT, NOT_AN_EVENT, NOT_JSON, SafePacket
from signaling.validation import json_size

log = logging.getLogger("cloudcourt.socket")

# An event's handler: the socket and its payload, validated as EVENT_PAYLOADS says.
Handler = Callable[[str, Any], Awaitable[dict[str, Any] | None]]


def same_origin(public_url: str) -> Callable[[str | None, dict[str, Any]], bool]:
    """Origins allowed to open a socket: pages of this server, as reached directly or through
    the public URL (a reverse proxy may rewrite Host). Clients that send no Origin (not browsers)
    are let through; they still need a token to do anything."""
    public = urlsplit(public_url)
    public_origin = f"{public.scheme}://{public.netloc}"

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None:
            return True
        host = environ.get("HTTP_HOST", "")
        scheme = environ.get("wsgi.url_scheme", "http")
        return origin in (public_origin, f"{scheme}://{host}")

    return allowed


def create_server(public_url: str, max_http_buffer_size: int = 1_000_000) -> socketio.AsyncServer:
    return socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins=same_origin(public_url),
        max_http_buffer_size=max_http_buffer_size,
        # Malformed or too deeply nested JSON must reach a handler, which refuses it (see there).
        serializer=SafePacket,
        logger=False,
        engineio_logger=False,
    )


def _not_joined() -> CourtError:
    return unauthorized("join the hearing with a token first")


class SocketEvents:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        sessions: SessionRegistry,
        presence: Presence,
        negotiation: Negotiation,
        moderation: Moderation,
        outbox: Outbox,
        max_event_bytes: int,
        join_timeout: float,
    ) -> None:
        self.sio = sio
        self.sessions = sessions
        self.presence = presence
        self.negotiation = negotiation
        self.moderation = moderation
        self.outbox = outbox
        self.max_event_bytes = max_event_bytes
        self.join_timeout = join_timeout
        # sid -> when the socket is closed unless a participant has joined on it by then.
        self._join_deadlines: dict[str, asyncio.TimerHandle] = {}
        # One lock per socket: python-socketio runs each event in its own task, but a client's
        # events must be handled in the order sent (an ICE candidate after its offer, and so on).
        self._locks: dict[str, asyncio.Lock] = {}

    def register(self) -> None:
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        handlers: dict[str, Handler] = {
            "join": self.join,
            "publish": self.publish,
            "subscriber_answer": self.subscriber_answer,
            "ice_candidate": self.ice_candidate,
            "admit": self.admit,
            "deny": self.deny,
            "mute": self.mute,
            "remove": self.remove,
            "end_hearing": self.end_hearing,
            "leave": self.leave,
            "pause_subscription": self.pause_subscription,
            "raise_hand": self.raise_hand,
            "media_status": self.media_status,
            "lower_hand": self.lower_hand,
            "open_room": self.open_room,
            "close_room": self.close_room,
            "move": self.move,
            "watch_room": self.watch_room,
        }
        assert handlers.keys() == EVENT_PAYLOADS.keys(), "an event without its payload model"
        for name, handler in handlers.items():
            self.sio.on(name, self._guarded(name, handler, EVENT_PAYLOADS[name]))
        self.sio.on("*", self._on_unknown)

    # ------------------------------------------------------------------ plumbing
    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        self._locks[sid] = asyncio.Lock()
        self._await_join(sid, self.join_timeout)
        return True

    async def _on_disconnect(self, sid: str, *reason: Any) -> None:
        self._locks.pop(sid, None)
        if (deadline := self._join_deadlines.pop(sid, None)) is not None:
            deadline.cancel()
        # A task, not an await: a server-side disconnect runs this inside the outbox's pump,
        # which must not wait for a hearing lock.
        self.sessions.spawn(self.presence.leave(sid, LeftReason.DISCONNECTED))

    def _await_join(self, sid: str, delay: float) -> None:
        """Close the socket in ``delay`` seconds unless it has a joined participant by then."""
        if (previous := self._join_deadlines.pop(sid, None)) is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._join_deadlines[sid] = loop.call_later(delay, self._join_deadline, sid)

    def _join_deadline(self, sid: str) -> None:
        self._join_deadlines.pop(sid, None)
        lock = self._locks.get(sid)
        if lock is None or self.sessions.is_joined(sid):
            return
        if lock.locked():
            # An event of the socket (perhaps its join) is being handled: judge after it.
            self._await_join(sid, 1.0)
            return
        log.info("closed socket %s: no participant joined on it within %gs", sid, self.join_timeout)
        self.outbox.disconnect(sid)

    def _payload(self, args: tuple[Any, ...], model: type[BaseModel]) -> BaseModel:
        if len(args) > 1:
            raise bad_request("send exactly one JSON object as the payload")
        payload = args[0] if args else {}
        if not isinstance(payload, dict):
            raise bad_request("the payload must be a JSON object")
        try:
            json_size(payload, "the payload", self.max_event_bytes)
        except (TypeError, ValueError, RecursionError):
            raise bad_request("the payload must be plain JSON, not nested too deeply") from None
        return body(model, payload, "the payload")

    def _failure(self, sid: str, event: str, exc: CourtError) -> dict[str, Any]:
        self.outbox.emit(
            "error", {"event": event, "error": exc.message, "code": exc.code.value}, to=sid
        )
        return {"ok": False, "error": exc.message, "code": exc.code.value}

    def _guarded(
        self, name: str, handler: Handler, model: type[BaseModel]
    ) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def run(sid: str, *args: Any) -> dict[str, Any]:
            lock = self._locks.setdefault(sid, asyncio.Lock())
            async with lock:
                self.outbox.hold(sid)
                try:
                    try:
                        if name != "join" and not self.sessions.is_joined(sid):
                            raise _not_joined()
                        payload = self._payload(args, model)
                        result = await handler(sid, payload)
                        ack = {"ok": True, **(result or {})}
                    except CourtError as exc:
                        ack = self._failure(sid, name, exc)
                    except Exception:
                        log.exception("Socket.IO event %r from %s failed", name, sid)
                        ack = self._failure(
                            sid, name, CourtError(Code.INTERNAL, "internal server error")
                        )
                finally:
                    # No await after this: the ack must be queued before a held disconnect.
                    self.outbox.release(sid)
                return ack

        return run

    async def _on_unknown(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        """Events without a handler, and packets whose JSON could not be decoded (SafePacket).

        Before ``join`` everything but ``join`` is ``unauthorized`` (docs/PROTOCOL.md), unknown
        names included: a socket without a token learns nothing about what the server accepts.
        """
        if event == MALFORMED_EVENT:
            # As SafePacket decodes it (a client sending that name is refused there): the name as
            # far as it could be read, and one of its fixed texts, never text a client sent.
            event = args[0] if args and isinstance(args[0], str) else ""
            problem = args[1] if len(args) > 1 else None
            if problem not in (NOT_JSON, NOT_AN_EVENT):
                problem = f"unknown event {event!r}"
            error = bad_request(problem)
        else:
            error = bad_request(f"unknown event {event!r}")
        # In turn with the socket's other events, so that "before join" means before it in order.
        async with self._locks.get(sid) or asyncio.Lock():
            if event != "join" and not self.sessions.is_joined(sid):
                error = _not_joined()
            return self._failure(sid, event, error)

    def _actor(self, sid: str) -> tuple[str, Actor]:
        live, conn = self.sessions.socket_actor(sid)
        p = conn.participant
        return live.id, Actor(role=p.role, participant_id=p.id, kind=p.hearing_kind)

    # ------------------------------------------------------------------ events
    async def join(self, sid: str, payload: Join) -> dict[str, Any]:
        # The socket may disconnect while the join waits for the hearing's lock; its disconnect
        # handler then finds nothing to clean up, so the join must not register it.
        ack = await self.presence.join(
            sid,
            payload.token,
            connected=lambda: sid in self._locks,
            hearing_id=payload.hearing_id,
        )
        ack.pop("ok", None)
        return ack

    async def publish(self, sid: str, payload: Offer) -> dict[str, Any]:
        answer = await self.negotiation.publish(sid, payload.sdp, dict(payload.sources))
        return {"sdp": answer, "type": "answer"}

    async def subscriber_answer(self, sid: str, payload: Answer) -> None:
        await self.negotiation.subscriber_answer(sid, payload.sdp)

    async def ice_candidate(self, sid: str, payload: IceCandidate) -> None:
        # No candidate: the end of candidates; still only for an admitted participant (live).
        c = payload.candidate
        if c is None:
            await self.negotiation.ice_candidate(sid, payload.target, None, None, None)
        else:
            await self.negotiation.ice_candidate(
                sid, payload.target, c.candidate, c.sdpMid, c.sdpMLineIndex
            )

    async def admit(self, sid: str, payload: ParticipantRef) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        participant = await self.moderation.admit(hearing_id, payload.participant_id, actor)
        return {"participant": participant}

    async def deny(self, sid: str, payload: Deny) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        participant = await self.moderation.deny(
            hearing_id, payload.participant_id, actor, payload.reason
        )
        return {"participant": participant}

    async def mute(self, sid: str, payload: Mute) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        participant = await self.moderation.mute(
            hearing_id, actor, payload.participant_id, payload.kind, payload.muted
        )
        return {"participant": participant}

    async def remove(self, sid: str, payload: Remove) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        participant = await self.moderation.remove(
            hearing_id, payload.participant_id, actor, payload.reason
        )
        return {"participant": participant}

    async def end_hearing(self, sid: str, payload: NoFields) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        hearing = await self.moderation.end(hearing_id, actor)
        return {"hearing": hearing.to_json()}

    async def leave(self, sid: str, payload: NoFields) -> None:
        await self.presence.leave(sid, LeftReason.LEFT)
        # The socket may join again, but a socket left without a participant is an idle one.
        self._await_join(sid, self.join_timeout)

    async def pause_subscription(self, sid: str, payload: PauseSubscription) -> None:
        await self.negotiation.pause_subscription(sid, payload.publication_id, payload.paused)

    async def media_status(self, sid: str, payload: MediaStatus) -> None:
        await self.moderation.media_status(sid, payload.target, payload.connected, payload.state)

    async def raise_hand(self, sid: str, payload: NoFields) -> None:
        await self.moderation.raise_hand(sid)

    async def lower_hand(self, sid: str, payload: ParticipantRef) -> None:
        await self.moderation.lower_hand(sid, payload.participant_id)

    async def open_room(self, sid: str, payload: NewRoom) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        return {"room": await self.moderation.rooms.open(hearing_id, actor, payload.name)}

    async def close_room(self, sid: str, payload: CloseRoom) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        return await self.moderation.rooms.close(hearing_id, actor, payload.room_id)

    async def move(self, sid: str, payload: Move) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        moved = await self.moderation.rooms.move(
            hearing_id, actor, payload.participant_id, payload.room_id
        )
        # Over HTTP the answer is the room itself; an ack carries it under `room` ("lobby" too).
        return moved if moved.get("room") == LOBBY else {"room": moved}

    async def watch_room(self, sid: str, payload: WatchRoom) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        return await self.moderation.rooms.watch(
            hearing_id, actor, payload.room_id, payload.watching
        )
