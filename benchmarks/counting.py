"""What a load-test subscriber measures, from RTP headers only (no decoding), and the one decode
that a few sampled subscribers do to time join → first decoded frame."""

from __future__ import annotations

import time
from typing import cast

import av
from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload

from benchmarks.histogram import Histogram
from sfu import rtp

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)
ABS_SEND_TIME_UNITS = 1 << 18  # abs-send-time is 6.18 fixed-point seconds, 24 bits (64 s wrap)
LATENCY_SAMPLE_MASK = 7  # time one video packet in 8: enough samples, an eighth of the cost


def abs_send_time_now() -> int:
    """Now, as the 24-bit abs-send-time aiortc stamps (NTP time >> 14, from the wall clock)."""
    return int((time.time() + NTP_UNIX_OFFSET) * ABS_SEND_TIME_UNITS) & 0xFFFFFF


def abs_send_time_age(value: bytes) -> float | None:
    """Seconds since the abs-send-time `value` (3 bytes) was stamped; None if from the future."""
    stamped = int.from_bytes(value[:3], "big")
    age = (abs_send_time_now() - stamped) & 0xFFFFFF
    return None if age >= 1 << 23 else age / ABS_SEND_TIME_UNITS


def header_extension(data: bytes, ext_id: int) -> bytes | None:
    """One element of an RTP packet's one-byte header extension block (RFC 8285), if present.

    Works on SRTP too: the header, extensions included, is not encrypted."""
    b0 = data[0]
    if not b0 & 0x10:
        return None
    pos = 12 + 4 * (b0 & 0x0F)
    if len(data) < pos + 4 or data[pos] != 0xBE or data[pos + 1] != 0xDE:
        return None
    end = min(len(data), pos + 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3]))
    pos += 4
    while pos < end:
        byte = data[pos]
        if byte == 0:
            pos += 1
            continue
        element_id, length = byte >> 4, (byte & 0x0F) + 1
        if element_id == 15:
            return None
        if element_id == ext_id:
            return data[pos + 1 : pos + 1 + length]
        pos += 1 + length
    return None


class StreamCounter:
    """Counters of one received stream (one SSRC): packets, frames, sequence span, latency."""

    __slots__ = ("abs_send_time_id", "base", "frames", "highest", "kind", "latency", "packets")

    def __init__(self, kind: str, abs_send_time_id: int | None, latency: Histogram) -> None:
        self.kind = kind
        self.abs_send_time_id = abs_send_time_id if kind == "video" else None
        self.latency = latency
        self.packets = 0
        self.frames = 0  # video: packets with the marker bit (last of a frame); audio: packets
        self.base = 0
        self.highest: int | None = None  # extended (unwrapped) highest sequence number

    def on_packet(self, data: bytes) -> None:
        seq = (data[2] << 8) | data[3]
        highest = self.highest
        if highest is None:
            self.base = self.highest = seq
        else:
            step = (seq - highest) & 0xFFFF
            if step < 0x8000:  # newer; older (reordered or retransmitted) ones do not move it
                self.highest = highest + step
        self.packets += 1
        if self.kind != "video":
            self.frames += 1
            return
        if data[1] & 0x80:
            self.frames += 1
        if self.abs_send_time_id is not None and not seq & LATENCY_SAMPLE_MASK:
            value = header_extension(data, self.abs_send_time_id)
            age = abs_send_time_age(value) if value is not None and len(value) == 3 else None
            if age is not None:
                self.latency.add(age)

    @property
    def expected(self) -> int:
        """Packets the sender numbered from the first one seen to the newest."""
        return 0 if self.highest is None else self.highest - self.base + 1

    def snapshot(self) -> tuple[str, int, int, int]:
        return (self.kind, self.packets, self.frames, self.expected)


DEPAYLOAD = {"vp8": vp8_depayload, "h264": h264_depayload}


class FirstFrameDecoder:
    """Reassembles and decodes the first keyframe of any video stream (decrypted RTP in)."""

    def __init__(self, codec: str) -> None:
        self._codec_key = f"video/{codec}"
        self._depayload = DEPAYLOAD[codec]
        self._decoder = cast(av.VideoCodecContext, av.CodecContext.create(codec, "r"))
        self._frames: dict[int, tuple[int, int, list[bytes]]] = {}  # ssrc -> ts, next seq, parts

    def feed(self, data: bytes) -> bool:
        """True once a frame has been decoded."""
        try:
            packet = rtp.parse(data)
        except ValueError:
            return False
        payload = data[packet.payload_offset : len(data) - packet.padding]
        state = self._frames.get(packet.ssrc)
        if state is None or state[0] != packet.timestamp or state[1] != packet.seq:
            if not rtp.is_keyframe_start(self._codec_key, payload):
                self._frames.pop(packet.ssrc, None)
                return False
            state = (packet.timestamp, packet.seq, [])
        parts = state[2]
        parts.append(self._depayload(payload))
        self._frames[packet.ssrc] = (packet.timestamp, (packet.seq + 1) & 0xFFFF, parts)
        if not packet.marker:
            return False
        del self._frames[packet.ssrc]
        try:
            return bool(self._decoder.decode(av.Packet(b"".join(parts))))
        except av.FFmpegError:
            return False
