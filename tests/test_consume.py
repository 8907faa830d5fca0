"""Explicit consume through the control plane's `WorkerPool` (one real worker process, this test
in the control plane's place) with aiortc peers: a peer receives only what it was told to
consume, gets it once it is, and stops getting it when told to unconsume."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from sfu import SfuConfig, SfuError
from sfu.plain import UdpTapSource
from sfu.rtp import Incoming
from signaling.workers import WorkerPool
from tests.e2e import eventually
from tests.sfu_harness import Events, Subscriber, publish

pytestmark = pytest.mark.timeout(120)


async def test_a_peer_receives_only_what_the_control_plane_has_it_consume() -> None:
    pool = WorkerPool(SfuConfig(ice_loopback=True), 1)
    await pool.start()
    events = Events()
    subscribers: dict[str, Subscriber] = {}

    async def answer_offers() -> None:
        while True:
            peer, sdp = await events.offers.get()
            await subscribers[peer.id].answer(sdp)

    pump = asyncio.ensure_future(answer_offers())
    pcs = []
    try:
        room = pool.room("h1", events)
        assert pool.get_room("h1") is room
        judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
        b = room.add_peer("b", publish=False, subscribe=True, listener=events)
        c = room.add_peer("c", publish=False, subscribe=True, listener=events)
        subscribers["b"] = Subscriber(b, "b")
        subscribers["c"] = Subscriber(c, "c")
        pcs.append(await publish(judge, 1))
        await events.wait(lambda: len(room.publications) == 2, 20)
        audio = next(p.id for p in room.publications.values() if p.kind == "audio")
        video = next(p.id for p in room.publications.values() if p.kind == "video")
        b.consume([audio, video])
        c.consume([audio])

        sink_b, sink_c = subscribers["b"].sink, subscribers["c"].sink
        await sink_b.wait_video_from(1, min_frames=15, timeout=30)
        await sink_c.wait_audio_from(1, min_frames=15, timeout=30)
        # B decodes video for three more seconds; C, never told to consume it, gets none.
        t = time.monotonic()
        await eventually(lambda: sink_b.video[1].frames_since(t) >= 30, 15, "b's video")
        assert 1 not in sink_c.video or sink_c.video[1].frames == 0
        assert {t.publication_id for t in c.tracks()} == {audio}

        c.consume([video])
        t = time.monotonic()
        await sink_c.wait_video_from(1, min_frames=10, timeout=10)
        print(f"c decodes video {time.monotonic() - t:.2f} s after its consume")
        assert video in {t.publication_id for t in c.tracks()}
        assert c.pause_subscription(video, True) and c.pause_subscription(video, False)
        assert not c.pause_subscription("TR_nothing", True)

        c.unconsume([video])
        await eventually(
            lambda: video not in {t.publication_id for t in c.tracks()}, 10, "unconsume"
        )
        stopped = time.monotonic() + 1.0  # packets in flight may still land
        await eventually(lambda: time.monotonic() > stopped + 2, 5, "two quiet seconds")
        assert sink_c.video[1].frames_since(stopped) == 0
        assert sink_b.video[1].frames_since(stopped) > 20  # the other went on

        # What a sidecar in its own process would read: a plain-RTP tap opened via the pool.
        source = await UdpTapSource.bind()
        try:
            opened = await pool.open_tap("h1", video, "127.0.0.1", source.port)
            assert source.describe(opened["sdp"]).publication_id == video
            packets = 0
            async with asyncio.timeout(10):
                while packets < 30:
                    entry = await source.get()
                    assert entry is not None
                    packets += isinstance(entry.item, Incoming)
            pool.close_tap("h1", opened["tap"])
        finally:
            source.close()
        with pytest.raises(SfuError, match="no media"):
            await pool.open_tap("h2", video, "127.0.0.1", source.port)

        figures = pool.worker_stats()["0"]
        assert figures["worker_up"] == 1 and figures["placement_hearings"] == 1
        assert figures["packets_out"] > 0
        described = pool.describe()["workers"][0]
        assert described["state"] == "ready" and described["hearings"][0]["id"] == "h1"

        await room.remove_peer("c")
        await pool.close_room("h1")
        assert pool.get_room("h1") is None
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        for sub in subscribers.values():
            await sub.sink.close()
            await sub.pc.close()
        for pc in pcs:
            await pc.close()
        await pool.close()
