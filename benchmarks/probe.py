"""Receive → send latency, measured inside the benchmark's own SFU worker processes.

Installed only in processes that `benchmarks.sfu_server` starts (never in `cloudcourt serve`), it
wraps two functions on the receive side without changing what they do, and nothing per sent copy
(a wrapper around every `sendto` cost ~4 % of the worker's CPU in a profile):

- the SFU's socket reader hands each RTP datagram, as it comes off the socket, to its ICE
  connection's `data_received` (`rtc_internals._read_all` reads past aioice's `StunProtocol`,
  whose callback no RTP packet reaches any more); that hand-over is wrapped as the connection is
  made (`rtc_internals._bound_queue`) and stamps the arrival (`perf_counter`), keyed by its SSRC
  and sequence number, which SRTP leaves in clear;
- the RTP handler given to `rtc_internals.hook_media` (the SFU's entry, after SRTP decryption)
  runs the SFU's whole synchronous fan-out for the packet; when it returns, the last subscriber's
  copy has been handed to `sendto`. That instant is the sample: every copy of the packet left
  the SFU no later than it, so the figures are an upper bound per copy.

Two figures come out: *in process* (off the socket → last copy sent: aioice's queue, parsing,
the fan-out loop, rewriting, SRTP, the syscalls) and *from the wire* (the publisher's
abs-send-time, which aiortc stamps as it builds the packet, on this machine's wall clock → last
copy sent): the latter also holds the loopback hop and the time the packet waited in the server's
socket buffer until the event loop read it, which the first cannot see. aiortc stamps
abs-send-time on video only, so *from the wire* is video only.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

import aioice.ice

from benchmarks.counting import abs_send_time_age, header_extension
from benchmarks.histogram import Histogram
from benchmarks.wire import is_rtp
from sfu import rtc_internals
from sfu.rtp import URI_ABS_SEND_TIME

MAX_PENDING = 10_000
LAG_TICK = 0.01


class LatencyProbe:
    def __init__(self) -> None:
        self.in_process = Histogram()
        self.from_wire = Histogram()
        self.before_read = Histogram()  # from the wire until the SFU read it off the socket
        # What stalls the event loop, for the tail: garbage-collector pauses, and how late a
        # 10 ms timer fires (every stall delays the reading of every socket).
        self.gc_pause = Histogram()
        self.loop_lag = Histogram()
        self._arrivals: dict[bytes, float] = {}
        self._gc_started = 0.0

    def drain(self) -> dict[str, dict[int, int]]:
        """The samples since the last drain."""
        names = ("in_process", "from_wire", "before_read", "gc_pause", "loop_lag")
        result = {name: getattr(self, name).counts for name in names}
        for name in names:
            setattr(self, name, Histogram())
        return result

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pause.add(time.perf_counter() - self._gc_started)

    async def watch_loop(self) -> None:
        """Sample the event loop's lag until cancelled."""
        while True:
            start = time.perf_counter()
            await asyncio.sleep(LAG_TICK)
            self.loop_lag.add(max(0.0, time.perf_counter() - start - LAG_TICK))

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)
        arrivals = self._arrivals
        bound_queue = rtc_internals._bound_queue

        def timed_bound_queue(connection: aioice.ice.Connection, limit: int) -> None:
            bound_queue(connection, limit)
            deliver = connection.data_received

            def data_received(data: bytes, component: int) -> None:
                if is_rtp(data):
                    if len(arrivals) > MAX_PENDING:  # packets the SFU dropped before its handler
                        arrivals.clear()
                    arrivals[data[8:12] + data[2:4]] = time.perf_counter()
                deliver(data, component)

            connection.data_received = data_received  # type: ignore[method-assign]

        rtc_internals._bound_queue = timed_bound_queue
        hook_media = rtc_internals.hook_media

        def timed_hook_media(dtls: Any, on_rtp: Callable[[bytes], None], on_rtcp: Any) -> None:
            hook_media(dtls, self._timed(on_rtp), on_rtcp)

        rtc_internals.hook_media = timed_hook_media

    def _timed(self, on_rtp: Callable[[bytes], None]) -> Callable[[bytes], None]:
        peer = getattr(on_rtp, "__self__", None)  # the SFU's Peer, for its extension ids

        def timed(data: bytes) -> None:
            arrived = self._arrivals.pop(data[8:12] + data[2:4], None)
            on_rtp(data)
            if arrived is None:
                return
            now = time.perf_counter()
            self.in_process.add(now - arrived)
            age = self._wire_age(peer, data)
            if age is not None:
                self.from_wire.add(age)
                self.before_read.add(max(0.0, age - (now - arrived)))

        return timed

    @staticmethod
    def _wire_age(peer: Any, data: bytes) -> float | None:
        """Seconds since the publisher stamped this packet, if it carries abs-send-time."""
        ssrc = int.from_bytes(data[8:12], "big")
        for publication in getattr(peer, "publications", {}).values():
            if publication.ssrc == ssrc:
                ext_id = publication.extension_ids.get(URI_ABS_SEND_TIME)
                value = header_extension(data, ext_id) if ext_id else None
                return abs_send_time_age(value) if value and len(value) == 3 else None
        return None
