"""An aiortc participant speaking docs/PROTOCOL.md over Socket.IO, as a browser would."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import socketio
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from .loopback import enable_loopback_candidates, new_peer_connection
from .media import PatternVideoTrack, ToneAudioTrack, tone_for
from .receiver import MediaSink

log = logging.getLogger("tests.clients")

# What a participant in the lobby must never see.
TRACK_INFO_EVENTS = (
    "subscriber_offer",
    "subscriptions",
    "track_published",
    "track_unpublished",
    "track_muted",
    "participant_joined",
    "participant_left",
    "active_speaker",
)


# participant id -> media id drawn into that participant's media (filled at join; a test adds the
# ids of outside publishers such as ffmpeg). Used to check that a mid carries whom it claims to.
MEDIA_IDS: dict[str, int] = {}


class ProtocolError(AssertionError):
    """An ack with ok=false (carries the ack)."""

    def __init__(self, event: str, ack: Any):
        self.event, self.ack = event, ack
        code = ack.get("code") if isinstance(ack, dict) else None
        super().__init__(f"{event} refused: {ack!r}")
        self.code = code


def prefer_codec(transceiver, mime: str) -> None:
    caps = RTCRtpSender.getCapabilities(transceiver.kind)
    chosen = [c for c in caps.codecs if c.mimeType.lower() == mime.lower()]
    rtx = [c for c in caps.codecs if c.mimeType.lower().endswith("/rtx")]
    if not chosen:
        raise ValueError(f"aiortc has no {mime}")
    transceiver.setCodecPreferences(chosen + rtx)


def _media_id(sender: int | Participant) -> int:
    """The media id drawn into ``sender``'s media (a participant, or the id itself)."""
    return sender.media_id if isinstance(sender, Participant) else sender


class Participant:
    """One participant: a Socket.IO connection, a publisher PC and a subscriber PC.

    ``media_id`` (1..255) is drawn into this participant's video and picks its tone, so receivers
    know from the content alone whose media they got.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        media_id: int,
        *,
        name: str | None = None,
        audio: bool = True,
        video: bool = True,
        video_codec: str | None = None,
        width: int = 320,
        height: int = 240,
        fps: int = 15,
    ):
        enable_loopback_candidates()
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.media_id = media_id
        self.name = name or f"p{media_id}"
        self.want_audio, self.want_video = audio, video
        self.video_codec = video_codec
        self.size, self.fps = (width, height), fps
        self.tone = tone_for(media_id)
        self.sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        self.events: list[tuple[float, str, Any]] = []
        self._event_cond = asyncio.Condition()
        self.join_ack: dict | None = None
        self.participant_id: str | None = None
        self.state: str | None = None  # lobby | admitted | removed | denied | ended | left
        self.pub_pc: RTCPeerConnection | None = None
        self.sub_pc: RTCPeerConnection | None = None
        self.video_track: PatternVideoTrack | None = None
        self.audio_track: ToneAudioTrack | None = None
        self.sink = MediaSink(self.name)
        self.mid_map: dict[str, dict] = {}  # mid -> Track (from subscriber_offer / subscriptions)
        self.participants: dict[str, dict] = {}  # participant id -> Participant (as last told)
        self.sub_offers = 0
        self.sub_errors: list[str] = []
        self.reset_errors: list[str] = []  # republishing after a `media_reset` failed
        self._sub_lock = asyncio.Lock()
        self._bg: set[asyncio.Task] = set()
        self.disconnected = asyncio.Event()
        self._register()

    # ------------------------------------------------------------------ socket.io plumbing
    def _register(self) -> None:
        sio = self.sio

        @sio.event
        async def connect():
            await self._record("connect", None)

        @sio.event
        async def disconnect(*args):
            await self._record("disconnect", args[0] if args else None)
            self.disconnected.set()

        @sio.on("*")
        async def any_event(event, *args):
            data = args[0] if args else None
            await self._on_event(event, data)

    async def _record(self, event: str, data: Any) -> None:
        self.events.append((time.monotonic(), event, data))
        async with self._event_cond:
            self._event_cond.notify_all()

    async def _on_event(self, event: str, data: Any) -> None:
        if event == "media_reset":
            self._reset_media()
        elif event == "subscriber_offer":
            self.sub_offers += 1
            self._spawn(self._handle_subscriber_offer(data))
        elif event == "subscriptions":
            self._update_mids((data or {}).get("tracks") or [])
        elif event == "admitted":
            self.state = "admitted"
            for p in (data or {}).get("participants") or []:
                self.participants[p["id"]] = p
        elif event == "removed":
            self.state = "removed"
        elif event == "denied":
            self.state = "denied"
        elif event == "hearing_ended":
            self.state = "ended"
        elif event == "participant_joined":
            p = (data or {}).get("participant") or {}
            if "id" in p:
                self.participants[p["id"]] = p
        elif event == "participant_left":
            self.participants.pop((data or {}).get("participant_id"), None)
        await self._record(event, data)

    def _reset_media(self) -> None:
        """As the browser's `restartMedia` (web/static/js/session.js): the server gave this
        participant fresh connections, so both old ones close, it publishes again, and the next
        subscriber offer is answered on a new connection."""
        old = [pc for pc in (self.pub_pc, self.sub_pc) if pc is not None]
        republish = self.pub_pc is not None  # the browser publishes whenever it may; we did
        # Now, before any later event is handled: the new peer's offer needs a new connection.
        self.pub_pc = self.sub_pc = None
        self._spawn(self._restart_media(old, republish))

    async def _restart_media(self, old: list[RTCPeerConnection], republish: bool) -> None:
        async with self._sub_lock:  # an answer under way on the old connection finishes first
            for pc in old:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pc.close(), 5)
        if not republish:
            return
        try:
            await self.publish()
        except Exception as e:  # recorded; tests assert on media anyway
            log.exception("%s: publishing again after media_reset failed", self.name)
            self.reset_errors.append(repr(e))

    def _spawn(self, coro) -> None:
        t = asyncio.ensure_future(coro)
        self._bg.add(t)
        t.add_done_callback(self._bg.discard)

    def events_named(self, *names: str) -> list[tuple[float, str, Any]]:
        return [e for e in self.events if e[1] in names]

    async def wait_event(
        self,
        name: str,
        predicate: Callable[[Any], bool] | None = None,
        timeout: float = 10.0,
        since: float = 0.0,
    ) -> Any:
        """Wait for a server event (already received ones count if newer than ``since``)."""
        deadline = time.monotonic() + timeout

        def find():
            for t, ev, data in self.events:
                if ev == name and t >= since and (predicate is None or predicate(data)):
                    return (data,)
            return None

        async with self._event_cond:
            while (found := find()) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.name}: no '{name}' event within {timeout}s; got "
                        f"{[e[1] for e in self.events][-30:]}"
                    )
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._event_cond.wait(), left)
        return found[0]

    async def call(self, event: str, payload: Any, timeout: float = 15.0, check: bool = True):
        """Emit with acknowledgement; raises ProtocolError on ``ok: false`` when ``check``."""
        ack = await self.sio.call(event, payload, timeout=timeout)
        if check and not (isinstance(ack, dict) and ack.get("ok") is True):
            raise ProtocolError(event, ack)
        return ack

    # ------------------------------------------------------------------ lifecycle
    async def connect(self) -> None:
        await self.sio.connect(
            self.base_url, transports=["websocket"], socketio_path="socket.io", wait_timeout=10
        )

    async def join(self, check: bool = True) -> dict:
        ack = await self.call("join", {"token": self.token}, check=check)
        if isinstance(ack, dict) and ack.get("ok"):
            self.join_ack = ack
            self.participant_id = (ack.get("participant") or {}).get("id")
            self.state = ack.get("state")
            if self.participant_id:
                MEDIA_IDS[self.participant_id] = self.media_id
            for p in ack.get("participants") or []:
                self.participants[p["id"]] = p
        return ack

    async def wait_admitted(self, timeout: float = 10.0) -> None:
        if self.state == "admitted":
            return
        await self.wait_event("admitted", timeout=timeout)

    async def start(self, *, publish: bool = True, admitted_timeout: float = 10.0) -> Participant:
        """connect → join → (wait for admission) → publish."""
        await self.connect()
        await self.join()
        await self.wait_admitted(admitted_timeout)
        if publish and (self.want_audio or self.want_video):
            await self.publish()
        return self

    async def publish(self) -> dict:
        """Publisher PC: sendonly audio+video (synthetic); offer → `publish` → answer."""
        pc = new_peer_connection()
        self.pub_pc = pc
        if self.want_audio:
            self.audio_track = ToneAudioTrack(self.media_id)
            pc.addTransceiver(self.audio_track, direction="sendonly")
        if self.want_video:
            self.video_track = PatternVideoTrack(self.media_id, *self.size, fps=self.fps)
            tr = pc.addTransceiver(self.video_track, direction="sendonly")
            if self.video_codec:
                prefer_codec(tr, self.video_codec)
        await pc.setLocalDescription(await pc.createOffer())
        ack = await self.call("publish", {"sdp": pc.localDescription.sdp, "type": "offer"})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=ack["sdp"], type="answer"))
        return ack

    # ------------------------------------------------------------------ subscriber side
    def _update_mids(self, tracks: list[dict]) -> None:
        for t in tracks:
            if "mid" in t:
                self.mid_map[str(t["mid"])] = t

    def media_id_of(self, participant_id: str | None) -> int | None:
        return MEDIA_IDS.get(participant_id) if participant_id else None

    async def _handle_subscriber_offer(self, data: dict) -> None:
        async with self._sub_lock:
            try:
                self._update_mids(data.get("tracks") or [])
                if self.sub_pc is None:
                    self.sub_pc = new_peer_connection()
                    self.sub_pc.on("track", self._on_track)
                pc = self.sub_pc
                await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                await self.call(
                    "subscriber_answer", {"sdp": pc.localDescription.sdp, "type": "answer"}
                )
            except Exception as e:  # recorded; tests assert on media anyway
                log.exception("%s: subscriber_offer failed", self.name)
                self.sub_errors.append(repr(e))

    def _on_track(self, track) -> None:
        mid = None
        for t in self.sub_pc.getTransceivers():
            if t.receiver.track is track:
                mid = t.mid
        self.sink.add_track(track, mid, expected_sender=lambda m=mid: self._expected(m))

    def _expected(self, mid: str | None) -> int | None:
        info = self.mid_map.get(str(mid)) if mid is not None else None
        if not info:
            return None
        return self.media_id_of(info.get("participant_id"))

    # ------------------------------------------------------------------ media helpers
    async def wait_video_from(
        self,
        sender: int | Participant,
        min_frames: int = 10,
        timeout: float = 20.0,
        since: float | None = None,
    ):
        return await self.sink.wait_video_from(_media_id(sender), min_frames, timeout, since)

    async def wait_audio_from(
        self,
        sender: int | Participant,
        min_frames: int = 10,
        timeout: float = 20.0,
        since: float | None = None,
    ):
        return await self.sink.wait_audio_from(_media_id(sender), min_frames, timeout, since)

    def video_frames_since(self, sender: int | Participant, since: float) -> int:
        return self.sink.video[_media_id(sender)].frames_since(since)

    def audio_frames_since(self, sender: int | Participant, since: float) -> int:
        return self.sink.audio[_media_id(sender)].frames_since(since)

    # ------------------------------------------------------------------ moderation
    async def admit(self, participant_id: str, **kw):
        return await self.call("admit", {"participant_id": participant_id}, **kw)

    async def deny(self, participant_id: str, reason: str | None = None, **kw):
        body = {"participant_id": participant_id}
        if reason is not None:
            body["reason"] = reason
        return await self.call("deny", body, **kw)

    async def mute(self, participant_id: str, kind: str, muted: bool = True, **kw):
        return await self.call(
            "mute", {"participant_id": participant_id, "kind": kind, "muted": muted}, **kw
        )

    async def remove(self, participant_id: str, reason: str | None = None, **kw):
        body = {"participant_id": participant_id}
        if reason is not None:
            body["reason"] = reason
        return await self.call("remove", body, **kw)

    async def end_hearing(self, **kw):
        return await self.call("end_hearing", {}, **kw)

    async def leave(self, **kw):
        return await self.call("leave", {}, **kw)

    async def close(self) -> None:
        for t in list(self._bg):
            t.cancel()
        with contextlib.suppress(Exception):
            if self.sio.connected:
                await asyncio.wait_for(self.sio.disconnect(), 5)
        await self.close_media()

    async def close_media(self) -> None:
        await self.sink.close()
        for pc in (self.pub_pc, self.sub_pc):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pc.close(), 5)
