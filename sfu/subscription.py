"""Subscriptions: one publication delivered to one outgoing track (a subscriber's transceiver).

An `OutTrack` is the subscriber-side slot: its SSRC, its negotiated payload types and header
extension ids, and the sequence/timestamp state that must stay continuous whatever publication it
carries and however often it pauses. A `Subscription` binds a publication to a slot and holds the
offsets that turn the publisher's numbering into the slot's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sfu import rtcp
from sfu.rtp import (
    HEADER,
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    URI_MID,
    Incoming,
    build_extensions,
    rewrite,
)

if TYPE_CHECKING:
    from sfu.publication import Publication

FORWARDED_EXTENSIONS = (URI_AUDIO_LEVEL, URI_ABS_SEND_TIME)


class OutTrack:
    """One sending transceiver of a subscriber (or WHEP) peer connection."""

    def __init__(self, kind: str, ssrc: int, cname: str) -> None:
        self.kind = kind
        self.ssrc = ssrc
        self.cname = cname
        self.mid: str | None = None
        self.payload_types: dict[str, int] = {}  # lower-case mime type -> payload type
        self.extension_ids: dict[str, int] = {}  # uri -> id
        self.send_rtp: Callable[[bytes], bool] | None = None
        self.send_rtcp: Callable[[bytes], bool] | None = None
        self.subscription: Subscription | None = None
        # Continuity across publications and pauses.
        self.sent_any = False
        self.last_seq = 0
        self.last_timestamp = 0
        self.last_sent_at = 0.0
        self.packets = 0
        self.octets = 0

    @property
    def ready(self) -> bool:
        return self.send_rtp is not None and bool(self.payload_types)

    def configure(
        self,
        mid: str | None,
        payload_types: dict[str, int],
        extension_ids: dict[str, int],
        send_rtp: Callable[[bytes], bool],
        send_rtcp: Callable[[bytes], bool],
    ) -> None:
        self.mid = mid
        self.payload_types = payload_types
        self.extension_ids = extension_ids
        self.send_rtp = send_rtp
        self.send_rtcp = send_rtcp
        if self.subscription is not None:
            self.subscription.configure()


# Why a subscription is paused (see Subscription.pause).
MUTED = "muted"
OFF = "off"


class Subscription:
    def __init__(self, publication: Publication, track: OutTrack) -> None:
        self.publication = publication
        self.track = track
        self.paused = False
        self._held: set[str] = set()
        self.waiting_keyframe = publication.kind == "video"
        self._resync = True
        self.seq_offset = 0
        self.ts_offset = 0
        self._first_out_seq = 0
        self.payload_type: int | None = None
        self._extension_map: tuple[tuple[int, int], ...] = ()
        self._mid_element: tuple[int, bytes] | None = None
        self.extension_key: object = None
        track.subscription = self
        self.configure()

    def configure(self) -> None:
        """Recompute what depends on the slot's negotiated parameters."""
        track, publication = self.track, self.publication
        self.payload_type = track.payload_types.get(publication.codec_key)
        self._extension_map = tuple(
            (publication.extension_ids[uri], track.extension_ids[uri])
            for uri in FORWARDED_EXTENSIONS
            if uri in publication.extension_ids and uri in track.extension_ids
        )
        mid_id = track.extension_ids.get(URI_MID)
        self._mid_element = (mid_id, track.mid.encode()) if mid_id and track.mid else None
        self.extension_key = (self._mid_element, self._extension_map)

    @property
    def active(self) -> bool:
        """Media flows to the subscriber (not paused, not waiting for a keyframe)."""
        return not self.paused and not self.waiting_keyframe and not self._resync

    def pause(self, why: str = MUTED) -> None:
        """Stop forwarding. ``why``: the publication is muted (MUTED), or the subscriber
        switched this publication off for itself (OFF); it flows again once neither holds."""
        self._held.add(why)
        if self.paused:
            return
        self.paused = True
        if self.waiting_keyframe:
            # A paused subscription must not keep the publisher sending keyframes.
            self.waiting_keyframe = False
            self.publication.keyframe_arrived()

    def resume(self, why: str = MUTED) -> None:
        """Resume with continuous numbering; video waits for the next keyframe."""
        self._held.discard(why)
        if not self.paused or self._held:
            return
        self.paused = False
        self._resync = True
        if self.publication.kind == "video":
            self.waiting_keyframe = True
            self.publication.subscription_waiting()

    def extension_block(self, packet: Incoming) -> bytes:
        elements = [self._mid_element] if self._mid_element else []
        for source_id, target_id in self._extension_map:
            value = packet.extensions.get(source_id)
            if value is not None:
                elements.append((target_id, value))
        return build_extensions(elements)

    def forward(
        self, packet: Incoming, keyframe: bool, first_byte: int, rest: bytes, now: float
    ) -> int:
        """Send one packet to the subscriber (`first_byte`/`rest` from `rtp.tail`); returns bytes
        sent, 0 if held back. Runs once per packet per subscriber: keep it lean."""
        if self.paused or self.payload_type is None:
            return 0
        track = self.track
        if self.waiting_keyframe:
            if not keyframe:
                return 0
            self.waiting_keyframe = False
            self.publication.keyframe_arrived()
        if self._resync:
            self._start_epoch(packet)
        seq = (packet.seq + self.seq_offset) & 0xFFFF
        timestamp = (packet.timestamp + self.ts_offset) & 0xFFFFFFFF
        data = HEADER.pack(
            first_byte, packet.marker | self.payload_type, seq, timestamp, track.ssrc
        )
        data += rest
        if not track.send_rtp(data):  # type: ignore[misc]
            return 0
        if ((seq - track.last_seq) & 0xFFFF) < 0x8000:
            track.last_seq = seq
            track.last_timestamp = timestamp
            track.last_sent_at = now
        track.packets += 1
        track.octets += len(data) - 12
        return len(data)

    def _start_epoch(self, packet: Incoming) -> None:
        """Continue the slot's numbering from this packet on (new slot, resume or switch)."""
        track = self.track
        if track.sent_any:
            elapsed = time.monotonic() - track.last_sent_at
            step = max(1, int(elapsed * self.publication.clock_rate))
            self.seq_offset = (track.last_seq + 1 - packet.seq) & 0xFFFF
            self.ts_offset = (track.last_timestamp + step - packet.timestamp) & 0xFFFFFFFF
        else:
            self.seq_offset = 0
            self.ts_offset = 0
            track.sent_any = True
            track.last_seq = (packet.seq - 1) & 0xFFFF
        self._first_out_seq = (packet.seq + self.seq_offset) & 0xFFFF
        self._resync = False

    def retransmit(self, lost: list[int]) -> int:
        """Answer a subscriber NACK from the publication's cache; returns packets resent."""
        if not self.active:
            return 0
        resent = 0
        for out_seq in lost:
            # Packets from before this epoch were numbered with other offsets.
            if ((out_seq - self._first_out_seq) & 0xFFFF) >= 0x8000:
                continue
            packet = self.publication.cache.get((out_seq - self.seq_offset) & 0xFFFF)
            if packet is None:
                continue
            data = rewrite(
                packet,
                self.payload_type,  # type: ignore[arg-type]
                out_seq,
                (packet.timestamp + self.ts_offset) & 0xFFFFFFFF,
                self.track.ssrc,
                self.extension_block(packet),
            )
            if self.track.send_rtp(data):  # type: ignore[misc]
                resent += 1
        return resent

    def send_sender_report(self, ntp: int, rtp_timestamp: int) -> None:
        """Translate the publisher's NTP↔RTP mapping into this slot's timestamp space."""
        track = self.track
        send = track.send_rtcp
        if not self.active or send is None:
            return
        send(
            rtcp.sender_report(
                track.ssrc,
                ntp,
                rtp_timestamp + self.ts_offset,
                track.packets,
                track.octets,
                track.cname,
            )
        )

    def close(self) -> None:
        if self.track.subscription is self:
            self.track.subscription = None
        self.publication.remove_subscription(self)
