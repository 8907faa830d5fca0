"""Subscription placement: which publication each sending slot of a subscriber connection carries.

A subscriber connection has one sending transceiver (an `OutTrack` slot) per publication it was
offered. Publications come and go; a slot whose publication ended is reused for the next one of
its kind without renegotiation, and only a publication that finds no free slot needs a new one
(a renegotiation, done by the peer). What the subscriber switched off for itself stays bound but
paused, and what it cannot decode is never offered again.

Which publications a subscriber receives is not the SFU's decision: signaling names them
(`consumed`, through `Peer.consume`/`Peer.unconsume`), since only it knows hearings, roles and
who may see whom. A publication nobody consumed is forwarded to nobody.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiortc import RTCRtpTransceiver

from sfu import rtcp
from sfu.api import TrackInfo
from sfu.publication import Publication
from sfu.subscription import MUTED, OFF, OutTrack, Subscription

__all__ = ["Placement", "TrackInfo"]

log = logging.getLogger(__name__)


class Placement:
    def __init__(self, peer_id: str, publications: dict[str, Publication]) -> None:
        self.peer_id = peer_id
        self.slots: dict[RTCRtpTransceiver, OutTrack] = {}
        # WHEP: the slots come from the peer's offer; no renegotiation ever adds one.
        self.whep = False
        # The publications signaling told this subscriber to receive (ids of the room's).
        self.consumed: set[str] = set()
        self._publications = publications  # the room's, by id
        self._pending: dict[OutTrack, Publication] = {}  # bound, waiting for negotiation
        # Publications whose codec this subscriber did not accept: never offered again.
        self._unplayable: set[str] = set()
        # Publications this subscriber switched off for itself (weak link): bound, not forwarded.
        self._off: set[str] = set()

    def wanted(self) -> list[Publication]:
        consumed = self.consumed
        if not consumed:
            return []
        # In the room's order (the order they were published), so slots are added predictably.
        return [
            p
            for p in self._publications.values()
            if p.id in consumed and p.peer_id != self.peer_id and p.id not in self._unplayable
        ]

    def consume(self, ids: Iterable[str]) -> None:
        """Add to what this subscriber receives; ids the room does not have (ended meanwhile) and
        the peer's own publications are ignored."""
        publications = self._publications
        for i in ids:
            p = publications.get(i)
            if p is not None and p.peer_id != self.peer_id:
                self.consumed.add(i)

    def unconsume(self, ids: Iterable[str]) -> None:
        self.consumed.difference_update(ids)

    def forget(self, publication_id: str) -> bool:
        """The publication ended: drop it; True when this subscriber had consumed it."""
        self._off.discard(publication_id)
        self._unplayable.discard(publication_id)
        if publication_id in self.consumed:
            self.consumed.discard(publication_id)
            return True
        return False

    def bound(self, track: OutTrack) -> Publication | None:
        if track.subscription is not None:
            return track.subscription.publication
        return self._pending.get(track)

    def unplaced(self, wanted: list[Publication]) -> list[Publication]:
        bound_ids = {b.id for t in self.slots.values() if (b := self.bound(t))}
        return [p for p in wanted if p.id not in bound_ids]

    def place(self, wanted: list[Publication]) -> bool:
        """Unbind what is no longer wanted, bind the rest to free slots of their kind; True when
        some publication found no free slot."""
        wanted_ids = {p.id for p in wanted}
        for track in self.slots.values():
            bound = self.bound(track)
            if bound is not None and bound.id not in wanted_ids:
                self._unbind(track)
        short = False
        for publication in self.unplaced(wanted):
            free = next(
                (
                    t
                    for t in self.slots.values()
                    if t.kind == publication.kind and self.bound(t) is None
                ),
                None,
            )
            if free is None:
                short = True
            elif free.ready:
                self._subscribe(free, publication)
            else:
                self._pending[free] = publication
        return short

    def add_slot(
        self, transceiver: RTCRtpTransceiver, track: OutTrack, publication: Publication | None
    ) -> None:
        """A new slot; `publication` goes on it once its negotiation is done."""
        self.slots[transceiver] = track
        if publication is not None:
            self._pending[track] = publication

    def slot_ready(self, track: OutTrack) -> None:
        """The slot's negotiated parameters are known: its pending publication can flow."""
        publication = self._pending.pop(track, None)
        if publication is not None and publication.id in self._publications:
            self._subscribe(track, publication)

    def _subscribe(self, track: OutTrack, publication: Publication) -> None:
        if publication.codec_key not in track.payload_types:
            # Forwarding needs the subscriber to decode the publisher's codec (no transcoding).
            log.warning(
                "peer %s does not accept %s of %s: not subscribed",
                self.peer_id,
                publication.codec,
                publication.peer_id,
            )
            self._unplayable.add(publication.id)
            return
        subscription = Subscription(publication, track)
        # Added before pausing: a pause releases the keyframe wait that adding counts, so the
        # other order would leave the publication's count of waiting subscribers at -1 (and
        # the publisher asked for a keyframe every retry interval forever).
        publication.add_subscription(subscription)
        if publication.id in self._off:
            subscription.pause(OFF)
        if publication.muted:
            # Consumed while muted (a standing mute): nothing flows, and no keyframe is awaited,
            # until the unmute resumes it like every other subscription.
            subscription.pause(MUTED)

    def _unbind(self, track: OutTrack) -> None:
        self._pending.pop(track, None)
        if track.subscription is not None:
            track.subscription.close()

    def pause_subscription(self, publication_id: str, paused: bool) -> bool:
        """Switch one publication off (or on again) for this subscriber only. The slot stays
        bound, so switching on needs no renegotiation; video resumes at the next keyframe (one
        PLI to the publisher). False when the room has no such publication."""
        if publication_id not in self._publications:
            return False
        if paused:
            self._off.add(publication_id)
        else:
            self._off.discard(publication_id)
        for track in self.slots.values():
            subscription = track.subscription
            if subscription is not None and subscription.publication.id == publication_id:
                if paused:
                    subscription.pause(OFF)
                else:
                    subscription.resume(OFF)
        return True

    def tracks(self) -> list[TrackInfo]:
        tracks = []
        for transceiver, track in self.slots.items():
            publication = self.bound(track)
            if publication is not None and transceiver.mid is not None:
                tracks.append(
                    TrackInfo(
                        transceiver.mid,
                        publication.id,
                        publication.peer_id,
                        publication.kind,
                        publication.muted,
                        publication.source,
                    )
                )
        return tracks

    def on_feedback(self, packets: list[rtcp.AnyRtcpPacket]) -> int:
        """A subscriber's RTCP about its slots: keyframe requests go to the publication each slot
        carries, NACKs are answered from its cache. Returns the packets retransmitted."""
        by_ssrc = {t.ssrc: t for t in self.slots.values()}
        resent = 0
        for packet in packets:
            if isinstance(packet, rtcp.RtcpPsfbPacket) and rtcp.is_keyframe_request(packet):
                ssrc = packet.media_ssrc
                if packet.fmt == rtcp.RTCP_PSFB_FIR and len(packet.fci) >= 4:
                    ssrc = int.from_bytes(packet.fci[:4], "big")
                track = by_ssrc.get(ssrc)
                if track is not None and track.subscription is not None:
                    track.subscription.publication.request_keyframe()
            elif isinstance(packet, rtcp.RtcpRtpfbPacket) and packet.fmt == rtcp.RTCP_RTPFB_NACK:
                track = by_ssrc.get(packet.media_ssrc)
                if track is not None and track.subscription is not None:
                    resent += track.subscription.retransmit(packet.lost)
        return resent

    def close(self) -> None:
        for track in list(self.slots.values()):
            self._unbind(track)
