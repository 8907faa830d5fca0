"""A peer: one participant's WebRTC connections to the SFU, and their negotiation.

Up to two RTCPeerConnections, as LiveKit does: the *publisher* connection carries what the peer
sends (the peer offers, the SFU answers; WHIP uses it too) and the *subscriber* connection carries
what the peer receives (the SFU offers and renegotiates as publications come and go; or, for WHEP,
the peer offers recvonly m-lines and the SFU answers).

What a subscriber receives is named from outside (`consume`/`unconsume`): the SFU forwards a
publication to nobody until signaling, which knows roles and rooms, says who gets it.

The rest is in its own module: what an SDP must hold (`offers`), the peer's publications and their
packets (`publishing`), and which publication each subscriber slot carries (`placement`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import candidate_from_sdp

from sfu import offers, rtc_internals, rtcp
from sfu.errors import SfuError
from sfu.placement import Placement, TrackInfo
from sfu.publishing import Publishing
from sfu.subscription import OutTrack

if TYPE_CHECKING:
    from sfu.publication import Publication
    from sfu.room import Room

__all__ = ["Peer", "PeerListener", "TrackInfo"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class PeerListener(Protocol):
    def on_subscriber_offer(self, peer: Peer, sdp: str) -> None: ...
    def on_subscriptions(self, peer: Peer, tracks: list[TrackInfo]) -> None: ...
    def on_closed(self, peer: Peer, reason: str) -> None: ...


class Peer:
    def __init__(
        self,
        room: Room,
        peer_id: str,
        publish: bool,
        subscribe: bool,
        listener: PeerListener,
        muted_kinds: Iterable[str] = (),
    ) -> None:
        self.room = room
        self.id = peer_id
        self.can_publish = publish
        self.can_subscribe = subscribe
        self.listener = listener
        self.publishing = Publishing(room, peer_id)
        self.publishing.muted_kinds = set(muted_kinds)
        self.publications = self.publishing.publications  # by the publisher connection's mid
        self.placement = Placement(peer_id, room.publications)
        self.closed = False
        self.consent_checks = True
        self._config = room.config
        self._publisher_pc: RTCPeerConnection | None = None
        self._subscriber_pc: RTCPeerConnection | None = None
        self._negotiating = False
        self._renegotiate = False
        self._publisher_lock = asyncio.Lock()
        self._last_tracks: list[TrackInfo] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._created_at = time.monotonic()

    # -- publishing -----------------------------------------------------------------------------

    async def publisher_offer(
        self, sdp: str, consent_checks: bool = True, sources: dict[str, str] | None = None
    ) -> str:
        """Apply the peer's offer for what it sends; returns the SDP answer. ``sources`` labels
        the offer's mids (e.g. ``{"2": "screen"}``); a publication takes the label of its mid
        when it starts, unlabelled ones are "camera" or "microphone"."""
        if not self.can_publish:
            raise SfuError("this participant may not publish")
        offer = offers.session(sdp, "offer")
        offers.check_publish_offer(sdp, self._config.max_tracks)
        async with self._publisher_lock:
            self._check_open()
            self.consent_checks = consent_checks
            self.publishing.sources = dict(sources or {})
            first = self._publisher_pc is None
            pc = self._publisher_pc = self._publisher_pc or self._new_pc("publisher")
            try:
                await self._negotiation_step(pc.setRemoteDescription(offer), "offer")
                for transceiver in pc.getTransceivers():
                    publication = self.publications.get(transceiver.mid or "")
                    if publication is not None and not rtc_internals.peer_sends(transceiver):
                        self.publishing.remove(publication)
                    if publication is not None:
                        continue
                    rtc_internals.take_over_transceiver(transceiver, self._on_publisher_params)
                    if rtc_internals.peer_sends(transceiver):
                        self._accept_one_codec(transceiver)
                    transceiver.direction = "recvonly"
                answer = await self._negotiation_step(pc.createAnswer(), "offer")
                await self._negotiation_step(pc.setLocalDescription(answer), "offer")
            except SfuError:
                if first:  # nothing was ever connected: start over cleanly on the next offer
                    self._publisher_pc = None
                    await _close_pc(pc)
                raise
            self._hook(pc, self.publishing.on_rtp, self.publishing.on_rtcp)
            return str(pc.localDescription.sdp)

    def set_muted_kinds(self, kinds: Iterable[str]) -> None:
        """The kinds ("audio", "video") this peer's *new* publications start muted in, so a
        standing mute holds from their first packet. Publications already live are muted one
        by one (`Room.set_muted`)."""
        self.publishing.muted_kinds = set(kinds)

    @property
    def muted_kinds(self) -> frozenset[str]:
        return frozenset(self.publishing.muted_kinds)

    def _check_open(self) -> None:
        if self.closed:
            raise SfuError("the connection was closed")

    async def _negotiation_step(self, step: Awaitable[T], kind: str) -> T:
        """Await one aiortc negotiation step; its failures and a close meanwhile become SfuError."""
        try:
            result = await step
        except SfuError:
            raise
        except Exception as exc:  # aiortc raises ValueError, TypeError, InvalidStateError...
            await self._check_open_after_step()
            raise SfuError(f"the SDP {kind} cannot be used: {exc}") from exc
        await self._check_open_after_step()
        return result

    async def _check_open_after_step(self) -> None:
        """A close during the step may have come while aiortc was gathering: the sockets bound
        after it are still open."""
        if self.closed:
            for pc in (self._publisher_pc, self._subscriber_pc):
                if pc is not None:
                    await rtc_internals.release_sockets(pc)
        self._check_open()

    @staticmethod
    def _accept_one_codec(transceiver: RTCRtpTransceiver) -> None:
        """Answer with the peer's preferred supported codec only, and no RTX.

        One codec per publication means its codec is known before the first packet, and without
        RTX the publisher retransmits on the media SSRC, which the SFU forwards as it is.
        """
        chosen = next(
            (c for c in rtc_internals.negotiated_codecs(transceiver) if offers.codec_ok(c)), None
        )
        if chosen is None:
            raise offers.no_codec(transceiver.kind)
        rtc_internals.keep_codecs(transceiver, lambda c: c is chosen)

    async def _on_publisher_params(self, transceiver: RTCRtpTransceiver, params: Any) -> None:
        if self.closed or self.publishing.add(transceiver, params) is None:
            return
        if not self.consent_checks and self._publisher_pc is not None:
            rtc_internals.disable_consent_checks(self._publisher_pc)

    # -- subscribing ----------------------------------------------------------------------------

    async def subscriber_answer(self, sdp: str) -> None:
        """Apply the peer's answer to the SFU's last subscriber offer."""
        answer = offers.session(sdp, "answer")
        pc = self._subscriber_pc
        if pc is None or not self._negotiating or self.placement.whep:
            raise SfuError("no subscriber offer is waiting for an answer")
        try:
            await pc.setRemoteDescription(answer)
        except Exception as exc:
            raise SfuError(f"the SDP answer cannot be used: {exc}") from exc
        self._negotiating = False
        self._hook(pc, self._on_subscriber_rtp, self._on_subscriber_rtcp)
        if self._renegotiate:
            self._renegotiate = False
            self.sync_subscriptions()

    async def whep_offer(self, sdp: str, publication_ids: Iterable[str]) -> str:
        """WHEP: the peer offers recvonly audio/video; answer, and consume `publication_ids` (the
        source's publications, as signaling chose them) on the slots the offer brought."""
        if not self.can_subscribe:
            raise SfuError("this participant may not subscribe")
        offer = offers.session(sdp, "offer")
        ids = list(publication_ids)
        source = [p for i in ids if (p := self.room.publications.get(i)) is not None]
        offers.check_whep_offer(sdp, source)
        self._check_open()
        if self._subscriber_pc is not None:
            raise SfuError("this WHEP session already has an offer")
        self.placement.whep = True
        self.placement.consume(ids)
        # One stream id for the playback's tracks, so the player keeps them in sync.
        owners = {p.peer_id for p in source}
        stream_id = owners.pop() if len(owners) == 1 else self.id
        pc = self._subscriber_pc = self._new_pc("subscriber")
        await self._negotiation_step(pc.setRemoteDescription(offer), "offer")
        cname = rtc_internals.cname(pc)
        for transceiver in pc.getTransceivers():
            transceiver.direction = "sendonly"
            rtc_internals.take_over_transceiver(transceiver, self._on_subscriber_params)
            rtc_internals.set_stream_id(transceiver, stream_id)
            track = OutTrack(transceiver.kind, rtc_internals.sender_ssrc(transceiver), cname)
            self.placement.add_slot(transceiver, track, None)
        answer = await self._negotiation_step(pc.createAnswer(), "offer")
        await self._negotiation_step(pc.setLocalDescription(answer), "offer")
        self._hook(pc, self._on_subscriber_rtp, self._on_subscriber_rtcp)
        self.sync_subscriptions()
        return str(pc.localDescription.sdp)

    def _wanted(self) -> list[Publication]:
        return self.placement.wanted() if self.can_subscribe else []

    def consume(self, publication_ids: Iterable[str]) -> None:
        """Receive these publications too. Idempotent (a resync may send the whole set again);
        ids of publications that ended meanwhile, and the peer's own, are ignored."""
        if not self.can_subscribe:
            raise SfuError("this participant may not subscribe")
        self._check_open()
        before = len(self.placement.consumed)
        self.placement.consume(publication_ids)
        if len(self.placement.consumed) != before:
            self.sync_subscriptions()

    def unconsume(self, publication_ids: Iterable[str]) -> None:
        """Stop receiving these publications; their slots stay for the next of their kind."""
        if not self.can_subscribe:
            raise SfuError("this participant may not subscribe")
        self._check_open()
        before = len(self.placement.consumed)
        self.placement.unconsume(publication_ids)
        if len(self.placement.consumed) != before:
            self.sync_subscriptions()

    def sync_subscriptions(self) -> None:
        """Bring subscriptions in line with what this peer consumes (after every change of it,
        and when a consumed publication ends). Internal: callers use `consume`/`unconsume`."""
        if self.closed:
            return
        if self.placement.place(self._wanted()) and not self.placement.whep:
            self._schedule(self._negotiate())
        else:
            self._announce_tracks()

    def pause_subscription(self, publication_id: str, paused: bool) -> bool:
        """Switch one publication off (or on again) for this subscriber only (the protocol's
        `pause_subscription`); False when no such publication is offered to this peer."""
        return self.can_subscribe and self.placement.pause_subscription(publication_id, paused)

    async def _negotiate(self) -> None:
        if self._negotiating:
            self._renegotiate = True
            return
        self._negotiating = True
        try:
            pc = self._subscriber_pc or self._new_pc("subscriber")
            self._subscriber_pc = pc
            cname = rtc_internals.cname(pc)
            for publication in self.placement.unplaced(self._wanted()):
                transceiver = pc.addTransceiver(publication.kind, direction="sendonly")
                transceiver.setCodecPreferences(
                    [
                        c
                        for c in RTCRtpSender.getCapabilities(publication.kind).codecs
                        if c.mimeType.lower() != f"{publication.kind}/rtx"
                    ]
                )
                rtc_internals.take_over_transceiver(transceiver, self._on_subscriber_params)
                rtc_internals.set_stream_id(transceiver, publication.peer_id)
                track = OutTrack(publication.kind, rtc_internals.sender_ssrc(transceiver), cname)
                self.placement.add_slot(transceiver, track, publication)
            offer = await pc.createOffer()
            await pc.setLocalDescription(offer)
            if self.closed:
                await rtc_internals.release_sockets(pc)
                return
            self._last_tracks = None
            self.listener.on_subscriber_offer(self, pc.localDescription.sdp)
        except Exception:
            self._negotiating = False
            if self.closed and self._subscriber_pc is not None:
                await rtc_internals.release_sockets(self._subscriber_pc)
                return
            log.exception("subscriber negotiation of %s failed", self.id)
            raise

    def tracks(self) -> list[TrackInfo]:
        return self.placement.tracks()

    def _announce_tracks(self) -> None:
        tracks = self.tracks()
        if tracks != self._last_tracks and self._subscriber_pc is not None:
            self._last_tracks = tracks
            self.listener.on_subscriptions(self, tracks)

    async def _on_subscriber_params(self, transceiver: RTCRtpTransceiver, params: Any) -> None:
        track = self.placement.slots.get(transceiver)
        pc = self._subscriber_pc
        if track is None or pc is None or self.closed:
            return
        dtls = rtc_internals.dtls_transport(pc)
        if dtls is None:
            return
        payload_types: dict[str, int] = {}
        for codec in params.codecs:
            mime = codec.mimeType.lower()
            if offers.codec_ok(codec) and mime not in payload_types:
                payload_types[mime] = codec.payloadType
        send_rtp, send_rtcp = rtc_internals.make_sender(dtls)
        track.configure(
            params.muxId,
            payload_types,
            {e.uri: e.id for e in params.headerExtensions},
            send_rtp,
            send_rtcp,
        )
        self.placement.slot_ready(track)

    def _on_subscriber_rtp(self, data: bytes) -> None:
        """Subscribers send no media to the SFU; anything arriving here is dropped."""

    def _on_subscriber_rtcp(self, data: bytes) -> None:
        try:
            packets = rtcp.parse(data)
        except ValueError:
            return
        self.room.counters.nacks_answered += self.placement.on_feedback(packets)

    # -- connections ----------------------------------------------------------------------------

    async def add_ice_candidate(
        self,
        target: Literal["publisher", "subscriber"],
        candidate: str,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        if target not in ("publisher", "subscriber"):
            raise SfuError("target must be 'publisher' or 'subscriber'")
        pc = self._publisher_pc if target == "publisher" else self._subscriber_pc
        if pc is None:
            raise SfuError(f"there is no {target} connection yet")
        if not candidate:
            return  # end-of-candidates: aiortc needs no signal for it
        text = candidate[len("candidate:") :] if candidate.startswith("candidate:") else candidate
        try:
            parsed = candidate_from_sdp(text)
        except (ValueError, IndexError) as exc:
            raise SfuError(f"malformed ICE candidate: {exc}") from exc
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        try:
            await pc.addIceCandidate(parsed)
        except ValueError as exc:  # neither sdpMid nor sdpMLineIndex, or an unknown one
            raise SfuError(f"the ICE candidate cannot be used: {exc}") from exc

    def _new_pc(self, role: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=list(self._config.ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE
            )
        )
        rtc_internals.guard(pc, f"peer {self.id} ({role})", self._config.ice_queue_packets)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if (
                pc.connectionState == "connected"
                and role == "publisher"
                and not self.consent_checks
            ):
                rtc_internals.disable_consent_checks(pc)
            if self.closed or pc not in (self._publisher_pc, self._subscriber_pc):
                return
            if pc.connectionState == "failed":
                self.listener.on_closed(self, f"{role} connection failed")
            elif pc.connectionState == "closed":
                # Not closed by the SFU: its transport died underneath (aiortc closes a connection
                # whose DTLS transport closed), and it will never carry media again.
                self.listener.on_closed(self, f"{role} connection closed")

        return pc

    def _hook(self, pc: RTCPeerConnection, on_rtp: Any, on_rtcp: Any) -> None:
        dtls = rtc_internals.dtls_transport(pc)
        if dtls is None:
            return
        rtc_internals.hook_media(dtls, on_rtp, on_rtcp)
        if pc is self._publisher_pc and self.publishing.send_rtcp is None:
            self.publishing.send_rtcp = rtc_internals.make_sender(dtls)[1]

    def _schedule(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def media_timed_out(self, now: float) -> bool:
        """Without consent checks (WHIP) a publisher that stopped sending is gone."""
        if self.consent_checks:
            return False
        last = self.publishing.last_packet_at()
        return now - (last or self._created_at) > self._config.media_timeout

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.placement.close()
        for task in list(self._tasks):
            task.cancel()
        for pc in (self._publisher_pc, self._subscriber_pc):
            if pc is not None:
                await _close_pc(pc)

    def connections(self) -> list[RTCPeerConnection]:
        return [pc for pc in (self._publisher_pc, self._subscriber_pc) if pc is not None]


async def _close_pc(pc: RTCPeerConnection) -> None:
    await pc.close()
    await rtc_internals.release_sockets(pc)
