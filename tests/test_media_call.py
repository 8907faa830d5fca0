"""Judge + two parties over Socket.IO: everyone sees and hears everyone else, live."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e import eventually, everyone_sees_and_hears, pairs

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("party_b_codec", ["video/VP8", "video/H264"])
async def test_judge_and_two_parties_see_and_hear_each_other(cast, party_b_codec):
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    assert judge.state == "admitted", "a judge skips the lobby"
    a = await cast.join(hearing, "party", 2, judge=judge)
    b = await cast.join(hearing, "party", 3, judge=judge, video_codec=party_b_codec)
    people = [judge, a, b]

    await everyone_sees_and_hears(people)

    # Live, not replayed: what arrives now is what was drawn moments ago (< 2 s behind).
    for p, q in pairs(people):
        st = p.sink.video[q.media_id]
        now_counter = q.video_track.counter
        lag = now_counter - st.counters[-1][1]
        assert 0 <= lag < 2 * q.fps, f"{p.name} sees {q.name} {lag} frames behind"
        assert p.sink.audio[q.media_id].last_time > time.monotonic() - 1.0

    for p in people:
        others = {q.media_id for q in people if q is not p}
        assert set(p.sink.video) == others, f"{p.name} got video of {set(p.sink.video)}"
        assert set(p.sink.audio) == others, f"{p.name} got audio of {set(p.sink.audio)}"
        assert not p.sink.mismatches, f"{p.name}: a mid carried someone else: {p.sink.mismatches}"
        assert not p.sub_errors, p.sub_errors
        # the signalling told each one who the others are and what they publish
        told = {t["participant_id"] for t in p.mid_map.values()}
        assert told >= {q.participant_id for q in people if q is not p}, p.mid_map

    # frames keep coming: another second later, all counters moved on
    marks = {(p.name, q.name): time.monotonic() for p, q in pairs(people)}
    await eventually(
        lambda: all(p.video_frames_since(q, marks[p.name, q.name]) >= 5 for p, q in pairs(people)),
        10,
        "video keeps flowing between all three",
    )


async def test_participant_events_follow_the_call(cast):
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    a = await cast.join(hearing, "party", 2, judge=judge)
    await judge.wait_event(
        "participant_joined", lambda d: d["participant"]["id"] == a.participant_id
    )
    await judge.wait_event(
        "track_published",
        lambda d: d["publication"]["participant_id"] == a.participant_id
        and d["publication"]["kind"] == "video",
        timeout=15,
    )
    await judge.wait_video_from(a, min_frames=5)
    await a.leave()
    await judge.wait_event("participant_left", lambda d: d["participant_id"] == a.participant_id)
    await judge.wait_event(
        "track_unpublished", lambda d: d["participant_id"] == a.participant_id, timeout=10
    )
    t = time.monotonic() + 1.5  # in-flight packets may still land
    await eventually(
        lambda: time.monotonic() > t + 2 and judge.video_frames_since(a, t) == 0,
        10,
        "no video from a participant who left",
    )


async def test_late_joiner_sees_and_is_seen(cast):
    """Someone joining a hearing already under way needs a keyframe from every publisher (PLI)."""
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    a = await cast.join(hearing, "party", 2, judge=judge)
    await judge.wait_video_from(a, min_frames=10, timeout=25)
    await a.wait_video_from(judge, min_frames=10, timeout=25)
    # let the publishers' encoders settle: no more spontaneous keyframes from bitrate changes
    await asyncio.sleep(8)
    # A party: a witness would wait in the witness room, receiving nothing (docs/ROOMS.md).
    late = await cast.join(hearing, "party", 3, judge=judge)
    await late.wait_video_from(judge, min_frames=10, timeout=10)
    await late.wait_video_from(a, min_frames=10, timeout=10)
    await late.wait_audio_from(judge, min_frames=20, timeout=10)
    await judge.wait_video_from(late, min_frames=10, timeout=10)
    await a.wait_video_from(late, min_frames=10, timeout=10)
    assert not late.sink.mismatches, late.sink.mismatches
    assert set(late.sink.video) == {1, 2}, late.sink.summary()
