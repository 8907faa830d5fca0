"""RTCP the SFU writes (RFC 3550, RFC 4585, REMB) on top of aiortc's RTCP packet classes."""

from __future__ import annotations

import struct
import time
from typing import NamedTuple

from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    pack_remb_fci,
    pack_rtcp_packet,
)

__all__ = [
    "RTCP_APP",
    "RTCP_BYE",
    "RTCP_PSFB_APP",
    "RTCP_PSFB_PLI",
    "RTCP_RTPFB_NACK",
    "AnyRtcpPacket",
    "AppPacket",
    "RtcpByePacket",
    "RtcpPsfbPacket",
    "RtcpReceiverInfo",
    "RtcpRrPacket",
    "RtcpRtpfbPacket",
    "RtcpSrPacket",
    "app",
    "bye",
    "nack",
    "ntp_now",
    "parse",
    "parse_app",
    "pli",
    "receiver_report",
    "remb",
    "sender_report",
]

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
RTCP_PSFB_FIR = 4
NACK_FCI = struct.Struct("!HH")
SSRC_PAIR = struct.Struct("!II")
RTCP_BYE = 203
RTCP_APP = 204
HEADER = struct.Struct("!BBH")
APP_HEAD = struct.Struct("!BBHI4s")


def ntp_now() -> int:
    """Wall clock as a 64-bit NTP timestamp."""
    now = time.time() + NTP_EPOCH_OFFSET
    return (int(now) << 32) | int((now % 1) * (1 << 32))


def middle_32(ntp: int) -> int:
    """The 'LSR' form of an NTP timestamp (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def parse(data: bytes) -> list[AnyRtcpPacket]:
    """Parse a compound RTCP packet; raises ValueError when malformed."""
    packets = RtcpPacket.parse(data)
    for packet in packets:
        if isinstance(packet, RtcpRtpfbPacket):
            # aiortc reads PID 65535 with BLP bit 0 as 65536: sequence numbers are 16 bits.
            packet.lost = [seq & 0xFFFF for seq in packet.lost]
    return packets


def is_keyframe_request(packet: AnyRtcpPacket) -> bool:
    return isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR)


def pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=sender_ssrc, media_ssrc=media_ssrc))


def nack(sender_ssrc: int, media_ssrc: int, lost: list[int]) -> bytes:
    """RFC 4585 §6.2.1 generic NACK; `lost` in sending order, which may wrap past 65535 (aiortc's
    writer raises ValueError at the wrap). Out of order numbers only cost an extra PID/BLP pair."""
    pairs: list[list[int]] = []  # [PID, BLP]
    for seq in lost:
        if pairs and (distance := (seq - pairs[-1][0] - 1) & 0xFFFF) < 16:
            pairs[-1][1] |= 1 << distance
        else:
            pairs.append([seq, 0])
    fci = b"".join(NACK_FCI.pack(pid, blp) for pid, blp in pairs)
    return pack_rtcp_packet(
        RTCP_RTPFB, RTCP_RTPFB_NACK, SSRC_PAIR.pack(sender_ssrc, media_ssrc) + fci
    )


def remb(sender_ssrc: int, bitrate: int, media_ssrcs: list[int]) -> bytes:
    return bytes(
        RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP,
            ssrc=sender_ssrc,
            media_ssrc=0,
            fci=pack_remb_fci(bitrate, media_ssrcs),
        )
    )


def receiver_report(sender_ssrc: int, reports: list[RtcpReceiverInfo]) -> bytes:
    return bytes(RtcpRrPacket(ssrc=sender_ssrc, reports=reports))


def sender_report(
    ssrc: int, ntp: int, rtp_timestamp: int, packets: int, octets: int, cname: str
) -> bytes:
    """SR followed by SDES CNAME: RFC 3550 §6.1 wants a CNAME in every compound packet."""
    sr = RtcpSrPacket(
        ssrc=ssrc,
        sender_info=RtcpSenderInfo(
            ntp_timestamp=ntp,
            rtp_timestamp=rtp_timestamp & 0xFFFFFFFF,
            packet_count=packets & 0xFFFFFFFF,
            octet_count=octets & 0xFFFFFFFF,
        ),
    )
    sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=ssrc, items=[(1, cname.encode())])])
    return bytes(sr) + bytes(sdes)


def bye(ssrc: int) -> bytes:
    """RFC 3550 §6.6 BYE for one source, no reason."""
    return HEADER.pack(0x81, RTCP_BYE, 1) + ssrc.to_bytes(4, "big")


class AppPacket(NamedTuple):
    """RFC 3550 §6.7 APP: application-defined, named by four ASCII characters."""

    subtype: int  # 0-31
    ssrc: int
    name: bytes
    data: bytes


def app(ssrc: int, name: bytes, subtype: int = 0, data: bytes = b"") -> bytes:
    if len(name) != 4 or len(data) % 4 or not 0 <= subtype < 32:
        raise ValueError("APP: a 4-byte name, data in 32-bit words, a subtype below 32")
    return APP_HEAD.pack(0x80 | subtype, RTCP_APP, 2 + len(data) // 4, ssrc, name) + data


def parse_app(data: bytes) -> list[AppPacket]:
    """The APP packets of a compound RTCP packet (aiortc's parser skips them); raises ValueError
    when the compound is malformed."""
    found: list[AppPacket] = []
    pos = 0
    while pos < len(data):
        if len(data) < pos + 4:
            raise ValueError("RTCP packet shorter than its header")
        first, packet_type, length = HEADER.unpack_from(data, pos)
        if first >> 6 != 2:
            raise ValueError("RTCP packet has invalid version")
        end = pos + 4 + 4 * length
        if end > len(data):
            raise ValueError("RTCP packet is truncated")
        if packet_type == RTCP_APP:
            if length < 2:
                raise ValueError("RTCP APP shorter than its SSRC and name")
            _, _, _, ssrc, name = APP_HEAD.unpack_from(data, pos)
            body = data[pos + 12 : end]
            if first & 0x20 and body:  # padding: its last byte says how much
                body = body[: -body[-1]] if 0 < body[-1] <= len(body) else b""
            found.append(AppPacket(first & 0x1F, ssrc, name, body))
        pos = end
    return found
