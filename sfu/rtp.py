"""RTP packets as bytes: parse the header once per received packet, rebuild it per subscription.

The forwarding loop runs once per packet per subscriber, so this module avoids objects per packet
beyond one small `Incoming` tuple and uses `struct` for header work.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct("!BBHII")
EXT_HEADER = struct.Struct("!HH")
ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE_MASK = 0xFFF0
TWO_BYTE_PROFILE = 0x1000

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


class Incoming(NamedTuple):
    """One received RTP packet with the header fields the SFU needs."""

    data: bytes
    marker: int  # 0x80 or 0
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    extensions: dict[int, bytes]  # extension id -> value, as the publisher numbered them
    payload_offset: int
    padding: int  # bytes of padding at the end (0 when the P bit is clear)


def is_rtcp(data: bytes) -> bool:
    # RFC 5761 §4: RTCP packet types 192-223 collide with no dynamic RTP payload type.
    return len(data) >= 2 and 192 <= data[1] <= 223


def parse(data: bytes) -> Incoming:
    """Parse an RTP packet; raises ValueError on anything malformed."""
    if len(data) < 12:
        raise ValueError("RTP packet shorter than its fixed header")
    b0, b1, seq, timestamp, ssrc = HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        raise ValueError("not RTP version 2")
    offset = 12 + 4 * (b0 & 0x0F)
    extensions: dict[int, bytes] = {}
    if b0 & 0x10:
        if len(data) < offset + 4:
            raise ValueError("RTP header extension truncated")
        profile, words = EXT_HEADER.unpack_from(data, offset)
        start = offset + 4
        offset = start + 4 * words
        if len(data) < offset:
            raise ValueError("RTP header extension truncated")
        if profile == ONE_BYTE_PROFILE:
            _parse_one_byte(data, start, offset, extensions)
        elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
            _parse_two_byte(data, start, offset, extensions)
    padding = data[-1] if b0 & 0x20 else 0
    if offset + padding > len(data):
        raise ValueError("RTP padding longer than the packet")
    if b0 & 0x20 and not padding:
        raise ValueError("RTP padding bit set with a padding count of 0")
    return Incoming(data, b1 & 0x80, b1 & 0x7F, seq, timestamp, ssrc, extensions, offset, padding)


# An element that claims more bytes than its block holds ends the parsing: the elements before
# it are kept and the packet is forwarded, as libwebrtc does ("Oversized rtp header extension").
# The block's own length was checked against the packet, so the payload is where it says; only
# this element is unreadable, and no element value is ever read from beyond the block.


def _parse_one_byte(data: bytes, pos: int, end: int, out: dict[int, bytes]) -> None:
    while pos < end:
        byte = data[pos]
        if byte == 0:  # padding between elements
            pos += 1
            continue
        ext_id = byte >> 4
        if ext_id == 15 or ext_id == 0:  # RFC 8285 §4.2: 15 (and 0 with a length) stop parsing
            return
        start = pos + 1
        pos = start + (byte & 0x0F) + 1
        if pos > end:
            return
        out[ext_id] = data[start:pos]


def _parse_two_byte(data: bytes, pos: int, end: int, out: dict[int, bytes]) -> None:
    while pos + 1 < end:
        ext_id = data[pos]
        if ext_id == 0:
            pos += 1
            continue
        start = pos + 2
        pos = start + data[pos + 1]
        if pos > end:
            return
        out[ext_id] = data[start:pos]


def build_extensions(elements: list[tuple[int, bytes]]) -> bytes:
    """Serialise (id, value) pairs as an RFC 8285 extension block, including its 4-byte header."""
    if not elements:
        return b""
    one_byte = all(0 < i < 15 and 0 < len(v) <= 16 for i, v in elements)
    if one_byte:
        body = b"".join(bytes(((i << 4) | (len(v) - 1),)) + v for i, v in elements)
        profile = ONE_BYTE_PROFILE
    else:
        body = b"".join(bytes((i, len(v))) + v for i, v in elements)
        profile = TWO_BYTE_PROFILE
    body += b"\x00" * (-len(body) % 4)
    return EXT_HEADER.pack(profile, len(body) // 4) + body


def tail(packet: Incoming, extension_block: bytes) -> tuple[int, bytes]:
    """What follows the new fixed header, and the header's first byte: shared by every subscriber
    whose extension block is the same, so it is built once per packet, not once per copy."""
    b0 = 0x80 | (packet.data[0] & 0x20) | (0x10 if extension_block else 0)
    return b0, extension_block + packet.data[packet.payload_offset :]


def rewrite(
    packet: Incoming,
    payload_type: int,
    seq: int,
    timestamp: int,
    ssrc: int,
    extension_block: bytes,
) -> bytes:
    """The packet as one subscriber receives it: new header, same payload (and padding)."""
    b0, rest = tail(packet, extension_block)
    return HEADER.pack(b0, packet.marker | payload_type, seq, timestamp, ssrc) + rest


def is_keyframe_start(codec: str, payload: bytes) -> bool:
    """Does this packet begin a keyframe a decoder can start from?"""
    if codec == "video/vp8":
        return _vp8_keyframe_start(payload)
    if codec == "video/h264":
        return _h264_keyframe_start(payload)
    return False


def vp8_descriptor_size(payload: bytes) -> int:
    """Bytes of the RFC 7741 §4.2 payload descriptor at the start of a VP8 RTP payload; raises
    IndexError when the payload is too short to hold it."""
    if not payload[0] & 0x80:
        return 1
    ext = payload[1]
    pos = 2
    if ext & 0x80:  # I: picture id, 7 or 15 bits
        pos += 2 if payload[pos] & 0x80 else 1
    if ext & 0x40:  # L: TL0PICIDX
        pos += 1
    if ext & 0x30:  # T or K: TID/KEYIDX byte
        pos += 1
    return pos


def _vp8_keyframe_start(payload: bytes) -> bool:
    # RFC 7741 §4.2: payload descriptor, then the VP8 payload header whose P bit is 0 on keyframes.
    if len(payload) < 1:
        return False
    first = payload[0]
    if not first & 0x10 or first & 0x07:  # S=1 and PID=0: start of partition 0
        return False
    try:
        pos = vp8_descriptor_size(payload)
    except IndexError:
        return False
    return len(payload) > pos and not payload[pos] & 0x01


H264_IDR = 5
H264_SPS = 7
H264_STAP_A = 24
H264_FU_A = 28


def _h264_keyframe_start(payload: bytes) -> bool:
    # RFC 6184: a keyframe starts with SPS (browsers and ffmpeg send SPS/PPS before each IDR),
    # or with the IDR itself when parameter sets came earlier.
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (H264_SPS, H264_IDR):
        return True
    if nal_type == H264_STAP_A:
        pos = 1
        while pos + 2 < len(payload):
            size = (payload[pos] << 8) | payload[pos + 1]
            if payload[pos + 2] & 0x1F in (H264_SPS, H264_IDR):
                return True
            pos += 2 + size
        return False
    if nal_type == H264_FU_A and len(payload) > 1:
        return bool(payload[1] & 0x80) and payload[1] & 0x1F == H264_IDR
    return False
