"""A publication: one track a peer sends, and the loop that forwards each of its packets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sfu import rtcp
from sfu.api import PublicationInfo
from sfu.packet_cache import PacketCache
from sfu.receive_stats import ReceiveStats
from sfu.rtp import URI_AUDIO_LEVEL, URI_MID, Incoming, is_keyframe_start, tail
from sfu.tap import MuteChange, SenderReport

if TYPE_CHECKING:
    from sfu.config import SfuConfig
    from sfu.subscription import Subscription
    from sfu.tap import TapSink

# Gaps larger than this are a restart or a long outage, not losses worth a NACK.
MAX_NACK_GAP = 32


class Counters:
    """Worker-wide counters (exported on /metrics); shared by every publication of a worker."""

    def __init__(self) -> None:
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.nacks_answered = 0
        self.nacks_sent = 0
        self.plis_sent = 0


class Publication:
    def __init__(
        self,
        publication_id: str,
        peer_id: str,
        kind: str,
        codec: str,
        clock_rate: int,
        extension_ids: dict[str, int],
        mid: str | None,
        config: SfuConfig,
        counters: Counters,
        send_upstream: Callable[[bytes], bool],
        rtcp_ssrc: int,
    ) -> None:
        self.id = publication_id
        self.peer_id = peer_id
        self.kind = kind
        self.codec = codec  # as negotiated, e.g. "video/VP8"
        self.codec_key = codec.lower()
        self.clock_rate = clock_rate
        self.extension_ids = extension_ids  # uri -> the publisher's id
        self.mid = mid
        # What the track shows, as the publisher labelled it ("camera", "microphone", "screen"):
        # receivers show a screen share as evidence beside the sharer's camera.
        self.source = "microphone" if kind == "audio" else "camera"
        self.ssrc: int | None = None
        self.payload_type: int | None = None  # the one the publisher was answered with
        self.muted = False
        self.subscriptions: list[Subscription] = []
        self.taps: list[TapSink] = []
        self.stats = ReceiveStats(clock_rate)
        self.cache = PacketCache(
            config.video_cache_packets if kind == "video" else config.audio_cache_packets
        )
        self.last_packet_at = 0.0
        self.audio_level: float = 127  # smoothed -dBov; 127 = silence
        self._audio_level_id = extension_ids.get(URI_AUDIO_LEVEL)
        self._config = config
        self._counters = counters
        self._send_upstream = send_upstream
        self._rtcp_ssrc = rtcp_ssrc
        self._waiting = 0  # subscriptions waiting for a keyframe
        self._last_pli = 0.0
        self._pli_pending = False
        self._missing: dict[int, float] = {}  # seq -> when first NACKed

    def info(self) -> PublicationInfo:
        """This publication as the control plane and the sidecars see it (sfu/api.py)."""
        return PublicationInfo(
            self.id,
            self.peer_id,
            self.kind,
            self.codec,
            self.clock_rate,
            self.payload_type,
            self.muted,
            self.source,
        )

    @property
    def mid_extension_id(self) -> int | None:
        return self.extension_ids.get(URI_MID)

    # -- the hot path ---------------------------------------------------------------------------

    def on_rtp(self, packet: Incoming) -> None:
        now = time.monotonic()
        self.last_packet_at = now
        counters = self._counters
        counters.packets_in += 1
        counters.bytes_in += len(packet.data)
        gap = self.stats.update(packet.seq, packet.timestamp, len(packet.data), now)
        if gap and self.kind == "video":
            self._nack_gap(packet.seq, gap, now)
        elif self._missing:
            self._missing.pop(packet.seq, None)
        self.cache.put(packet)
        if self._audio_level_id is not None:
            self._track_level(packet)
        if self.muted:
            return
        for tap in self.taps:
            tap.put(now, packet)
        if not self.subscriptions:
            return
        keyframe = bool(self._waiting) and is_keyframe_start(
            self.codec_key, packet.data[packet.payload_offset :]
        )
        tails: dict[object, tuple[int, bytes]] = {}
        sent = 0
        sent_bytes = 0
        for subscription in self.subscriptions:
            key = subscription.extension_key
            shared = tails.get(key)
            if shared is None:
                shared = tails[key] = tail(packet, subscription.extension_block(packet))
            size = subscription.forward(packet, keyframe, shared[0], shared[1], now)
            if size:
                sent += 1
                sent_bytes += size
        counters.packets_out += sent
        counters.bytes_out += sent_bytes

    def _track_level(self, packet: Incoming) -> None:
        value = packet.extensions.get(self._audio_level_id)  # type: ignore[arg-type]
        if value:
            level = value[0] & 0x7F
            # Attack fast, decay slowly, as speaker detectors in Jitsi/LiveKit do.
            if level < self.audio_level:
                self.audio_level = level
            else:
                self.audio_level += (level - self.audio_level) / 25

    # -- subscriptions --------------------------------------------------------------------------

    def add_subscription(self, subscription: Subscription) -> None:
        self.subscriptions.append(subscription)
        if subscription.waiting_keyframe:
            self._waiting += 1
            self.request_keyframe()

    def remove_subscription(self, subscription: Subscription) -> None:
        if subscription in self.subscriptions:
            self.subscriptions.remove(subscription)
            if subscription.waiting_keyframe:
                self._waiting -= 1

    def keyframe_arrived(self) -> None:
        self._waiting -= 1

    def subscription_waiting(self) -> None:
        self._waiting += 1
        self.request_keyframe()

    def request_keyframe(self, force: bool = False) -> None:
        """Ask the publisher for a keyframe (PLI), at most once per `pli_interval`."""
        if self.kind != "video" or self.ssrc is None:
            return
        now = time.monotonic()
        if not force and now - self._last_pli < self._config.pli_interval:
            self._pli_pending = True  # sent by tick() once the interval has passed
            return
        self._pli_pending = False
        self._last_pli = now
        if self._send_upstream(rtcp.pli(self._rtcp_ssrc, self.ssrc)):
            self._counters.plis_sent += 1

    def set_muted(self, muted: bool) -> None:
        if self.muted == muted:
            return
        self.muted = muted
        for subscription in self.subscriptions:
            if muted:
                subscription.pause()
            else:
                subscription.resume()
        for tap in self.taps:
            tap.put(time.monotonic(), MuteChange(muted))
        if not muted and self.taps:
            self.request_keyframe()

    # -- taps -----------------------------------------------------------------------------------

    def add_tap(self, tap: TapSink) -> None:
        self.taps.append(tap)
        if self.muted:
            tap.put(time.monotonic(), MuteChange(True))
        self.request_keyframe()  # a sidecar's decoder or file starts at a keyframe

    def remove_tap(self, tap: TapSink) -> None:
        if tap in self.taps:
            self.taps.remove(tap)

    def end_taps(self) -> None:
        for tap in self.taps:
            tap.end()
        self.taps.clear()

    # -- RTCP -----------------------------------------------------------------------------------

    def on_sender_report(self, ntp: int, rtp_timestamp: int) -> None:
        self.stats.on_sender_report(ntp)
        if self.taps:
            report = SenderReport(ntp, rtp_timestamp)
            now = time.monotonic()
            for tap in self.taps:
                tap.put(now, report)
        for subscription in self.subscriptions:
            subscription.send_sender_report(ntp, rtp_timestamp)

    def _nack_gap(self, seq: int, gap: int, now: float) -> None:
        if gap > MAX_NACK_GAP or self.ssrc is None:
            return
        lost = [(seq - i) & 0xFFFF for i in range(gap, 0, -1)]
        for missing in lost:
            self._missing[missing] = now
        if self._send_upstream(rtcp.nack(self._rtcp_ssrc, self.ssrc, lost)):
            self._counters.nacks_sent += 1

    def tick(self, now: float) -> None:
        """Periodic upkeep: keyframe retries and one NACK retry for still-missing packets."""
        since_pli = now - self._last_pli
        if self._waiting and since_pli >= self._config.pli_retry:
            self.request_keyframe(force=True)
        elif self._pli_pending and since_pli >= self._config.pli_interval:
            self.request_keyframe()
        if self._missing:
            retry = [s for s, t in self._missing.items() if now - t > 0.05]
            self._missing = {s: t for s, t in self._missing.items() if now - t <= 0.05}
            retry = [s for s in retry if self.cache.get(s) is None]
            if retry and self.ssrc is not None:
                self._send_upstream(rtcp.nack(self._rtcp_ssrc, self.ssrc, retry))
                self._counters.nacks_sent += 1

    def report_block(self) -> rtcp.RtcpReceiverInfo | None:
        return self.stats.report(self.ssrc) if self.ssrc is not None else None
