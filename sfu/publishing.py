"""What one peer publishes: its publications, the RTP and RTCP its publisher connection brings
for them, and the reports the SFU sends back upstream."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpTransceiver

from sfu import rtc_internals, rtcp, rtp
from sfu.publication import Publication

if TYPE_CHECKING:
    from sfu.room import Room


class Publishing:
    def __init__(self, room: Room, peer_id: str) -> None:
        self.room = room
        self.peer_id = peer_id
        self.publications: dict[str, Publication] = {}  # by the publisher connection's mid
        # The publisher's labels by mid ("screen", ...), from its latest offer.
        self.sources: dict[str, str] = {}
        self.send_rtcp: Callable[[bytes], bool] | None = None  # once DTLS is up
        # Kinds whose new publications start muted (a standing mute, set by signaling).
        self.muted_kinds: set[str] = set()
        self._by_ssrc: dict[int, Publication] = {}

    def add(self, transceiver: RTCRtpTransceiver, params: Any) -> Publication | None:
        """A publication for a newly negotiated sending transceiver (None: not one to publish)."""
        mid = params.muxId
        if mid in self.publications or not params.codecs:
            return None
        codec = params.codecs[0]
        publication = Publication(
            publication_id=f"TR_{secrets.token_hex(6)}",
            peer_id=self.peer_id,
            kind=transceiver.kind,
            codec=codec.mimeType,
            clock_rate=codec.clockRate,
            extension_ids={e.uri: e.id for e in params.headerExtensions},
            mid=mid,
            config=self.room.config,
            counters=self.room.counters,
            send_upstream=self._send_upstream,
            rtcp_ssrc=rtc_internals.sender_ssrc(transceiver),
        )
        publication.payload_type = codec.payloadType
        publication.source = self.sources.get(mid, publication.source)
        # Before anyone hears of it: across a process boundary a mute sent in reply to
        # `publication.added` would come after the first packets.
        publication.muted = publication.kind in self.muted_kinds
        if params.encodings:
            publication.ssrc = params.encodings[0].ssrc
            self._by_ssrc[publication.ssrc] = publication
        self.publications[mid] = publication
        self.room._add_publication(publication)
        return publication

    def remove(self, publication: Publication) -> None:
        if publication.mid is not None:
            self.publications.pop(publication.mid, None)
        if publication.ssrc is not None:
            self._by_ssrc.pop(publication.ssrc, None)
        self.room._remove_publication(publication)

    def _send_upstream(self, data: bytes) -> bool:
        return self.send_rtcp(data) if self.send_rtcp else False

    def on_rtp(self, data: bytes) -> None:
        try:
            packet = rtp.parse(data)
        except ValueError:
            return
        publication = self._by_ssrc.get(packet.ssrc) or self._bind_ssrc(packet)
        if publication is not None:
            publication.on_rtp(packet)

    def _bind_ssrc(self, packet: rtp.Incoming) -> Publication | None:
        """Find the publication of an SSRC the SDP did not announce (by mid, else payload type)."""
        for publication in self.publications.values():
            mid_id = publication.mid_extension_id
            if (
                mid_id is not None
                and packet.extensions.get(mid_id) == (publication.mid or "").encode()
            ):
                break
        else:
            candidates = [
                p for p in self.publications.values() if p.payload_type == packet.payload_type
            ]
            if len(candidates) != 1:
                return None
            publication = candidates[0]
        if publication.ssrc is not None:
            self._by_ssrc.pop(publication.ssrc, None)
        publication.ssrc = packet.ssrc
        self._by_ssrc[packet.ssrc] = publication
        return publication

    def on_rtcp(self, data: bytes) -> None:
        try:
            packets = rtcp.parse(data)
        except ValueError:
            return
        for packet in packets:
            if isinstance(packet, rtcp.RtcpSrPacket):
                publication = self._by_ssrc.get(packet.ssrc)
                if publication is not None:
                    info = packet.sender_info
                    publication.on_sender_report(info.ntp_timestamp, info.rtp_timestamp)

    def send_receiver_reports(self) -> None:
        """RR for every publication, and REMB for video, on the publisher connection."""
        if self.send_rtcp is None or not self.publications:
            return
        publications = list(self.publications.values())
        reports = [b for p in publications if (b := p.report_block()) is not None]
        if not reports:
            return
        sender_ssrc = publications[0]._rtcp_ssrc
        data = rtcp.receiver_report(sender_ssrc, reports)
        video = [p.ssrc for p in publications if p.kind == "video" and p.ssrc is not None]
        if video:
            data += rtcp.remb(sender_ssrc, self.room.config.max_video_bitrate, video)
        self.send_rtcp(data)

    def last_packet_at(self) -> float:
        return max((p.last_packet_at for p in self.publications.values()), default=0.0)
