"""Synthetic media, encoded once and replayed by every publisher as pre-encoded packets.

Encoding is what a WebRTC sender spends its CPU on; a load generator that encoded per publisher
would saturate long before the server. aiortc's `RTCRtpSender` accepts `av.Packet`s from a track
and then only packetizes them (`Encoder.pack`), so a clip of N seconds is encoded here once and
looped with fresh timestamps. A keyframe request (PLI/FIR from the server) restarts the loop at
its first frame, which is the clip's only keyframe: the replayed stream stays decodable.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass
from typing import Any, cast

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
AUDIO_FRAME = 960  # 20 ms of Opus at 48 kHz
VIDEO_CODECS = {"vp8": "libvpx", "h264": "libx264"}


@dataclass(frozen=True)
class Clip:
    kind: str  # "audio" | "video"
    codec: str  # "vp8" | "h264" | "opus"
    frames: tuple[bytes, ...]  # one encoded frame each; frames[0] is a keyframe
    clock_rate: int
    frame_ticks: int  # RTP clock ticks per frame
    frame_interval: float  # seconds per frame

    @property
    def bitrate(self) -> float:
        """Average bits per second of the clip as it is replayed."""
        seconds = len(self.frames) * self.frame_interval
        return 8 * sum(len(f) for f in self.frames) / seconds


def _picture(texture: np.ndarray, n: int, width: int, height: int) -> np.ndarray:
    # A blocky texture panning diagonally: the encoder spends bits on motion as with a camera,
    # and the rate control (CBR) sets the bitrate, not the content.
    x = (n * 4) % width
    y = (n * 2) % height
    return texture[y : y + height, x : x + width]


def encode_video(
    codec: str, width: int, height: int, fps: int, bitrate: int, seconds: float
) -> Clip:
    """Encode `seconds` of synthetic video with aiortc's own encoder settings (CBR, realtime)."""
    if codec not in VIDEO_CODECS:
        raise ValueError(f"unknown video codec {codec!r} (choose from {', '.join(VIDEO_CODECS)})")
    count = max(2, round(seconds * fps))
    ctx = cast(av.VideoCodecContext, av.CodecContext.create(VIDEO_CODECS[codec], "w"))
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = fractions.Fraction(1, fps)
    ctx.framerate = fractions.Fraction(fps, 1)
    ctx.bit_rate = bitrate
    ctx.gop_size = count + 1  # the clip's first frame is its only keyframe
    if codec == "vp8":
        ctx.options = {
            "deadline": "realtime",
            "cpu-used": "-6",
            "lag-in-frames": "0",
            "minrate": str(bitrate),
            "maxrate": str(bitrate),
            "bufsize": str(bitrate),
            "undershoot-pct": "100",
            "overshoot-pct": "15",
        }
    else:
        ctx.profile = "Baseline"  # what aiortc and browsers negotiate (42e01f)
        ctx.options = {"tune": "zerolatency", "level": "31", "preset": "veryfast"}
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)
    frames: list[bytes] = []
    keyframes: list[bool] = []
    for n in range(count):
        frame = av.VideoFrame.from_ndarray(_picture(texture, n, width, height), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = n
        for packet in ctx.encode(frame):
            frames.append(bytes(packet))
            keyframes.append(packet.is_keyframe)
    for packet in ctx.encode(None):
        frames.append(bytes(packet))
        keyframes.append(packet.is_keyframe)
    if len(frames) != count or not keyframes[0] or any(keyframes[1:]):
        raise RuntimeError(f"{codec} encoder produced an unexpected frame structure")
    return Clip("video", codec, tuple(frames), VIDEO_CLOCK, VIDEO_CLOCK // fps, 1 / fps)


def encode_audio(seconds: float, bitrate: int = 32_000) -> Clip:
    """Encode `seconds` of a quiet tone as 20 ms Opus frames."""
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = AUDIO_CLOCK
    ctx.layout = "stereo"
    ctx.format = "s16"
    ctx.bit_rate = bitrate
    count = max(1, round(seconds * AUDIO_CLOCK / AUDIO_FRAME))
    t = np.arange(count * AUDIO_FRAME) / AUDIO_CLOCK
    tone = (2000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    frames: list[bytes] = []
    for n in range(count):
        chunk = tone[n * AUDIO_FRAME : (n + 1) * AUDIO_FRAME]
        frame = av.AudioFrame.from_ndarray(
            np.repeat(chunk, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = AUDIO_CLOCK
        frame.pts = n * AUDIO_FRAME
        frames.extend(bytes(p) for p in ctx.encode(frame))
    frames.extend(bytes(p) for p in ctx.encode(None))
    return Clip("audio", "opus", tuple(frames), AUDIO_CLOCK, AUDIO_FRAME, AUDIO_FRAME / AUDIO_CLOCK)


class ReplayTrack(MediaStreamTrack):
    """Loops a clip in real time as `av.Packet`s; aiortc's sender only packetizes them."""

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self.kind = clip.kind
        self._clip = clip
        self._time_base = fractions.Fraction(1, clip.clock_rate)
        self._index = 0
        self._sent = 0
        self._start: float | None = None
        self._restart = False
        self.keyframe_requests = 0

    def request_keyframe(self) -> None:
        """Called for the server's PLI/FIR: the next frame is the clip's keyframe."""
        self._restart = True
        self.keyframe_requests += 1

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        clip = self._clip
        now = time.monotonic()
        if self._start is None:
            self._start = now
        wait = self._start + self._sent * clip.frame_interval - now
        if wait > 0:
            await asyncio.sleep(wait)
        if self._restart:
            self._restart = False
            self._index = 0
        packet = av.Packet(clip.frames[self._index])
        packet.pts = self._sent * clip.frame_ticks
        packet.time_base = self._time_base
        self._index = (self._index + 1) % len(clip.frames)
        self._sent += 1
        return packet
