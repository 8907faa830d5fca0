"""A tap: one publication delivered to a sidecar (recorder, livestream) in the same process.

The sidecar reads the stream as the SFU received it — decrypted RTP with the publisher's own SSRC,
sequence numbers and timestamps, the publisher's sender reports in between, and mute changes —
which is exactly what it would get in another process as plain RTP/RTCP over UDP described by an
SDP (mediasoup's PlainTransport). Keeping the in-process form that close to the wire form lets a
sidecar move out of the server's process without changing how it reads.

The forwarding loop must never wait for a sidecar: items go into a bounded queue, and a sidecar
that falls behind loses packets (counted in `dropped`, and visible to it as sequence gaps).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from sfu.rtp import Incoming

if TYPE_CHECKING:
    from sfu.api import PublicationInfo
    from sfu.publication import Publication

log = logging.getLogger(__name__)

# About 20 s of a 1 Mbit/s video track: a sidecar stalled by a slow disk catches up, it does not
# make the SFU buffer without bound.
DEFAULT_QUEUE_PACKETS = 4096


@dataclass(frozen=True)
class TapInfo:
    """What a sidecar needs to know to read a tap (what an SDP would say for the UDP form)."""

    publication_id: str
    peer_id: str
    kind: str  # "audio" | "video"
    codec: str  # as negotiated, e.g. "video/VP8", "audio/opus"
    clock_rate: int
    payload_type: int | None


class SenderReport(NamedTuple):
    """The publisher's NTP ↔ RTP timestamp mapping (RFC 3550 §6.4.1)."""

    ntp: int  # 64-bit NTP timestamp
    rtp_timestamp: int


class MuteChange(NamedTuple):
    """The publication was muted or unmuted by a moderator: no packets flow while muted."""

    muted: bool


TapItem = Incoming | SenderReport | MuteChange


class TapEntry(NamedTuple):
    arrival: float  # time.monotonic() when the SFU received it
    item: TapItem


class TapSink(Protocol):
    """What a publication delivers to: an in-process `Tap`, or a `plain.PlainTap` over UDP."""

    def put(self, arrival: float, item: TapItem) -> None: ...

    def end(self) -> None: ...


class MediaSource(Protocol):
    """What a sidecar reads a publication by: an in-process `Tap` or a `plain.UdpTapSource`."""

    info: TapInfo

    async def get(self) -> TapEntry | None: ...

    def request_keyframe(self) -> None: ...

    def close(self) -> None: ...


# How a sidecar opens a publication of a hearing, wherever the sidecar and the hearing's worker
# run: `(hearing id, publication) -> source`. Raises SfuError when it cannot be read now (the
# publication ended, or its worker restarted); the caller is told again if it comes back.
OpenTap = Callable[[str, "PublicationInfo"], Awaitable[MediaSource]]


class Tap:
    def __init__(self, publication: Publication, max_items: int = DEFAULT_QUEUE_PACKETS) -> None:
        self.publication = publication
        self.info = TapInfo(
            publication_id=publication.id,
            peer_id=publication.peer_id,
            kind=publication.kind,
            codec=publication.codec,
            clock_rate=publication.clock_rate,
            payload_type=publication.payload_type,
        )
        self.dropped = 0
        self.closed = False
        self._queue: asyncio.Queue[TapEntry | None] = asyncio.Queue(max_items)

    # -- SFU side: called from the publication's loop, never blocks ----------------------------

    def put(self, arrival: float, item: TapItem) -> None:
        try:
            self._queue.put_nowait(TapEntry(arrival, item))
        except asyncio.QueueFull:
            if self.dropped % 1000 == 0:
                log.warning("tap %s: sidecar behind, dropping packets", self.info.publication_id)
            self.dropped += 1

    def end(self) -> None:
        """The publication is gone: the reader gets `None` once it has read everything before."""
        if self.closed:
            return
        self.closed = True
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()  # the end must arrive; lose the oldest packet instead
                self.dropped += 1

    # -- sidecar side ---------------------------------------------------------------------------

    async def get(self) -> TapEntry | None:
        """The next item, or None when the publication has ended (or the tap was closed)."""
        return await self._queue.get()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (rate-limited with the subscribers' requests)."""
        if not self.closed:
            self.publication.request_keyframe()

    def close(self) -> None:
        """The sidecar stops reading: detach from the publication."""
        self.publication.remove_tap(self)
        self.end()
