"""RTCP the SFU writes (RFC 3550, RFC 4585, REMB) on top of aiortc's RTCP packet classes."""

from __future__ import annotations

import struct
import time

from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
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
    "RTCP_PSFB_APP",
    "RTCP_PSFB_PLI",
    "RTCP_RTPFB_NACK",
    "AnyRtcpPacket",
    "RtcpPsfbPacket",
    "RtcpReceiverInfo",
    "RtcpRrPacket",
    "RtcpRtpfbPacket",
    "RtcpSrPacket",
    "nack",
    "ntp_now",
    "parse",
    "pli",
    "receiver_report",
    "remb",
    "sender_report",
]

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
RTCP_PSFB_FIR = 4
NACK_FCI = struct.Struct("!HH")
SSRC_PAIR = struct.Struct("!II")


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
