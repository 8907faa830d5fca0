"""Plain taps: a publication sent to a sidecar as plain RTP/RTCP over loopback UDP
(`Room.plain_tap` → `sfu.plain.UdpTapSource`), read exactly as the in-process `Tap` is read.

A real aiortc publisher sends through a room; the source reads on a real 127.0.0.1 socket.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from sfu import MuteChange, SenderReport, SfuError, rtcp
from sfu.plain import TapSocket, UdpTapSource, parse_tap_sdp
from sfu.rtp import Incoming, is_keyframe_start
from tests.e2e import eventually
from tests.sfu_harness import Subscriber, publish


async def started(room, events, pcs, sender: int = 1):
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(judge, sender))
    await events.wait(lambda: len(room.publications) == 2)
    audio = next(p for p in judge.publications.values() if p.kind == "audio")
    video = next(p for p in judge.publications.values() if p.kind == "video")
    await eventually(
        lambda: audio.stats.received > 0 and video.stats.received > 0, 10, "media flows"
    )
    return judge, audio, video


async def read_all(source, timeout: float = 15.0) -> list:
    entries = []
    async with asyncio.timeout(timeout):
        while (entry := await source.get()) is not None:
            entries.append(entry)
    return entries


def keyframe(entry) -> bool:
    item = entry.item
    return isinstance(item, Incoming) and is_keyframe_start(
        "video/vp8", item.data[item.payload_offset :]
    )


async def test_the_udp_source_reads_what_the_in_process_tap_gets(sfu_room):
    """Packets byte for byte with their SSRC and numbering, the sender reports with the same
    times, a mute and an unmute in their place among the packets, then the end."""
    _, room, events, _, pcs = sfu_room
    _, _, video = await started(room, events, pcs)
    source = await UdpTapSource.bind()
    tap = room.tap(video.id)  # both attached in one turn of the loop: they see the same stream
    plain = room.plain_tap(video.id, ("127.0.0.1", source.port))
    assert source.describe(plain.sdp) == tap.info
    assert source.description.ssrc == video.ssrc
    assert source.description.label == "camera"

    await eventually(lambda: plain.packets > 60, 15, "packets go out")
    await eventually(lambda: plain.reports >= 1, 15, "a sender report among them")
    sent = plain.packets
    room.set_muted(video.id, True)
    room.set_muted(video.id, False)
    await eventually(lambda: plain.packets > sent + 30, 15, "packets after the unmute")
    ended: list[str] = []
    plain.on_ended = lambda tap, reason: ended.append(reason)  # what a worker reports
    await room.remove_peer("judge")

    udp, local = await read_all(source), await read_all(tap)
    assert [e.item for e in udp] == [e.item for e in local]
    kinds = [type(e.item) for e in udp]
    assert kinds.count(MuteChange) == 2 and SenderReport in kinds
    mutes = [e.item.muted for e in udp if isinstance(e.item, MuteChange)]
    assert mutes == [True, False]
    assert any(keyframe(e) for e in udp), "the tap asked for a keyframe when it opened"
    # The sender reports arrive when the in-process tap got them, not later than a moment.
    for u, t in zip(udp, local, strict=True):
        if isinstance(u.item, SenderReport):
            assert t.arrival <= u.arrival < t.arrival + 0.5
    assert source.lost == source.dropped == plain.dropped == 0
    assert ended == ["publication ended"] and plain.closed and plain.id not in room.plain_taps
    source.close()


async def test_a_pli_from_the_source_makes_the_publisher_send_a_keyframe(sfu_room):
    _, room, events, _, pcs = sfu_room
    _, _, video = await started(room, events, pcs, sender=2)
    source = await UdpTapSource.bind()
    plain = room.plain_tap(video.id, ("127.0.0.1", source.port))
    source.describe(plain.sdp)
    # The keyframe asked for at the tap's opening comes first.
    async with asyncio.timeout(10):
        while not keyframe(await source.get()):
            pass

    # Past the rate limit, so this PLI goes out at once.
    def quiet() -> bool:
        since = time.monotonic() - video._last_pli
        return since > room.config.pli_interval and not video._pli_pending

    await eventually(quiet, 5, "the rate limit passes")
    plis = room.counters.plis_sent
    asked = time.monotonic()
    source.request_keyframe()
    await eventually(lambda: plain.keyframe_requests == 1, 5, "the PLI reaches the worker")
    assert room.counters.plis_sent == plis + 1, "and goes on to the publisher"
    async with asyncio.timeout(10):
        while not ((entry := await source.get()) and keyframe(entry) and entry.arrival > asked):
            pass
    source.close()
    plain.close()
    assert video.taps == []


async def test_a_sidecar_that_stops_reading_costs_forwarding_nothing(sfu_room):
    """Two stalled sidecars: one whose reader never calls get() (its queue fills: counted drops)
    and one that never even reads its socket (the kernel drops). The subscriber's frame rate
    holds."""
    _, room, events, subscribers, pcs = sfu_room
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    subscribers["party"] = Subscriber(party, "party")
    _, _, video = await started(room, events, pcs, sender=3)
    sink = subscribers["party"].sink
    await sink.wait_video_from(3, min_frames=10)

    async def frame_rate(seconds: float = 3.0) -> float:
        since = time.monotonic()
        await asyncio.sleep(seconds)  # a window to count frames in, not waiting for a condition
        return sink.video[3].frames_since(since) / seconds

    before = await frame_rate()
    stalled = await UdpTapSource.bind(max_items=16)
    first = room.plain_tap(video.id, ("127.0.0.1", stalled.port))
    stalled.describe(first.sdp)
    deaf = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deaf.bind(("127.0.0.1", 0))
    try:
        second = room.plain_tap(video.id, ("127.0.0.1", deaf.getsockname()[1]))
        during = await frame_rate()
        assert during >= 0.8 * before, f"{during:.1f} fps with stalled taps, {before:.1f} before"
        assert stalled.dropped > 0, "the reader's queue overflowed, and it was counted"
        assert udp_drops(deaf.getsockname()[1]) > 0, "the kernel dropped for the deaf sidecar"
        assert second.packets > 0 and not second.closed
    finally:
        deaf.close()
        stalled.close()
        for tap in list(room.plain_taps.values()):
            tap.close()


def udp_drops(port: int) -> int:
    """The kernel's count of datagrams dropped at a local UDP socket (/proc/net/udp)."""
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                return int(fields[-1])
    raise AssertionError(f"no UDP socket on port {port}")


async def test_only_registered_sidecars_are_heard_and_a_silent_worker_ends_the_source(sfu_room):
    _, room, events, _, pcs = sfu_room
    _, _, video = await started(room, events, pcs, sender=4)
    source = await UdpTapSource.bind(silence_timeout=1.0)
    plain = room.plain_tap(video.id, ("127.0.0.1", source.port))
    description = parse_tap_sdp(plain.sdp)
    assert description.source == TapSocket.shared().address
    with pytest.raises(SfuError, match="already sends"):
        room.plain_tap(video.id, ("127.0.0.1", source.port))
    with pytest.raises(SfuError, match=r"127\.0\.0\.1 only"):
        room.plain_tap(video.id, ("10.0.0.1", source.port))

    # A PLI from a stranger is counted and ignored.
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        stranger.sendto(rtcp.pli(0, video.ssrc), description.source)
        sock = TapSocket.shared()
        await eventually(lambda: sock.foreign == 1, 5, "the stranger's datagram is seen")
        assert plain.keyframe_requests == 0
    finally:
        stranger.close()

    # A worker that goes quiet without a BYE (it died): the source ends by itself.
    plain.close()
    quiet = await UdpTapSource.bind(silence_timeout=1.0)
    other = parse_tap_sdp(plain.sdp)
    fake = plain.sdp.replace(f"{other.source[1]}\r\n", "9\r\n")  # a source that never sends
    quiet.describe(fake)
    entries = await read_all(quiet, timeout=5)
    assert entries == [] and quiet.ended
    quiet.close()
    source.close()
