"""A peer: one participant's WebRTC connections to the SFU.

Up to two RTCPeerConnections, as LiveKit does: the *publisher* connection carries what the peer
sends (the peer offers, the SFU answers; WHIP uses it too) and the *subscriber* connection carries
what the peer receives (the SFU offers and renegotiates as publications come and go; or, for WHEP,
the peer offers recvonly m-lines and the SFU answers).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import candidate_from_sdp

from sfu import rtc_internals, rtcp, rtp
from sfu.errors import SfuError
from sfu.publication import Publication
from sfu.subscription import OFF, OutTrack, Subscription

if TYPE_CHECKING:
    from sfu.room import Room

log = logging.getLogger(__name__)

SUPPORTED_CODECS = ("audio/opus", "video/vp8", "video/h264")
SENDING = ("sendonly", "sendrecv")
RECEIVING = ("recvonly", "sendrecv")
MAX_SDP_BYTES = 64 * 1024


@dataclass
class TrackInfo:
    """Which publication a mid of the subscriber connection carries."""

    mid: str
    publication_id: str
    peer_id: str
    kind: str
    muted: bool
    source: str


class PeerListener(Protocol):
    def on_subscriber_offer(self, peer: Peer, sdp: str) -> None: ...
    def on_subscriptions(self, peer: Peer, tracks: list[TrackInfo]) -> None: ...
    def on_closed(self, peer: Peer, reason: str) -> None: ...


def _session(sdp: str, kind: str) -> RTCSessionDescription:
    if not isinstance(sdp, str) or not sdp.strip():
        raise SfuError(f"the SDP {kind} is empty")
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise SfuError(f"the SDP {kind} is larger than {MAX_SDP_BYTES} bytes")
    if not sdp.lstrip().startswith("v=0"):
        raise SfuError(f"the SDP {kind} does not start with v=0")
    return RTCSessionDescription(sdp=sdp, type=kind)


def _media_sections(sdp: str, kind: str) -> list[Any]:
    """The audio/video m-lines of an SDP, parsed before anything is applied to a connection."""
    try:
        description = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as exc:  # the parser raises ValueError, KeyError, IndexError...
        raise SfuError(f"the SDP {kind} cannot be parsed: {exc}") from exc
    return [m for m in description.media if m.kind in ("audio", "video")]


def _check_publish_offer(sdp: str, limits: dict[str, int]) -> None:
    sending = [m for m in _media_sections(sdp, "offer") if (m.direction or "sendrecv") in SENDING]
    if not sending:
        raise SfuError("the offer sends no audio or video")
    for kind, limit in limits.items():
        if sum(1 for m in sending if m.kind == kind) > limit:
            raise SfuError(f"at most {limit} {kind} tracks may be published at once")
    for media in sending:
        if not any(_codec_ok(c) for c in media.rtp.codecs):
            raise SfuError(
                f"no supported {media.kind} codec offered (supported: Opus, VP8, "
                "H.264 packetization-mode=1)"
            )


def _codec_ok(codec: Any) -> bool:
    mime = codec.mimeType.lower()
    if mime == "video/h264":
        return str(codec.parameters.get("packetization-mode", "0")) == "1"
    return mime in SUPPORTED_CODECS


class Peer:
    def __init__(
        self, room: Room, peer_id: str, publish: bool, subscribe: bool, listener: PeerListener
    ) -> None:
        self.room = room
        self.id = peer_id
        self.can_publish = publish
        self.can_subscribe = subscribe
        self.listener = listener
        self.publications: dict[str, Publication] = {}  # by the publisher connection's mid
        self.closed = False
        self.consent_checks = True
        self.whep_source: str | None = None
        # The publisher's labels by mid ("screen", ...), from its latest offer.
        self._sources: dict[str, str] = {}
        self._config = room.config
        self._publisher_pc: RTCPeerConnection | None = None
        self._subscriber_pc: RTCPeerConnection | None = None
        self._by_ssrc: dict[int, Publication] = {}
        self._out_tracks: dict[RTCRtpTransceiver, OutTrack] = {}
        self._pending: dict[OutTrack, Publication] = {}  # bound, waiting for negotiation
        # Publications whose codec this subscriber did not accept: never offered again.
        self._unplayable: set[str] = set()
        # Publications this subscriber switched off for itself (weak link): bound, not forwarded.
        self._off: set[str] = set()
        self._negotiating = False
        self._renegotiate = False
        self._publisher_lock = asyncio.Lock()
        self._publisher_send_rtcp: Any = None
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
        offer = _session(sdp, "offer")
        _check_publish_offer(sdp, self._config.max_tracks)
        async with self._publisher_lock:
            self._check_open()
            self.consent_checks = consent_checks
            self._sources = dict(sources or {})
            fresh = self._publisher_pc is None
            pc = self._publisher_pc = self._publisher_pc or self._new_pc("publisher")
            try:
                await self._negotiation_step(pc.setRemoteDescription(offer), "offer")
                for transceiver in pc.getTransceivers():
                    publication = self.publications.get(transceiver.mid)
                    if publication is not None and not rtc_internals.peer_sends(transceiver):
                        self._unpublish(publication)
                    if publication is not None:
                        continue
                    rtc_internals.take_over_transceiver(transceiver, self._on_publisher_params)
                    if rtc_internals.peer_sends(transceiver):
                        self._accept_one_codec(transceiver)
                    transceiver.direction = "recvonly"
                answer = await self._negotiation_step(pc.createAnswer(), "offer")
                await self._negotiation_step(pc.setLocalDescription(answer), "offer")
            except SfuError:
                if fresh:  # nothing was ever connected: start over cleanly on the next offer
                    self._publisher_pc = None
                    await _close_pc(pc)
                raise
            self._hook(pc, self._on_publisher_rtp, self._on_publisher_rtcp)
            return pc.localDescription.sdp

    def _check_open(self) -> None:
        if self.closed:
            raise SfuError("the connection was closed")

    async def _negotiation_step(self, step: Any, kind: str) -> Any:
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
            (c for c in rtc_internals.negotiated_codecs(transceiver) if _codec_ok(c)), None
        )
        if chosen is None:
            raise SfuError(
                f"no supported {transceiver.kind} codec offered (supported: Opus, VP8, "
                "H.264 packetization-mode=1)"
            )
        rtc_internals.keep_codecs(transceiver, lambda c: c is chosen)

    async def _on_publisher_params(self, transceiver: RTCRtpTransceiver, params: Any) -> None:
        mid = params.muxId
        if mid in self.publications or self.closed or not params.codecs:
            return
        codec = params.codecs[0]
        publication = Publication(
            publication_id=f"TR_{secrets.token_hex(6)}",
            peer_id=self.id,
            kind=transceiver.kind,
            codec=codec.mimeType,
            clock_rate=codec.clockRate,
            extension_ids={e.uri: e.id for e in params.headerExtensions},
            mid=mid,
            config=self._config,
            counters=self.room.counters,
            send_upstream=self._send_upstream,
            rtcp_ssrc=rtc_internals.sender_ssrc(transceiver),
        )
        publication.payload_type = codec.payloadType
        publication.source = self._sources.get(mid, publication.source)
        if params.encodings:
            publication.ssrc = params.encodings[0].ssrc
            self._by_ssrc[publication.ssrc] = publication
        self.publications[mid] = publication
        self.room._add_publication(publication)
        if not self.consent_checks and self._publisher_pc is not None:
            rtc_internals.disable_consent_checks(self._publisher_pc)

    def _unpublish(self, publication: Publication) -> None:
        del self.publications[publication.mid]
        if publication.ssrc is not None:
            self._by_ssrc.pop(publication.ssrc, None)
        self.room._remove_publication(publication)

    def _send_upstream(self, data: bytes) -> bool:
        return self._publisher_send_rtcp(data) if self._publisher_send_rtcp else False

    def _on_publisher_rtp(self, data: bytes) -> None:
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

    def _on_publisher_rtcp(self, data: bytes) -> None:
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
        if self._publisher_send_rtcp is None or not self.publications:
            return
        publications = list(self.publications.values())
        reports = [b for p in publications if (b := p.report_block()) is not None]
        if not reports:
            return
        sender_ssrc = publications[0]._rtcp_ssrc
        data = rtcp.receiver_report(sender_ssrc, reports)
        video = [p.ssrc for p in publications if p.kind == "video" and p.ssrc is not None]
        if video:
            data += rtcp.remb(sender_ssrc, self._config.max_video_bitrate, video)
        self._publisher_send_rtcp(data)

    # -- subscribing ----------------------------------------------------------------------------

    async def subscriber_answer(self, sdp: str) -> None:
        """Apply the peer's answer to the SFU's last subscriber offer."""
        answer = _session(sdp, "answer")
        pc = self._subscriber_pc
        if pc is None or not self._negotiating or self.whep_source is not None:
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

    async def whep_offer(self, sdp: str, source_peer_id: str) -> str:
        """WHEP: the peer offers recvonly audio/video; answer with the source's publications."""
        if not self.can_subscribe:
            raise SfuError("this participant may not subscribe")
        offer = _session(sdp, "offer")
        self._check_whep_offer(sdp, source_peer_id)
        self._check_open()
        if self._subscriber_pc is not None:
            raise SfuError("this WHEP session already has an offer")
        self.whep_source = source_peer_id
        pc = self._subscriber_pc = self._new_pc("subscriber")
        await self._negotiation_step(pc.setRemoteDescription(offer), "offer")
        cname = rtc_internals.cname(pc)
        for transceiver in pc.getTransceivers():
            transceiver.direction = "sendonly"
            rtc_internals.take_over_transceiver(transceiver, self._on_subscriber_params)
            rtc_internals.set_stream_id(transceiver, source_peer_id)
            self._out_tracks[transceiver] = OutTrack(
                transceiver.kind, rtc_internals.sender_ssrc(transceiver), cname
            )
        answer = await self._negotiation_step(pc.createAnswer(), "offer")
        await self._negotiation_step(pc.setLocalDescription(answer), "offer")
        self._hook(pc, self._on_subscriber_rtp, self._on_subscriber_rtcp)
        self.sync_subscriptions()
        return pc.localDescription.sdp

    def _check_whep_offer(self, sdp: str, source_peer_id: str) -> None:
        receiving = [
            m for m in _media_sections(sdp, "offer") if (m.direction or "sendrecv") in RECEIVING
        ]
        if not receiving:
            raise SfuError("the offer receives no audio or video")
        for publication in self.room.publications.values():
            if publication.peer_id != source_peer_id:
                continue
            media = [m for m in receiving if m.kind == publication.kind]
            if media and not any(
                c.mimeType.lower() == publication.codec_key and _codec_ok(c)
                for m in media
                for c in m.rtp.codecs
            ):
                raise SfuError(
                    f"the source publishes {publication.codec}, which the offer does not accept"
                )

    def _wanted(self) -> list[Publication]:
        if not self.can_subscribe:
            return []
        return [
            p
            for p in self.room.publications.values()
            if p.peer_id != self.id
            and p.id not in self._unplayable
            and (self.whep_source is None or p.peer_id == self.whep_source)
        ]

    def _bound(self, track: OutTrack) -> Publication | None:
        if track.subscription is not None:
            return track.subscription.publication
        return self._pending.get(track)

    def sync_subscriptions(self) -> None:
        """Bring subscriptions in line with the room's publications (called on every change)."""
        if self.closed:
            return
        wanted = self._wanted()
        wanted_ids = {p.id for p in wanted}
        for track in self._out_tracks.values():
            bound = self._bound(track)
            if bound is not None and bound.id not in wanted_ids:
                self._unbind(track)
        bound_ids = {b.id for t in self._out_tracks.values() if (b := self._bound(t))}
        unplaced = []
        for publication in wanted:
            if publication.id in bound_ids:
                continue
            free = next(
                (
                    t
                    for t in self._out_tracks.values()
                    if t.kind == publication.kind and self._bound(t) is None
                ),
                None,
            )
            if free is None:
                unplaced.append(publication)
            else:
                self._bind(free, publication)
        if unplaced and self.whep_source is None:
            self._schedule(self._negotiate())
        else:
            self._announce_tracks()

    def _bind(self, track: OutTrack, publication: Publication) -> None:
        if track.ready:
            self._subscribe(track, publication)
        else:
            self._pending[track] = publication

    def _subscribe(self, track: OutTrack, publication: Publication) -> None:
        if publication.codec_key not in track.payload_types:
            # Forwarding needs the subscriber to decode the publisher's codec (no transcoding).
            log.warning(
                "peer %s does not accept %s of %s: not subscribed",
                self.id,
                publication.codec,
                publication.peer_id,
            )
            self._unplayable.add(publication.id)
            return
        subscription = Subscription(publication, track)
        if publication.id in self._off:
            subscription.pause(OFF)
        publication.add_subscription(subscription)

    def set_off(self, publication_id: str, off: bool) -> bool:
        """Switch one publication off (or on again) for this subscriber only. The slot stays
        bound, so switching on needs no renegotiation; video resumes at the next keyframe (one
        PLI to the publisher). Returns False when no such publication is offered to this peer."""
        if publication_id not in self.room.publications or not self.can_subscribe:
            return False
        if off:
            self._off.add(publication_id)
        else:
            self._off.discard(publication_id)
        for track in self._out_tracks.values():
            subscription = track.subscription
            if subscription is not None and subscription.publication.id == publication_id:
                if off:
                    subscription.pause(OFF)
                else:
                    subscription.resume(OFF)
        return True

    def _unbind(self, track: OutTrack) -> None:
        self._pending.pop(track, None)
        if track.subscription is not None:
            track.subscription.close()

    async def _negotiate(self) -> None:
        if self._negotiating:
            self._renegotiate = True
            return
        self._negotiating = True
        try:
            pc = self._subscriber_pc or self._new_pc("subscriber")
            self._subscriber_pc = pc
            cname = rtc_internals.cname(pc)
            bound_ids = {b.id for t in self._out_tracks.values() if (b := self._bound(t))}
            for publication in self._wanted():
                if publication.id in bound_ids:
                    continue
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
                self._out_tracks[transceiver] = track
                self._pending[track] = publication
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
        tracks = []
        for transceiver, track in self._out_tracks.items():
            publication = self._bound(track)
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

    def _announce_tracks(self) -> None:
        tracks = self.tracks()
        if tracks != self._last_tracks and self._subscriber_pc is not None:
            self._last_tracks = tracks
            self.listener.on_subscriptions(self, tracks)

    async def _on_subscriber_params(self, transceiver: RTCRtpTransceiver, params: Any) -> None:
        track = self._out_tracks.get(transceiver)
        pc = self._subscriber_pc
        if track is None or pc is None or self.closed:
            return
        payload_types: dict[str, int] = {}
        for codec in params.codecs:
            mime = codec.mimeType.lower()
            if _codec_ok(codec) and mime not in payload_types:
                payload_types[mime] = codec.payloadType
        send_rtp, send_rtcp = rtc_internals.make_sender(rtc_internals.dtls_transport(pc))
        track.configure(
            params.muxId,
            payload_types,
            {e.uri: e.id for e in params.headerExtensions},
            send_rtp,
            send_rtcp,
        )
        publication = self._pending.pop(track, None)
        if publication is not None and publication.id in self.room.publications:
            self._subscribe(track, publication)

    def _on_subscriber_rtp(self, data: bytes) -> None:
        """Subscribers send no media to the SFU; anything arriving here is dropped."""

    def _on_subscriber_rtcp(self, data: bytes) -> None:
        try:
            packets = rtcp.parse(data)
        except ValueError:
            return
        by_ssrc = {t.ssrc: t for t in self._out_tracks.values()}
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
                    self.room.counters.nacks_answered += track.subscription.retransmit(packet.lost)

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
        if pc is self._publisher_pc and self._publisher_send_rtcp is None:
            self._publisher_send_rtcp = rtc_internals.make_sender(dtls)[1]

    def _schedule(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def media_timed_out(self, now: float) -> bool:
        """Without consent checks (WHIP) a publisher that stopped sending is gone."""
        if self.consent_checks:
            return False
        last = max((p.last_packet_at for p in self.publications.values()), default=0.0)
        return now - (last or self._created_at) > self._config.media_timeout

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for track in list(self._out_tracks.values()):
            self._unbind(track)
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
