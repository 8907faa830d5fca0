"""ffmpeg's WHIP muxer publishes H.264 + Opus as the judge; WHEP and Socket.IO viewers decode it.

The long test keeps the publish up for more than two minutes: aioice's consent checks would drop
an ffmpeg peer at ~31 s (ffmpeg never answers them), and hearings last hours.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from aiortc import RTCSessionDescription

from tests.clients.ffmpeg_whip import FfmpegWhip, tail
from tests.clients.participant import MEDIA_IDS
from tests.clients.whep import WhepClient, http_delete, post_sdp
from tests.e2e import eventually

FFMPEG_ID = 21
SOAK_SECONDS = float(os.environ.get("CLOUDCOURT_WHIP_SOAK_SECONDS", "125"))


async def _whip_judge(cast, hearing, tmp_path) -> tuple[dict, FfmpegWhip]:
    tok = await cast.api.token(hearing["id"], "judge", "courtroom encoder")
    MEDIA_IDS[tok["participant_id"]] = FFMPEG_ID
    ff = FfmpegWhip(tok["whip_url"], tok["token"], FFMPEG_ID, log_path=tmp_path / "ffmpeg.log")
    ff.start()

    async def stop():
        await ff.astop()

    cast.closers.append(stop)
    return tok, ff


def _ff_detail(ff: FfmpegWhip):
    return lambda: f"ffmpeg running={ff.running()} log tail:\n{tail(ff.log_text())}"


@pytest.mark.long
@pytest.mark.timeout(SOAK_SECONDS + 120)
async def test_ffmpeg_whip_judge_reaches_whep_and_socketio_for_two_minutes(cast, tmp_path):
    hearing = await cast.api.create_hearing()
    judge_tok, ff = await _whip_judge(cast, hearing, tmp_path)

    # a WHEP player (default source: the judge) with an admitted party's token
    viewer_tok = await cast.api.token(hearing["id"], "party", "whep player", admitted=True)
    whep = WhepClient(viewer_tok["whep_url"], viewer_tok["token"], name="whep")
    cast.closers.append(whep.stop)

    # the judge must be publishing before WHEP has something to play: wait for it via HTTP state
    async def judge_live():
        status, body, _ = await cast.api.request("GET", f"/api/hearings/{hearing['id']}")
        return status == 200 and body.get("state") == "in_session"

    await eventually(
        judge_live, 20, "hearing goes in_session when the WHIP judge joins", detail=_ff_detail(ff)
    )

    # a Socket.IO party, admitted through the HTTP API by the admin
    party_tok = await cast.api.token(hearing["id"], "party", "party")
    party = cast.participant(party_tok, 2, name="party")
    await party.connect()
    await party.join()
    if party.state == "lobby":
        status, body, _ = await cast.api.request(
            "POST", f"/api/hearings/{hearing['id']}/participants/{party.participant_id}/admit"
        )
        assert status == 200, (status, body)
    await party.wait_admitted()
    await party.publish()

    detail = _ff_detail(ff)
    try:
        await party.wait_video_from(FFMPEG_ID, min_frames=15, timeout=25)
        await party.wait_audio_from(FFMPEG_ID, min_frames=25, timeout=15)
        # the judge's tracks are flowing: a WHEP player now gets them
        await whep.start()
        assert whep.location, "WHEP 201 without Location"
        await whep.wait_video_from(FFMPEG_ID, min_frames=15, timeout=25)
        await whep.wait_audio_from(FFMPEG_ID, min_frames=25, timeout=15)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{detail()}") from e
    assert not party.sink.mismatches, party.sink.mismatches

    # soak: every 10 s, both still get fresh judge video and audio; ffmpeg still publishing
    started = time.monotonic()
    while time.monotonic() - started < SOAK_SECONDS:
        await asyncio.sleep(10)
        since = time.monotonic() - 5
        assert ff.running(), f"ffmpeg exited after {time.monotonic() - started:.0f}s\n{detail()}"
        for who, sink in (("whep", whep.sink), ("party", party.sink)):
            v = sink.video[FFMPEG_ID].frames_since(since)
            a = sink.audio[FFMPEG_ID].frames_since(since)
            assert v >= 30 and a >= 100, (
                f"{who}: only {v} video / {a} audio frames of the WHIP judge in the last 5 s, "
                f"{time.monotonic() - started:.0f}s into the soak\n{detail()}"
            )
    st = party.sink.video[FFMPEG_ID]
    assert st.counters[-1][1] - st.counters[0][1] >= 15 * SOAK_SECONDS * 0.9, "counter gaps"

    # ffmpeg ends its session (SIGINT → DELETE); the party sees the judge's tracks go
    rc = await ff.astop()
    assert rc is not None
    await party.wait_event(
        "track_unpublished",
        lambda d: d["participant_id"] == judge_tok["participant_id"],
        timeout=15,
    )
    assert await http_delete(whep.location, viewer_tok["token"]) in (200, 204)
    whep.location = None


@pytest.mark.timeout(90)
async def test_whip_by_hand_201_location_and_delete(cast, tmp_path):
    """A short WHIP round trip by hand: 201 + Location; DELETE ends it; tracks go away."""

    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    enc_tok = await cast.api.token(hearing["id"], "site", "site encoder", admitted=True)
    MEDIA_IDS[enc_tok["participant_id"]] = 22
    pc = await cast.offering_peer(22)
    status, headers, body = await post_sdp(
        enc_tok["whip_url"], enc_tok["token"], pc.localDescription.sdp
    )
    assert status == 201, (status, body)
    assert headers.get("Location"), "WHIP 201 without Location"
    assert headers.get("Content-Type", "").startswith("application/sdp")
    await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
    await judge.wait_video_from(22, min_frames=10, timeout=20)
    await judge.wait_audio_from(22, min_frames=10, timeout=20)
    location = cast.api.abs(headers["Location"])
    assert await http_delete(location, enc_tok["token"]) in (200, 204)
    await judge.wait_event(
        "track_unpublished", lambda d: d["participant_id"] == enc_tok["participant_id"], timeout=10
    )
    t = time.monotonic() + 1.0
    await eventually(
        lambda: time.monotonic() > t + 2 and judge.video_frames_since(22, t) == 0,
        10,
        "no video after WHIP DELETE",
    )
