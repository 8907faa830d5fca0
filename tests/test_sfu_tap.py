"""Taps: a publication delivered to a sidecar in the same process, read as the SFU received it."""

from __future__ import annotations

import asyncio

from sfu import MuteChange, SenderReport
from sfu.rtp import Incoming, is_keyframe_start
from tests.sfu_harness import publish


async def _read_until(tap, condition, timeout: float = 10.0) -> list:
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            entry = await tap.get()
            seen.append(entry)
            if condition(entry):
                return seen


async def test_a_tap_gets_a_keyframe_sender_reports_and_the_end(sfu_room):
    _, room, events, _, pcs = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(judge, 1))
    await events.wait(lambda: len(events.publications) == 2)
    video = next(p for p in events.publications if p.kind == "video")
    audio = next(p for p in events.publications if p.kind == "audio")
    # Nobody subscribes: the taps alone must still get the media.
    video_tap, audio_tap = room.tap(video.id), room.tap(audio.id)
    assert video_tap.info.codec.lower() == "video/vp8" and video_tap.info.clock_rate == 90000
    assert audio_tap.info.kind == "audio" and audio_tap.info.clock_rate == 48000

    # The tap asked for a keyframe: one arrives long before the pattern's own interval would.
    seen = await _read_until(
        video_tap,
        lambda e: isinstance(e.item, Incoming)
        and is_keyframe_start("video/vp8", e.item.data[e.item.payload_offset :]),
    )
    assert all(isinstance(e.item, Incoming | SenderReport) for e in seen)
    await _read_until(audio_tap, lambda e: isinstance(e.item, SenderReport))

    # Mute: the tap is told, and no packet flows until the unmute.
    room.set_muted(audio.id, True)
    seen = await _read_until(audio_tap, lambda e: isinstance(e.item, MuteChange))
    assert seen[-1].item.muted
    room.set_muted(audio.id, False)
    entry = await audio_tap.get()
    assert isinstance(entry.item, MuteChange) and not entry.item.muted

    # The publisher leaves: the reader sees the end after the rest of the stream.
    await room.remove_peer("judge")
    await _read_until(video_tap, lambda e: e is None)
    assert video_tap.closed and video not in room.publications.values()


async def test_a_stalled_tap_drops_and_counts_instead_of_holding_up_forwarding(sfu_room):
    _, room, events, _, pcs = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(judge, 2))
    await events.wait(lambda: len(events.publications) == 2)
    video = next(p for p in events.publications if p.kind == "video")
    tap = room.tap(video.id, max_items=5)
    async with asyncio.timeout(10):
        while tap.dropped == 0:  # noqa: ASYNC110 - the SFU signals nothing when it drops
            await asyncio.sleep(0.05)
    tap.close()
    assert tap not in video.taps
    # After a close the reader still terminates: the end marker displaced a queued packet.
    async with asyncio.timeout(5):
        while (await tap.get()) is not None:
            pass
