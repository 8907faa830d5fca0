"""First forwarding measurement: forwarded RTP packets per CPU-second of one SFU worker.

One SFU worker runs alone in a child process (so its CPU time is its own); this process runs one
aiortc publisher (VP8 640x480 + Opus) and N subscribers that count packets without decoding.
Loopback only. The figure is a ratio within one run (packets / CPU-second), so a noisy shared
machine moves it less than an absolute rate would.

    python -m benchmarks.forwarding --subscribers 20 --duration 15 [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import multiprocessing as mp
import resource
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.contrib.media import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

from sfu import SfuConfig, Worker, rtc_internals

WARMUP = 4.0


class NoiseVideoTrack(VideoStreamTrack):
    """Moving texture: compresses like a camera picture, not like a flat test colour."""

    def __init__(self, width: int = 640, height: int = 480) -> None:
        super().__init__()
        rng = np.random.default_rng(1)
        self._texture = rng.integers(0, 255, (height * 2, width * 2, 3), dtype=np.uint8)
        self._size = (width, height)
        self._n = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        w, h = self._size
        x = (self._n * 4) % w
        y = (self._n * 2) % h
        frame = av.VideoFrame.from_ndarray(self._texture[y : y + h, x : x + w], format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        self._n += 1
        return frame


class SilenceTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / 48000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = av.AudioFrame.from_ndarray(
            (np.random.default_rng(self._pts).normal(0, 300, (1, 960))).astype(np.int16),
            format="s16",
            layout="mono",
        )
        frame.sample_rate = 48000
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 48000)
        self._pts += 960
        return frame


# -- the server side (child process) --------------------------------------------------------


class _Forwarder:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def on_publication(self, room: Any, publication: Any) -> None: ...
    def on_unpublication(self, room: Any, publication: Any) -> None: ...
    def on_active_speaker(self, room: Any, peer_id: Any, level: int) -> None: ...
    def on_subscriptions(self, peer: Any, tracks: Any) -> None: ...
    def on_closed(self, peer: Any, reason: str) -> None: ...

    def on_subscriber_offer(self, peer: Any, sdp: str) -> None:
        self.conn.send(("offer", peer.id, sdp))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _serve(conn: Connection) -> None:
    async def main() -> None:
        worker = Worker(SfuConfig(ice_loopback=True))
        events = _Forwarder(conn)
        room = worker.room("bench", events)
        loop = asyncio.get_running_loop()
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            command = message[0]
            if command == "publish":
                peer = room.add_peer("publisher", publish=True, subscribe=False, listener=events)
                conn.send(("answer", await peer.publisher_offer(message[1])))
            elif command == "subscriber":
                room.add_peer(message[1], publish=False, subscribe=True, listener=events)
            elif command == "subscriber_answer":
                await room.peers[message[1]].subscriber_answer(message[2])
            elif command == "stats":
                conn.send(("stats", worker.stats(), _cpu_seconds(), time.monotonic()))
            elif command == "stop":
                await worker.close()
                conn.send(("stopped",))
                return

    asyncio.run(main())


# -- the client side --------------------------------------------------------------------------


class CountingSubscriber:
    """Receives the SFU's packets without decoding them (the SFU's own bypass, used client-side)."""

    def __init__(self, peer_id: str) -> None:
        self.peer_id = peer_id
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.packets = 0

    def _count(self, data: bytes) -> None:
        self.packets += 1

    async def answer(self, sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))

        async def ignore(transceiver: Any, params: Any) -> None:
            return None

        for transceiver in self.pc.getTransceivers():
            rtc_internals.take_over_transceiver(transceiver, ignore)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        dtls = rtc_internals.dtls_transport(self.pc)
        rtc_internals.hook_media(dtls, self._count, lambda data: None)
        return self.pc.localDescription.sdp


async def run(subscribers: int, duration: float) -> dict[str, Any]:
    rtc_internals.enable_loopback_candidates()
    ctx = mp.get_context("spawn")
    conn, child_conn = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child_conn,), daemon=True)
    server.start()
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue[Any] = asyncio.Queue()
    subs = {f"sub-{i}": CountingSubscriber(f"sub-{i}") for i in range(subscribers)}

    async def reader() -> None:
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message[0] == "offer":
                sub = subs[message[1]]
                conn.send(("subscriber_answer", sub.peer_id, await sub.answer(message[2])))
            else:
                await replies.put(message)

    reading = asyncio.ensure_future(reader())
    publisher = RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )
    publisher.addTransceiver(SilenceTrack(), direction="sendonly")
    publisher.addTransceiver(NoiseVideoTrack(), direction="sendonly")
    await publisher.setLocalDescription(await publisher.createOffer())
    conn.send(("publish", publisher.localDescription.sdp))
    _, answer = await replies.get()
    await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    for peer_id in subs:
        conn.send(("subscriber", peer_id))

    async def snapshot() -> tuple[dict[str, int], float, float, int, float]:
        conn.send(("stats",))
        _, stats, cpu, _ = await replies.get()
        return stats, cpu, time.monotonic(), sum(s.packets for s in subs.values()), _own_cpu()

    await asyncio.sleep(WARMUP)
    s0, cpu0, t0, rx0, own0 = await snapshot()
    await asyncio.sleep(duration)
    s1, cpu1, t1, rx1, own1 = await snapshot()

    conn.send(("stop",))
    await replies.get()
    reading.cancel()
    server.join(5)
    await publisher.close()
    for sub in subs.values():
        await sub.pc.close()

    elapsed = t1 - t0
    forwarded = s1["packets_out"] - s0["packets_out"]
    cpu = cpu1 - cpu0
    return {
        "subscribers": subscribers,
        "duration_s": round(elapsed, 2),
        "packets_in_per_s": round((s1["packets_in"] - s0["packets_in"]) / elapsed, 1),
        "forwarded_packets_per_s": round(forwarded / elapsed, 1),
        "received_packets_per_s": round((rx1 - rx0) / elapsed, 1),
        "server_cpu_percent": round(100 * cpu / elapsed, 1),
        "forwarded_packets_per_cpu_second": round(forwarded / cpu, 0) if cpu > 0 else None,
        "generator_cpu_percent": round(100 * (own1 - own0) / elapsed, 1),
        "decoders_created": s1["decoders_created"],
        "decoder_threads": s1["decoder_threads"],
    }


def _own_cpu() -> float:
    return _cpu_seconds()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--json", help="write the result to this file")
    args = parser.parse_args(argv)
    if args.subscribers < 1 or args.duration <= 0:
        parser.error("--subscribers must be ≥ 1 and --duration > 0")
    result = asyncio.run(run(args.subscribers, args.duration))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
