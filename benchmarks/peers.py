"""The load generator's aiortc peers: replaying publishers and counting subscribers.

Both speak SDP only; a link (`benchmarks.links`) carries it to the server under test.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcconfiguration import RTCBundlePolicy

from benchmarks import wire
from benchmarks.counting import FirstFrameDecoder, StreamCounter
from benchmarks.histogram import Histogram
from benchmarks.media import Clip, ReplayTrack
from sfu import rtc_internals
from sfu.rtp import URI_ABS_SEND_TIME


def new_pc() -> RTCPeerConnection:
    # No ICE server (aiortc would fall back to a public STUN server); max-bundle because aiortc's
    # balanced policy mis-bundles two m-lines of one kind (docs/SFU.md).
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


def video_codec_preferences(codec: str) -> list[Any]:
    return [
        c
        for c in RTCRtpSender.getCapabilities("video").codecs
        if c.mimeType.lower() == f"video/{codec}"
        and (codec != "h264" or c.parameters.get("packetization-mode") == "1")
    ]


class PublisherPeer:
    """Sends a replayed clip of audio and video; answers keyframe requests with the clip's
    keyframe."""

    def __init__(self, peer_id: str, video: Clip, audio: Clip) -> None:
        self.peer_id = peer_id
        self.pc = new_pc()
        self.connected = asyncio.Event()
        self.audio = ReplayTrack(audio)
        self.video = ReplayTrack(video)
        self.pc.addTransceiver(self.audio, direction="sendonly")
        transceiver = self.pc.addTransceiver(self.video, direction="sendonly")
        transceiver.setCodecPreferences(video_codec_preferences(video.codec))
        wire.on_keyframe_request(transceiver.sender, self.video.request_keyframe)

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            if self.pc.connectionState == "connected":
                self.connected.set()

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def close(self) -> None:
        await self.pc.close()


async def _no_params(transceiver: RTCRtpTransceiver, params: Any) -> None:
    """A counting subscriber never starts aiortc's receivers (no decoder thread, no RTCP)."""


def _drop(data: bytes) -> None:
    pass


class SubscriberPeer:
    """Answers the server's offers and counts what arrives, from RTP headers only.

    A sampled subscriber also decrypts and decodes until its first video frame (to time join →
    first decoded frame), then counts like the others.
    """

    def __init__(self, peer_id: str, codec: str, sampled: bool, latency: Histogram) -> None:
        self.peer_id = peer_id
        self.pc = new_pc()
        self.streams: dict[int, StreamCounter] = {}
        self.unknown_packets = 0
        self.latency = latency
        self.joined_at = time.monotonic()
        self.first_frame_s: float | None = None
        self._decoder = FirstFrameDecoder(codec) if sampled else None
        self._video_ssrcs: set[int] = set()
        self._taken: set[RTCRtpTransceiver] = set()
        self._lock = asyncio.Lock()
        self._intercepting = False

    @property
    def sampled(self) -> bool:
        return self._decoder is not None

    async def answer(self, offer: str) -> str:
        async with self._lock:  # renegotiations in the order the server sent them
            await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            for transceiver in self.pc.getTransceivers():
                if transceiver not in self._taken:
                    rtc_internals.take_over_transceiver(transceiver, _no_params)
                    self._taken.add(transceiver)
            self._learn_streams(offer)
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            dtls = rtc_internals.dtls_transport(self.pc)
            if dtls is not None:
                decoding = self._decoder is not None and self.first_frame_s is None
                rtc_internals.hook_media(dtls, self._on_decrypted if decoding else _drop, _drop)
                if not decoding:
                    self._intercept()
            return self.pc.localDescription.sdp

    def _learn_streams(self, offer: str) -> None:
        """Which SSRC is which kind, and the abs-send-time id of each video m-line."""
        for media in aiortc_sdp.SessionDescription.parse(offer).media:
            if media.kind not in ("audio", "video"):
                continue
            abs_send_time = next(
                (e.id for e in media.rtp.headerExtensions if e.uri == URI_ABS_SEND_TIME), None
            )
            for ssrc in {s.ssrc for s in media.ssrc}:
                if ssrc not in self.streams:
                    self.streams[ssrc] = StreamCounter(media.kind, abs_send_time, self.latency)
                if media.kind == "video":
                    self._video_ssrcs.add(ssrc)

    def _intercept(self) -> None:
        if not self._intercepting:
            self._intercepting = True
            wire.intercept_rtp(self.pc, self._on_wire)

    def _on_wire(self, data: bytes) -> None:
        counter = self.streams.get(int.from_bytes(data[8:12], "big"))
        if counter is None:
            self.unknown_packets += 1
        else:
            counter.on_packet(data)

    def _on_decrypted(self, data: bytes) -> None:
        self._on_wire(data)  # the RTP header is the same before and after SRTP
        if self.first_frame_s is not None or self._decoder is None:
            return
        if int.from_bytes(data[8:12], "big") in self._video_ssrcs and self._decoder.feed(data):
            self.first_frame_s = time.monotonic() - self.joined_at
            self._decoder = None
            self._intercept()  # from now on, count as cheaply as the others

    def snapshot(self) -> dict[str, Any]:
        return {
            "streams": {ssrc: c.snapshot() for ssrc, c in self.streams.items()},
            "first_frame_s": self.first_frame_s,
            "sampled": self.first_frame_s is not None or self._decoder is not None,
            "unknown_packets": self.unknown_packets,
        }

    async def close(self) -> None:
        await self.pc.close()
