"""Plain taps: one publication sent to a sidecar in another process as plain RTP/RTCP over
loopback UDP, described by an SDP (mediasoup's PlainTransport; no ICE, no DTLS, no SRTP).

Worker side: `PlainTap` is what a `Publication` calls like an in-process `Tap` (`put`, `end`):
the publisher's packets go out as they came (its SSRC, sequence numbers and timestamps; the
bytes unchanged), its sender reports as RTCP SR with the same NTP and RTP times, mute changes as
RTCP APP "CCMT", the end as RTCP BYE, and every second an APP "CCKA" keepalive, so a muted track
is not taken for a dead one. All taps of a worker send from one non-blocking `TapSocket`, which
never waits: a failed `sendto` is a counted drop. A PLI or FIR coming back from a tap's sidecar
asks the publisher for a keyframe.

Sidecar side: `UdpTapSource` reads such a tap and is read exactly like the in-process `Tap`
(sfu.tap.MediaSource: `info`, `await get()`, `request_keyframe()`, `close()`), so a
sidecar moves out of the worker's process without changing how it reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from sfu import rtcp, rtp
from sfu.errors import SfuError
from sfu.rtp import Incoming
from sfu.tap import DEFAULT_QUEUE_PACKETS, MuteChange, SenderReport, TapEntry, TapInfo, TapItem

if TYPE_CHECKING:
    from sfu.publication import Publication

log = logging.getLogger(__name__)

Address = tuple[str, int]

MUTE = b"CCMT"  # APP subtype 1: muted, 0: unmuted
KEEPALIVE = b"CCKA"
KEEPALIVE_INTERVAL = 1.0
SILENCE_TIMEOUT = 5.0  # no keepalive, packet or report this long: the worker is gone
READ_BATCH = 64  # datagrams read per wake-up, so one busy socket cannot starve the loop
RECEIVE_BUFFER = 4 << 20  # best effort: the kernel caps it at net.core.rmem_max
LOCALHOST = "127.0.0.1"


# -- SDP ---------------------------------------------------------------------------------------


def tap_sdp(info: TapInfo, ssrc: int, dest_port: int, source: Address, source_label: str) -> str:
    """The SDP a sidecar reads a tap by. `source` is the worker's sending address, which the
    sidecar connects to (so the kernel drops anyone else's datagrams)."""
    if info.payload_type is None:
        raise SfuError(f"publication {info.publication_id} has no payload type yet")
    encoding = info.codec.split("/", 1)[1] if "/" in info.codec else info.codec
    channels = "/2" if info.codec.lower() == "audio/opus" else ""
    pt = info.payload_type
    return "\r\n".join(
        [
            "v=0",
            f"o=- 0 0 IN IP4 {LOCALHOST}",
            "s=cloudcourt tap",
            f"c=IN IP4 {LOCALHOST}",
            "t=0 0",
            f"m={info.kind} {dest_port} RTP/AVP {pt}",
            f"a=rtpmap:{pt} {encoding}/{info.clock_rate}{channels}",
            "a=rtcp-mux",
            "a=sendonly",
            f"a=ssrc:{ssrc} cname:{info.peer_id}",
            f"a=x-cloudcourt-publication:{info.publication_id} {info.peer_id} {source_label}",
            f"a=x-cloudcourt-source:{source[0]} {source[1]}",
            "",
        ]
    )


class TapDescription:
    """What `parse_tap_sdp` reads from a tap's SDP."""

    def __init__(self, info: TapInfo, ssrc: int, source: Address, label: str) -> None:
        self.info = info
        self.ssrc = ssrc
        self.source = source
        self.label = label  # "camera", "microphone", "screen"


def parse_tap_sdp(sdp: str) -> TapDescription:
    """Raises ValueError on an SDP that `tap_sdp` did not write."""
    try:
        return _parse_tap_sdp(sdp)
    except (IndexError, ValueError) as exc:
        raise ValueError(f"not a cloudcourt tap SDP: {exc}") from exc


def _parse_tap_sdp(sdp: str) -> TapDescription:
    kind = codec = peer_id = publication_id = label = None
    payload_type = clock_rate = ssrc = None
    source: Address | None = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            parts = line[2:].split()
            kind, payload_type = parts[0], int(parts[3])
        elif line.startswith("a=rtpmap:"):
            _, spec = line[len("a=rtpmap:") :].split(" ", 1)
            name, rate = spec.split("/")[:2]
            codec, clock_rate = name, int(rate)
        elif line.startswith("a=ssrc:"):
            ssrc = int(line[len("a=ssrc:") :].split()[0])
        elif line.startswith("a=x-cloudcourt-publication:"):
            publication_id, peer_id, label = line.split(":", 1)[1].split()
        elif line.startswith("a=x-cloudcourt-source:"):
            host, port = line.split(":", 1)[1].split()
            source = (host, int(port))
    if None in (kind, codec, payload_type, clock_rate, ssrc, publication_id, source):
        raise ValueError("a line is missing")
    if kind not in ("audio", "video"):
        raise ValueError(f"media {kind!r}")
    assert kind and codec and publication_id and peer_id and label and source
    assert payload_type is not None and clock_rate is not None and ssrc is not None
    # The tap's codec spelled as the SFU negotiated it ("video/VP8", "audio/opus").
    info = TapInfo(publication_id, peer_id, kind, f"{kind}/{codec}", clock_rate, payload_type)
    return TapDescription(info, ssrc, source, label)


# -- worker side -------------------------------------------------------------------------------


class TapSocket:
    """The one UDP socket (127.0.0.1, a port of the kernel's choosing) a worker sends all its taps
    from. It never blocks: a datagram the kernel will not take now is dropped and counted. It
    also receives the sidecars' RTCP: a datagram from an address no tap sends to is dropped."""

    _shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TapSocket] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._sock.bind((LOCALHOST, 0))
        self.address: Address = self._sock.getsockname()
        self.taps: dict[Address, PlainTap] = {}
        self.foreign = 0  # datagrams from addresses that are no tap's sidecar
        self.closed = False
        self._loop.add_reader(self._sock.fileno(), self._readable)

    @classmethod
    def shared(cls) -> TapSocket:
        """The worker's socket (one per event loop, so per worker process), opened on first use
        and closed when its last tap closes."""
        loop = asyncio.get_running_loop()
        sock = cls._shared.get(loop)
        if sock is None or sock.closed:
            sock = cls._shared[loop] = cls()
        return sock

    def send(self, data: bytes, dest: Address) -> bool:
        try:
            self._sock.sendto(data, dest)
        except OSError:  # BlockingIOError (buffer full), ENOBUFS, ...: never wait, never retry
            return False
        return True

    def register(self, tap: PlainTap) -> None:
        if tap.dest in self.taps:
            raise SfuError(f"a tap already sends to {tap.dest[0]}:{tap.dest[1]}")
        self.taps[tap.dest] = tap

    def unregister(self, tap: PlainTap) -> None:
        if self.taps.get(tap.dest) is tap:
            del self.taps[tap.dest]
        if not self.taps:
            self.close()

    def _readable(self) -> None:
        for _ in range(READ_BATCH):
            try:
                data, sender = self._sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ECONNREFUSED reported for an earlier send: keep reading
                continue
            tap = self.taps.get(sender)
            if tap is None:
                self.foreign += 1
            else:
                tap.on_rtcp(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


class PlainTap:
    """A publication sent to one sidecar address. Called by the publication like a `Tap`."""

    def __init__(
        self,
        publication: Publication,
        dest: Address,
        sock: TapSocket,
        on_ended: Callable[[PlainTap, str], None] | None = None,
        *,
        detach: Callable[[PlainTap], None] | None = None,
    ) -> None:
        if publication.ssrc is None or publication.payload_type is None:
            raise SfuError(f"publication {publication.id} has not started yet")
        self.id = f"TAP_{secrets.token_hex(6)}"
        self.publication = publication
        self.dest = dest
        self.info = TapInfo(
            publication_id=publication.id,
            peer_id=publication.peer_id,
            kind=publication.kind,
            codec=publication.codec,
            clock_rate=publication.clock_rate,
            payload_type=publication.payload_type,
        )
        self.ssrc = publication.ssrc
        self.sdp = tap_sdp(self.info, self.ssrc, dest[1], sock.address, publication.source)
        self.dropped = 0  # datagrams the kernel would not take
        self.packets = 0
        self.octets = 0
        self.reports = 0  # sender reports passed on
        self.keyframe_requests = 0
        self.closed = False
        # Told once when the tap ends ("publication ended" or "closed"): the worker says
        # `tap.ended` to the control plane.
        self.on_ended = on_ended
        self._detach = detach  # the room forgets it
        self._sock = sock
        self._cname = publication.peer_id
        sock.register(self)

    # -- called by the publication; the first branch is the per-packet path ---------------------

    def put(self, arrival: float, item: TapItem) -> None:
        if type(item) is Incoming:
            if self._sock.send(item.data, self.dest):
                self.packets += 1
                self.octets += len(item.data) - item.payload_offset
            else:
                self.dropped += 1
        elif type(item) is SenderReport:
            self.reports += 1
            self._send(
                rtcp.sender_report(
                    self.ssrc, item.ntp, item.rtp_timestamp, self.packets, self.octets, self._cname
                )
            )
        elif type(item) is MuteChange:
            self._send(rtcp.app(self.ssrc, MUTE, 1 if item.muted else 0))

    def end(self) -> None:
        """The publication ended: BYE, and the tap is gone."""
        self._finish("publication ended")

    # -- the rest ------------------------------------------------------------------------------

    def keepalive(self) -> None:
        if not self.closed:
            self._send(rtcp.app(self.ssrc, KEEPALIVE))

    def on_rtcp(self, data: bytes) -> None:
        """The sidecar's RTCP: a keyframe request goes to the publisher (rate-limited with the
        subscribers' requests); the rest (receiver reports) is of no use to the SFU."""
        try:
            packets = rtcp.parse(data)
        except ValueError:
            return
        if any(rtcp.is_keyframe_request(p) for p in packets):
            self.keyframe_requests += 1
            self.publication.request_keyframe()

    def close(self) -> None:
        """The sidecar is done with it (or died): detach from the publication."""
        self.publication.remove_tap(self)
        self._finish("closed")

    def _send(self, data: bytes) -> None:
        if not self._sock.send(data, self.dest):
            self.dropped += 1

    def _finish(self, reason: str) -> None:
        if self.closed:
            return
        self._send(rtcp.bye(self.ssrc))
        self.closed = True
        self._sock.unregister(self)
        if self._detach is not None:
            self._detach(self)
        if self.on_ended is not None:
            try:
                self.on_ended(self, reason)
            except Exception:
                log.exception("tap %s: end listener failed", self.id)


# -- sidecar side ------------------------------------------------------------------------------


class UdpTapSource:
    """Reads one plain tap. `bind()`, give the worker its `port`, then `describe()` the SDP it
    answers with. `get()` returns what `Tap.get()` would (arrival is this process's
    time.monotonic(), the same clock system-wide), and None once the tap ended: a BYE, or
    `SILENCE_TIMEOUT` without even a keepalive."""

    info: TapInfo  # set by describe()

    def __init__(
        self, sock: socket.socket, max_items: int, silence_timeout: float = SILENCE_TIMEOUT
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self.port: int = sock.getsockname()[1]
        self.description: TapDescription | None = None
        self.lost = 0  # sequence gaps: datagrams lost before they reached us (kernel buffer)
        self.dropped = 0  # items this reader did not take in time (queue full)
        self.foreign = 0  # datagrams of another SSRC
        self.ended = False
        self._queue: asyncio.Queue[TapEntry | None] = asyncio.Queue(max_items)
        self._last_seq: int | None = None
        self._last_heard = time.monotonic()
        self._watchdog: asyncio.TimerHandle | None = None
        self._silence_timeout = silence_timeout

    @classmethod
    async def bind(
        cls,
        max_items: int = DEFAULT_QUEUE_PACKETS,
        receive_buffer: int = RECEIVE_BUFFER,
        silence_timeout: float = SILENCE_TIMEOUT,
    ) -> UdpTapSource:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.bind((LOCALHOST, 0))
        return cls(sock, max_items, silence_timeout)

    def describe(self, sdp: str) -> TapInfo:
        """Read the worker's SDP and start receiving from its source address only."""
        if self.description is not None:
            raise RuntimeError("this source already reads a tap")
        description = parse_tap_sdp(sdp)
        self.description = description
        self.info = description.info
        self._sock.connect(description.source)
        self._last_heard = time.monotonic()
        self._loop.add_reader(self._sock.fileno(), self._readable)
        self._watchdog = self._loop.call_later(self._check_every, self._check_silence)
        return description.info

    # -- reading -------------------------------------------------------------------------------

    def _readable(self) -> None:
        for _ in range(READ_BATCH):
            try:
                data = self._sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ECONNREFUSED from a PLI sent after the worker went: keep reading
                continue
            self._datagram(data)
            if self.ended:
                return

    def _datagram(self, data: bytes) -> None:
        now = time.monotonic()
        self._last_heard = now
        if rtp.is_rtcp(data):
            self._rtcp(data, now)
            return
        try:
            packet = rtp.parse(data)
        except ValueError:
            return
        assert self.description is not None
        if packet.ssrc != self.description.ssrc:
            self.foreign += 1
            return
        if self._last_seq is not None:
            gap = (packet.seq - self._last_seq - 1) & 0xFFFF
            if gap < 0x8000:  # ahead: the packets in between never came
                self.lost += gap
        if self._last_seq is None or ((packet.seq - self._last_seq) & 0xFFFF) < 0x8000:
            self._last_seq = packet.seq
        self._put(TapEntry(now, packet))

    def _rtcp(self, data: bytes, now: float) -> None:
        try:
            packets = rtcp.parse(data)
            apps = rtcp.parse_app(data)
        except ValueError:
            return
        for packet in packets:
            if isinstance(packet, rtcp.RtcpSrPacket):
                info = packet.sender_info
                self._put(TapEntry(now, SenderReport(info.ntp_timestamp, info.rtp_timestamp)))
        for app in apps:
            if app.name == MUTE:
                self._put(TapEntry(now, MuteChange(app.subtype == 1)))
        if any(isinstance(p, rtcp.RtcpByePacket) for p in packets):
            self._end()

    def _put(self, entry: TapEntry) -> None:
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            if self.dropped % 1000 == 0:
                log.warning("tap %s: reader behind, dropping packets", self._name())
            self.dropped += 1

    def _check_silence(self) -> None:
        if self.ended:
            return
        if time.monotonic() - self._last_heard > self._silence_timeout:
            log.warning("tap %s: the worker fell silent", self._name())
            self._end()
            return
        self._watchdog = self._loop.call_later(self._check_every, self._check_silence)

    @property
    def _check_every(self) -> float:
        return min(1.0, self._silence_timeout / 4)

    def _end(self) -> None:
        """The reader gets None after everything before it; the socket is done."""
        if self.ended:
            return
        self.ended = True
        self._stop_reading()
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()  # the end must arrive; lose the oldest item instead
                self.dropped += 1

    def _stop_reading(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._sock.fileno() >= 0:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._sock.fileno())

    def _name(self) -> str:
        return self.description.info.publication_id if self.description else f"port {self.port}"

    # -- the MediaSource interface -------------------------------------------------------------

    async def get(self) -> TapEntry | None:
        return await self._queue.get()

    def request_keyframe(self) -> None:
        """RTCP PLI to the worker, which asks the publisher (rate-limited there)."""
        if self.ended or self.description is None:
            return
        with contextlib.suppress(OSError):
            self._sock.send(rtcp.pli(0, self.description.ssrc))

    def close(self) -> None:
        """Stop reading; a pending or later `get()` returns None. The worker's side is closed
        by whoever opened the tap (`tap.close`)."""
        self._end()
        self._sock.close()
