"""Socket.IO events of docs/PROTOCOL.md: payload checks, acks and error events.

What the events *do* lives in ``live.py``; this module makes sure that whatever a client sends
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

from signaling.errors import Code, CourtError, bad_request, unauthorized
from signaling.live import LiveHearings
from signaling.live_state import LeftReason
from signaling.mutes import KINDS
from signaling.outbox import Outbox
from signaling.roles import Actor
from signaling.socket_json import MALFORMED_EVENT, NOT_AN_EVENT, NOT_JSON, SafePacket
from signaling.validation import json_size, optional_text

log = logging.getLogger("cloudcourt.socket")

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]


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


def _sdp(payload: dict[str, Any], expected_type: str) -> str:
    sdp = payload.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise bad_request("'sdp' must be a non-empty string")
    kind = payload.get("type", expected_type)
    if kind != expected_type:
        raise bad_request(f"'type' must be {expected_type!r}")
    return sdp


# What a published track may be labelled as (the `sources` of `publish`).
SOURCES = ("camera", "microphone", "screen")
MAX_SOURCES = 8


def _sources(payload: dict[str, Any]) -> dict[str, str]:
    sources = payload.get("sources", {})
    if not isinstance(sources, dict) or len(sources) > MAX_SOURCES:
        raise bad_request(f"'sources' must be an object of at most {MAX_SOURCES} mids")
    for mid, source in sources.items():
        if not mid or len(mid) > 32:
            raise bad_request("each key of 'sources' must be a mid of 1-32 characters")
        if source not in SOURCES:
            raise bad_request(f"each value of 'sources' must be one of: {', '.join(SOURCES)}")
    return sources


# RTCPeerConnection.connectionState values (and "unknown"): what `media_status` may report.
PC_STATES = ("new", "connecting", "connected", "disconnected", "failed", "closed", "unknown")


def _participant_id(payload: dict[str, Any]) -> str:
    pid = payload.get("participant_id")
    if not isinstance(pid, str) or not pid:
        raise bad_request("'participant_id' must be a participant id string")
    return pid


class SocketEvents:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        live: LiveHearings,
        outbox: Outbox,
        max_event_bytes: int,
        join_timeout: float,
    ) -> None:
        self.sio = sio
        self.live = live
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
        }
        for name, handler in handlers.items():
            self.sio.on(name, self._guarded(name, handler))
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
        self.live.spawn(self.live.leave(sid, LeftReason.DISCONNECTED))

    def _await_join(self, sid: str, delay: float) -> None:
        """Close the socket in ``delay`` seconds unless it has a joined participant by then."""
        if (previous := self._join_deadlines.pop(sid, None)) is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._join_deadlines[sid] = loop.call_later(delay, self._join_deadline, sid)

    def _join_deadline(self, sid: str) -> None:
        self._join_deadlines.pop(sid, None)
        lock = self._locks.get(sid)
        if lock is None or self.live.is_joined(sid):
            return
        if lock.locked():
            # An event of the socket (perhaps its join) is being handled: judge after it.
            self._await_join(sid, 1.0)
            return
        log.info("closed socket %s: no participant joined on it within %gs", sid, self.join_timeout)
        self.outbox.disconnect(sid)

    def _payload(self, args: tuple[Any, ...]) -> dict[str, Any]:
        if not args:
            return {}
        if len(args) > 1:
            raise bad_request("send exactly one JSON object as the payload")
        payload = args[0]
        if not isinstance(payload, dict):
            raise bad_request("the payload must be a JSON object")
        try:
            json_size(payload, "the payload", self.max_event_bytes)
        except (TypeError, ValueError, RecursionError):
            raise bad_request("the payload must be plain JSON, not nested too deeply") from None
        return payload

    def _failure(self, sid: str, event: str, exc: CourtError) -> dict[str, Any]:
        self.outbox.emit(
            "error", {"event": event, "error": exc.message, "code": exc.code.value}, to=sid
        )
        return {"ok": False, "error": exc.message, "code": exc.code.value}

    def _guarded(self, name: str, handler: Handler) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def run(sid: str, *args: Any) -> dict[str, Any]:
            lock = self._locks.setdefault(sid, asyncio.Lock())
            async with lock:
                self.outbox.hold(sid)
                try:
                    try:
                        if name != "join" and not self.live.is_joined(sid):
                            raise _not_joined()
                        payload = self._payload(args)
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
            if event != "join" and not self.live.is_joined(sid):
                error = _not_joined()
            return self._failure(sid, event, error)

    def _actor(self, sid: str) -> tuple[str, Actor]:
        live, conn = self.live.socket_actor(sid)
        return live.id, Actor(role=conn.participant.role, participant_id=conn.participant.id)

    # ------------------------------------------------------------------ events
    async def join(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        # The socket may disconnect while the join waits for the hearing's lock; its disconnect
        # handler then finds nothing to clean up, so the join must not register it.
        hearing_id = payload.get("hearing_id")
        if hearing_id is not None and (not isinstance(hearing_id, str) or not hearing_id):
            raise bad_request("'hearing_id' must be a hearing id string")
        ack = await self.live.join(
            sid, payload.get("token"), connected=lambda: sid in self._locks, hearing_id=hearing_id
        )
        ack.pop("ok", None)
        return ack

    async def publish(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await self.live.publish(sid, _sdp(payload, "offer"), _sources(payload))
        return {"sdp": answer, "type": "answer"}

    async def subscriber_answer(self, sid: str, payload: dict[str, Any]) -> None:
        await self.live.subscriber_answer(sid, _sdp(payload, "answer"))

    async def ice_candidate(self, sid: str, payload: dict[str, Any]) -> None:
        target = payload.get("target")
        if target not in ("publisher", "subscriber"):
            raise bad_request("'target' must be 'publisher' or 'subscriber'")
        candidate = payload.get("candidate")
        if candidate is None:
            # End of candidates; still only for an admitted participant (checked in live).
            await self.live.ice_candidate(sid, target, None, None, None)
            return
        if not isinstance(candidate, dict):
            raise bad_request("'candidate' must be an object {candidate, sdpMid, sdpMLineIndex}")
        line = candidate.get("candidate")
        mid = candidate.get("sdpMid")
        index = candidate.get("sdpMLineIndex")
        if not isinstance(line, str):
            raise bad_request("'candidate.candidate' must be a string")
        if mid is not None and not isinstance(mid, str):
            raise bad_request("'candidate.sdpMid' must be a string")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise bad_request("'candidate.sdpMLineIndex' must be an integer")
        await self.live.ice_candidate(sid, target, line, mid, index)

    async def admit(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        participant = await self.live.admit(hearing_id, _participant_id(payload), actor)
        return {"participant": participant}

    async def deny(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        reason = optional_text(payload, "reason")
        participant = await self.live.deny(hearing_id, _participant_id(payload), actor, reason)
        return {"participant": participant}

    async def mute(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        kind = payload.get("kind")
        if kind not in KINDS:
            raise bad_request("'kind' must be 'audio' or 'video'")
        muted = payload.get("muted")
        if not isinstance(muted, bool):
            raise bad_request("'muted' must be true or false")
        participant = await self.live.mute(hearing_id, actor, _participant_id(payload), kind, muted)
        return {"participant": participant}

    async def remove(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        reason = optional_text(payload, "reason")
        participant = await self.live.remove(hearing_id, _participant_id(payload), actor, reason)
        return {"participant": participant}

    async def end_hearing(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        hearing_id, actor = self._actor(sid)
        hearing = await self.live.end(hearing_id, actor)
        return {"hearing": hearing.to_json()}

    async def leave(self, sid: str, payload: dict[str, Any]) -> None:
        await self.live.leave(sid, LeftReason.LEFT)
        # The socket may join again, but a socket left without a participant is an idle one.
        self._await_join(sid, self.join_timeout)

    async def pause_subscription(self, sid: str, payload: dict[str, Any]) -> None:
        publication_id = payload.get("publication_id")
        if not isinstance(publication_id, str) or not publication_id:
            raise bad_request("'publication_id' must be a publication id string")
        paused = payload.get("paused")
        if not isinstance(paused, bool):
            raise bad_request("'paused' must be true or false")
        await self.live.pause_subscription(sid, publication_id, paused)

    async def media_status(self, sid: str, payload: dict[str, Any]) -> None:
        target = payload.get("target")
        if target not in ("publisher", "subscriber"):
            raise bad_request("'target' must be 'publisher' or 'subscriber'")
        connected = payload.get("connected")
        if not isinstance(connected, bool):
            raise bad_request("'connected' must be true or false")
        state = payload.get("state", "unknown")
        if state not in PC_STATES:
            raise bad_request(f"'state' must be one of: {', '.join(PC_STATES)}")
        await self.live.media_status(sid, target, connected, state)

    async def raise_hand(self, sid: str, payload: dict[str, Any]) -> None:
        await self.live.raise_hand(sid)

    async def lower_hand(self, sid: str, payload: dict[str, Any]) -> None:
        await self.live.lower_hand(sid, _participant_id(payload))
