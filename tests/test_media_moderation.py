"""Mute, remove and end are enforced by the server: the media stops, not just an icon."""

from __future__ import annotations

import time

import pytest

from tests.clients.participant import Participant, ProtocolError
from tests.clients.whep import WhepClient, post_sdp
from tests.e2e import eventually, steady

pytestmark = pytest.mark.timeout(120)

GRACE = 1.0  # packets already in flight when the server acted


async def _call(cast):
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    a = await cast.join(hearing, "party", 2, judge=judge)
    b = await cast.join(hearing, "party", 3, judge=judge)
    for p, q in ((judge, a), (judge, b), (a, b), (b, a), (a, judge), (b, judge)):
        await p.wait_video_from(q, min_frames=10, timeout=25)
        await p.wait_audio_from(q, min_frames=20, timeout=15)
    return hearing, judge, a, b


async def _stops(
    listener: Participant,
    who: int,
    kind: str,
    acted_at: float,
    timeout: float = 8.0,
    quiet: float = 2.0,
) -> None:
    """``listener`` stops getting ``kind`` from ``who``: a quiet window after ``acted_at``."""
    frames = listener.video_frames_since if kind == "video" else listener.audio_frames_since

    def quiet_now():
        now = time.monotonic()
        return (
            now - acted_at > GRACE + quiet and frames(who, max(acted_at + GRACE, now - quiet)) == 0
        )

    await eventually(
        quiet_now,
        timeout,
        f"{listener.name} still gets {kind} of sender {who}",
        detail=listener.sink.summary,
    )


async def test_moderator_mute_stops_that_audio_only(cast):
    _, judge, a, b = await _call(cast)
    await judge.mute(a.participant_id, "audio", True)
    acted = time.monotonic()
    ev = await b.wait_event(
        "track_muted",
        lambda d: d["participant_id"] == a.participant_id
        and d["kind"] == "audio"
        and d["muted"] is True,
    )
    assert ev.get("by"), f"track_muted should say who muted: {ev}"

    await _stops(b, a.media_id, "audio", acted)
    await _stops(judge, a.media_id, "audio", acted)
    # a's audio stays silent while everything else goes on
    t = time.monotonic()
    await steady(
        lambda: b.audio_frames_since(a, t) == 0 and judge.audio_frames_since(a, t) == 0,
        2.0,
        "muted audio came back by itself",
    )
    assert b.audio_frames_since(judge, t) >= 50, "the judge's voice stopped at b"
    assert judge.audio_frames_since(b, t) >= 50, "b's voice stopped at the judge"
    assert b.video_frames_since(a, t) >= 15, "a's video stopped although only audio was muted"
    assert a.audio_frames_since(judge, t) >= 50, "the muted party no longer hears the judge"

    # a cannot unmute what the moderator muted
    with pytest.raises(ProtocolError) as err:
        await a.mute(a.participant_id, "audio", False)
    assert err.value.code == "forbidden", err.value.ack
    t = time.monotonic()
    await steady(lambda: b.audio_frames_since(a, t) == 0, 1.5, "self-unmute took effect")

    # the moderator unmutes: a is heard again
    await judge.mute(a.participant_id, "audio", False)
    await b.wait_audio_from(a, min_frames=20, timeout=10, since=time.monotonic())
    await judge.wait_audio_from(a, min_frames=20, timeout=10, since=time.monotonic())


async def test_mute_video_and_self_mute(cast):
    _, judge, a, b = await _call(cast)
    await judge.mute(b.participant_id, "video", True)
    acted = time.monotonic()
    await _stops(a, b.media_id, "video", acted)
    await _stops(judge, b.media_id, "video", acted)
    t = time.monotonic()
    await eventually(
        lambda: a.audio_frames_since(b, t) >= 50 and a.video_frames_since(judge, t) >= 15,
        5,
        "the rest goes on while b's video is muted",
    )

    # a participant may mute (and unmute) itself
    await a.mute(a.participant_id, "audio", True)
    acted = time.monotonic()
    await _stops(b, a.media_id, "audio", acted)
    await a.mute(a.participant_id, "audio", False)
    await b.wait_audio_from(a, min_frames=20, timeout=10, since=time.monotonic())

    # a party cannot mute someone else
    with pytest.raises(ProtocolError) as err:
        await a.mute(judge.participant_id, "audio", True)
    assert err.value.code == "forbidden", err.value.ack
    await b.wait_audio_from(judge, min_frames=20, timeout=5, since=time.monotonic())


async def test_removed_party_is_cut_off_and_cannot_return(cast):
    hearing, judge, a, b = await _call(cast)
    await judge.remove(a.participant_id, reason="contempt")
    acted = time.monotonic()
    ev = await a.wait_event("removed")
    assert "reason" in ev, ev
    await a.wait_event("disconnect", timeout=5)
    await judge.wait_event("participant_left", lambda d: d["participant_id"] == a.participant_id)
    await b.wait_event("participant_left", lambda d: d["participant_id"] == a.participant_id)

    # a's media no longer reaches anyone (even though a's peer connection may still be sending)
    for listener in (judge, b):
        await _stops(listener, a.media_id, "video", acted)
        await _stops(listener, a.media_id, "audio", acted)
    # and a gets nothing any more
    await eventually(
        lambda: time.monotonic() - acted > GRACE + 2
        and a.video_frames_since(judge, acted + GRACE) == 0,
        8,
        "the removed party still receives the judge",
    )
    # judge and b carry on
    t = time.monotonic()
    await eventually(
        lambda: b.video_frames_since(judge, t) >= 15 and judge.audio_frames_since(b, t) >= 50,
        8,
        "the others lost their media",
    )

    # the token is dead: Socket.IO rejoin, WHIP and WHEP refused
    again = cast.participant(a.token, 2, name="a-again")
    await again.connect()
    ack = await again.join(check=False)
    assert ack.get("ok") is False and ack.get("code") == "unauthorized", ack
    assert ack.get("error"), ack
    tok_urls = f"{cast.api.url}/whip/{hearing['id']}", f"{cast.api.url}/whep/{hearing['id']}"
    whep = WhepClient(tok_urls[1], a.token, name="removed-whep")
    cast.closers.append(whep.stop)
    status = await whep.start(check=False)
    assert status in (401, 403), f"WHEP with a removed party's token: {status} {whep.body}"
    status, _, body = await post_sdp(tok_urls[0], a.token, await _offer_sdp(cast))
    assert status in (401, 403), f"WHIP with a removed party's token: {status} {body}"


async def _offer_sdp(cast) -> str:
    return (await cast.offering_peer(39)).localDescription.sdp


async def test_end_hearing_disconnects_everyone_and_stops_media(cast):
    hearing, judge, a, b = await _call(cast)
    spare_judge = await cast.api.token(hearing["id"], "judge", "second judge")
    spare_party = await cast.api.token(hearing["id"], "party", "late party")
    await judge.end_hearing()
    acted = time.monotonic()
    for p in (judge, a, b):
        ev = await p.wait_event("hearing_ended")
        assert ev["hearing"]["state"] == "ended", ev
        await p.wait_event("disconnect", timeout=5)
    for p, q in ((a, judge), (b, a), (judge, b)):
        await _stops(p, q.media_id, "video", acted)
        await _stops(p, q.media_id, "audio", acted)

    status, body, _ = await cast.api.request("GET", f"/api/hearings/{hearing['id']}")
    assert status == 200 and body["state"] == "ended", body
    # nothing can start again in an ended hearing
    status, _, text = await post_sdp(
        spare_judge["whip_url"], spare_judge["token"], await _offer_sdp(cast)
    )
    assert 400 <= status < 500, f"WHIP into an ended hearing: {status} {text}"
    late = cast.participant(spare_party, 5, name="late")
    await late.connect()
    ack = await late.join(check=False)
    assert ack.get("ok") is False and ack.get("code") in ("conflict", "unauthorized"), ack
