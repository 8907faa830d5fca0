"""A real `python -m sfu.worker_process` child, driven over its channel by this test, which plays
the control plane: it relays the aiortc peers' signaling and sends the consume calls."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiortc import RTCSessionDescription

from sfu import api
from sfu.channel import ChannelClosed
from sfu.config import SfuConfig
from sfu.errors import SfuError
from sfu.plain import UdpTapSource
from sfu.remote import RemoteWorker
from sfu.rtp import Incoming
from tests.clients.receiver import MediaSink
from tests.e2e import eventually
from tests.sfu_harness import Subscriber, new_pc, publish

ROOT = Path(__file__).resolve().parent.parent


class RemotePeer:
    """What tests/sfu_harness.py's `publish` and `Subscriber` call on a peer, over the channel."""

    def __init__(self, worker: RemoteWorker, room: str, peer: str) -> None:
        self.worker = worker
        self.room = room
        self.id = peer

    async def publisher_offer(self, sdp: str, consent_checks: bool = True, sources=None) -> str:
        reply = await self.worker.request(
            api.PEER_PUBLISHER_OFFER,
            {
                "room": self.room,
                "peer": self.id,
                "sdp": sdp,
                "consent_checks": consent_checks,
                "sources": sources or {},
            },
        )
        return reply["sdp"]

    async def subscriber_answer(self, sdp: str) -> None:
        await self.worker.request(
            api.PEER_SUBSCRIBER_ANSWER, {"room": self.room, "peer": self.id, "sdp": sdp}
        )


class ControlPlane:
    """The test's control plane: rooms and peers it created, what the worker told it."""

    def __init__(self, worker: RemoteWorker) -> None:
        self.worker = worker
        self.subscribers: dict[tuple[str, str], Subscriber] = {}
        self.subscribing: dict[str, set[str]] = defaultdict(set)  # room -> subscribing peers
        self.publications: dict[str, dict[str, dict]] = defaultdict(dict)  # room -> id -> info
        self.closed: list[dict] = []
        self.errors: list[dict] = []
        self.loads: list[dict] = []
        self.pcs = []
        self._offers: asyncio.Queue[dict] = asyncio.Queue()
        self._pump = asyncio.ensure_future(self._answer_offers())
        worker.on(api.EV_PUBLICATION_ADDED, self._on_publication)
        worker.on(api.EV_PEER_SUBSCRIBER_OFFER, self._offers.put_nowait)
        worker.on(api.EV_PEER_CLOSED, self.closed.append)
        worker.on(api.EV_ERROR, self.errors.append)
        worker.on(api.EV_LOAD, self.loads.append)

    def _on_publication(self, a: dict) -> None:
        # Today's policy, decided here and not in the SFU: everyone else consumes it.
        room, info = a["room"], a["publication"]
        self.publications[room][info["id"]] = info
        for peer in self.subscribing[room] - {info["peer_id"]}:
            self.worker.notify(
                api.PEER_CONSUME, {"room": room, "peer": peer, "publications": [info["id"]]}
            )

    async def _answer_offers(self) -> None:
        while True:
            offer = await self._offers.get()
            await self.subscribers[(offer["room"], offer["peer"])].answer(offer["sdp"])

    def peer(self, room: str, peer: str, *, publish: bool, subscribe: bool) -> RemotePeer:
        self.worker.notify(
            api.PEER_CREATE,
            {"room": room, "peer": peer, "publish": publish, "subscribe": subscribe},
        )
        if subscribe:
            self.subscribing[room].add(peer)
        return RemotePeer(self.worker, room, peer)

    async def publisher(self, room: str, peer: str, sender: int) -> None:
        self.pcs.append(await publish(self.peer(room, peer, publish=True, subscribe=False), sender))

    def subscriber(self, room: str, peer: str) -> Subscriber:
        sub = Subscriber(self.peer(room, peer, publish=False, subscribe=True), f"{room}/{peer}")
        self.subscribers[(room, peer)] = sub
        return sub

    async def close(self) -> None:
        self._pump.cancel()
        for sub in self.subscribers.values():
            await sub.sink.close()
            await sub.pc.close()
        for pc in self.pcs:
            await pc.close()


@pytest.fixture
async def worker():
    remote = await RemoteWorker.spawn(0, SfuConfig(ice_loopback=True), cwd=ROOT)
    print(f"spawn to ready: {remote.spawn_to_ready:.2f} s")
    yield remote
    if remote.alive:
        assert await remote.shutdown(grace=10) == 0
    else:
        remote.kill()
        await remote.wait()


@pytest.fixture
async def control(worker):
    plane = ControlPlane(worker)
    yield plane
    await plane.close()


async def test_a_worker_process_forwards_media_and_decodes_nothing(worker, control):
    worker.notify(api.ROOM_CREATE, {"room": "h1"})
    party = control.subscriber("h1", "party")
    await control.publisher("h1", "judge", 1)
    await party.sink.wait_video_from(1, min_frames=15, timeout=30)
    await party.sink.wait_audio_from(1, min_frames=15, timeout=30)

    stats = await worker.stats()
    assert stats["rooms"] == 1 and stats["peers"] == 2 and stats["publications"] == 2
    assert stats["subscriptions"] == 2
    assert stats["packets_in"] > 0 and stats["packets_out"] > 0
    # Forwarded, not transcoded: no decoder ever ran inside the worker process.
    assert stats["decoders_created"] == 0 and stats["decoder_threads"] == 0
    assert stats["peer_connections_connected"] == 2
    seen = len(control.loads)
    await eventually(lambda: len(control.loads) > seen, 5, "a load event")
    room = control.loads[-1]["rooms"]["h1"]
    assert room["peers"] == 2 and room["subscriptions"] == 2 and room["packets_out"] > 0
    assert control.loads[-1]["counters"]["packets_out"] >= room["packets_out"]
    assert worker.lag_ms < 1000  # heartbeats flow, with the loop's own lag

    # The smaller calls of the surface, with their replies and echoes.
    muted: list[dict] = []
    worker.on(api.EV_PUBLICATION_MUTED, muted.append)
    video = next(i for i, p in control.publications["h1"].items() if p["kind"] == "video")
    at = {"room": "h1", "peer": "party"}
    assert await worker.request(api.PEER_PAUSE, {**at, "publication": video, "paused": True}) == {
        "ok": True
    }
    assert await worker.request(api.PEER_PAUSE, {**at, "publication": "x", "paused": True}) == {
        "ok": False
    }
    assert await worker.request(api.PEER_PAUSE, {**at, "publication": video, "paused": False})
    end_of_candidates = {"candidate": "", "sdp_mid": "0", "sdp_mline_index": 0}
    ice = {"room": "h1", "peer": "judge", "target": "publisher", **end_of_candidates}
    assert await worker.request(api.PEER_ICE_CANDIDATE, ice) == {}
    with pytest.raises(SfuError, match="target must be"):
        await worker.request(api.PEER_ICE_CANDIDATE, {**ice, "target": "both"})
    worker.notify(api.PUBLICATION_MUTE, {"room": "h1", "publication": video, "muted": True})
    await eventually(lambda: muted, 5, "the mute's echo")
    assert muted == [{"room": "h1", "publication": video, "muted": True}]
    worker.notify(api.PUBLICATION_KEYFRAME, {"room": "h1", "publication": video})
    assert await worker.request(api.PEER_CLOSE, {"room": "h1", "peer": "party"}) == {}
    assert await worker.request(api.PEER_CLOSE, {"room": "h1", "peer": "party"}) == {}
    assert (await worker.stats())["peers"] == 1
    assert not control.errors


async def test_two_rooms_on_one_worker_stay_apart(worker, control):
    for room in ("h1", "h2"):
        worker.notify(api.ROOM_CREATE, {"room": room})
    party1 = control.subscriber("h1", "party")
    party2 = control.subscriber("h2", "party")  # the same peer id in another room
    await control.publisher("h1", "judge", 1)
    await control.publisher("h2", "judge", 2)
    await party1.sink.wait_video_from(1, min_frames=15, timeout=30)
    await party2.sink.wait_video_from(2, min_frames=15, timeout=30)
    assert 2 not in party1.sink.video and 1 not in party2.sink.video

    await eventually(
        lambda: control.loads
        and all(control.loads[-1]["rooms"].get(r, {}).get("packets_out") for r in ("h1", "h2")),
        5,
        "both rooms' packets in a load event",
    )
    rooms = control.loads[-1]["rooms"]
    assert set(rooms) == {"h1", "h2"}
    # Closing one room keeps the worker's totals monotonic (its counts are retired).
    before = await worker.stats()
    assert await worker.request(api.ROOM_CLOSE, {"room": "h1"}) == {}
    after = await worker.stats()
    assert after["rooms"] == 1 and after["packets_out"] >= before["packets_out"]
    await party2.sink.wait_video_from(2, min_frames=15, timeout=30, since=time.monotonic())


async def test_a_whep_playback_over_the_channel_shows_the_publications_it_names(worker, control):
    worker.notify(api.ROOM_CREATE, {"room": "h1"})
    await control.publisher("h1", "judge", 1)
    await eventually(lambda: len(control.publications["h1"]) == 2, 10, "two publications")
    worker.notify(
        api.PEER_CREATE, {"room": "h1", "peer": "whep-1", "publish": False, "subscribe": True}
    )
    pc = new_pc()
    control.pcs.append(pc)
    sink = MediaSink("whep")
    pc.on("track", sink.add_track)
    for kind in ("audio", "video"):
        pc.addTransceiver(kind, direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    reply = await worker.request(
        api.PEER_WHEP_OFFER,
        {
            "room": "h1",
            "peer": "whep-1",
            "sdp": pc.localDescription.sdp,
            "publications": list(control.publications["h1"]),
        },
    )
    await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
    try:
        await sink.wait_video_from(1, min_frames=15, timeout=30)
        await sink.wait_audio_from(1, min_frames=15, timeout=30)
    finally:
        await sink.close()


async def test_the_worker_reports_the_keyframes_it_asks_publishers_for_once_a_second(
    worker, control
):
    reports: list[tuple[float, dict]] = []
    worker.on(
        api.EV_PUBLICATION_KEYFRAME_REQUESTED, lambda a: reports.append((time.monotonic(), a))
    )
    worker.notify(api.ROOM_CREATE, {"room": "h1"})
    party = control.subscriber("h1", "party")
    await control.publisher("h1", "judge", 1)
    await party.sink.wait_video_from(1, min_frames=5, timeout=30)
    video = next(i for i, p in control.publications["h1"].items() if p["kind"] == "video")
    # The party's subscription waited for a keyframe: the worker asked the judge for one.
    assert reports, "no keyframe request reported"
    assert reports[0][1] == {"room": "h1", "publication": video, "reason": "subscriber"}
    # The control plane asks every 100 ms for 3 s; the publication sends a PLI every 300 ms
    # at most (pli_interval), and the worker tells of them once a second.
    first = len(reports)
    for _ in range(30):
        worker.notify(api.PUBLICATION_KEYFRAME, {"room": "h1", "publication": video})
        await asyncio.sleep(0.1)
    asked = reports[first:]
    assert 2 <= len(asked) <= 4, asked
    assert all(a == {"room": "h1", "publication": video, "reason": "control"} for _, a in asked)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(reports)]
    assert min(gaps) > 0.9, gaps
    assert (await worker.stats())["plis_sent"] > len(reports)  # each request went, told or not
    assert not control.errors


async def test_refusals_and_unknown_peers_come_back_as_sfu_errors(worker, control):
    worker.notify(api.ROOM_CREATE, {"room": "h1"})
    viewer = control.peer("h1", "viewer", publish=False, subscribe=True)
    with pytest.raises(SfuError, match="may not publish"):
        await viewer.publisher_offer("v=0\r\n")
    gone = RemotePeer(worker, "h1", "nobody")
    with pytest.raises(SfuError, match="the connection was closed"):
        await gone.subscriber_answer("v=0\r\n")
    with pytest.raises(SfuError, match="the connection was closed"):
        await RemotePeer(worker, "no-room", "nobody").publisher_offer("v=0\r\n")
    # A notify that fails has no caller: it comes back as an `error` event.
    worker.notify(api.PEER_CONSUME, {"room": "h1", "peer": "nobody", "publications": ["x"]})
    await eventually(lambda: control.errors, 5, "an error event")
    assert control.errors[0]["method"] == api.PEER_CONSUME
    assert control.errors[0]["message"] == "the connection was closed"


async def test_a_stopped_worker_misses_its_heartbeats_and_reports_the_lag(worker, control):
    beats: list[dict] = []
    worker.on(api.EV_HEARTBEAT, beats.append)
    await eventually(lambda: len(beats) >= 2, 5, "heartbeats")
    worker.kill(signal.SIGSTOP)  # what a wedged event loop looks like from outside
    try:
        stopped = time.monotonic()
        await asyncio.sleep(1.2)  # the span checked: nothing may arrive in it
        assert worker.channel.last_received < stopped + 0.1
        seen = len(beats)
    finally:
        worker.kill(signal.SIGCONT)
    await eventually(lambda: len(beats) > seen, 5, "heartbeats after SIGCONT")
    # Its own timer fired a second late, and it says so.
    assert max(b["lag_ms"] for b in beats[seen:]) > 800
    assert time.monotonic() - worker.channel.last_received < 1.0


async def test_kill_9_is_seen_at_once(worker, control):
    worker.notify(api.ROOM_CREATE, {"room": "h1"})
    control.subscriber("h1", "party")
    await control.publisher("h1", "judge", 1)
    killed = time.monotonic()
    worker.kill(signal.SIGKILL)
    async with asyncio.timeout(5):
        reason = await worker.channel.closed
    assert time.monotonic() - killed < 1.0, "the channel saw the death late"
    assert reason == "eof"
    with pytest.raises(ChannelClosed):  # requests to a dead worker fail at once
        await worker.stats()
    assert await worker.wait() == -signal.SIGKILL


async def test_closing_the_channel_ends_the_worker_by_itself(worker, control):
    worker.notify(api.ROOM_CREATE, {"room": "h1"})
    party = control.subscriber("h1", "party")
    await control.publisher("h1", "judge", 1)
    await party.sink.wait_video_from(1, min_frames=5, timeout=30)
    closed = time.monotonic()
    await worker.close()  # as if the control plane died: no shutdown request
    async with asyncio.timeout(10):
        code = await worker.process.wait()
    assert code == 0
    # It closed its rooms first (5 s cap), so it did not outlive its master by much.
    assert time.monotonic() - closed < 7.0


async def test_shutdown_closes_the_rooms_and_exits_0(worker, control):
    worker.notify(api.ROOM_CREATE, {"room": "h1"})
    await control.publisher("h1", "judge", 1)
    assert await worker.shutdown(grace=10) == 0


async def test_a_plain_tap_over_the_channel_carries_the_publishers_packets(worker, control):
    ended: list[dict] = []
    worker.on(api.EV_TAP_ENDED, ended.append)
    worker.notify(api.ROOM_CREATE, {"room": "h1"})
    await control.publisher("h1", "judge", 1)
    await eventually(lambda: len(control.publications["h1"]) == 2, 10, "two publications")
    video = next(p for p in control.publications["h1"].values() if p["kind"] == "video")
    source = await UdpTapSource.bind()
    try:
        opened = await worker.request(
            api.TAP_OPEN,
            {"room": "h1", "publication": video["id"], "host": "127.0.0.1", "port": source.port},
        )
        info = source.describe(opened["sdp"])
        assert info.publication_id == video["id"] and info.codec == video["codec"]
        packets = 0
        async with asyncio.timeout(10):
            while packets < 30:
                entry = await source.get()
                assert entry is not None
                packets += isinstance(entry.item, Incoming)
        assert (await worker.stats())["taps"] == 1
        # The publisher leaves: the tap ends with its publication, and both ends hear of it.
        assert await worker.request(api.PEER_CLOSE, {"room": "h1", "peer": "judge"}) == {}
        await eventually(lambda: ended, 5, "tap.ended")
        assert ended[0]["tap"] == opened["tap"] and ended[0]["reason"] == "publication ended"
        async with asyncio.timeout(10):
            while (entry := await source.get()) is not None:
                pass
        stats = await worker.stats()
        assert stats["taps"] == 0 and stats["tap_send_drops"] == ended[0]["dropped"]
    finally:
        source.close()
    with pytest.raises(SfuError, match="unknown publication"):
        await worker.request(
            api.TAP_OPEN, {"room": "h1", "publication": video["id"], "port": source.port}
        )


def test_the_worker_process_does_not_load_the_control_plane():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sfu.worker_process", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--channel-fd" in out.stdout
    modules = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()]
    assert "sfu.worker" in modules and "sfu.channel" in modules  # (the module itself is __main__)
    for package in ("signaling", "recorder", "livestream"):
        assert not [m for m in modules if m == package or m.startswith(f"{package}.")], package
