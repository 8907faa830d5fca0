"""A party in the lobby receives no media and no track information until the judge admits it."""

from __future__ import annotations

import pytest

from tests.clients.participant import TRACK_INFO_EVENTS, ProtocolError
from tests.clients.whep import WhepClient
from tests.e2e import steady

pytestmark = pytest.mark.timeout(120)


async def test_lobby_sees_nothing_until_admitted(cast):
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    a = await cast.join(hearing, "party", 2, judge=judge)
    await judge.wait_video_from(a, min_frames=5)
    await a.wait_video_from(judge, min_frames=5)

    tok = await cast.api.token(hearing["id"], "party", "waiting party")
    w = cast.participant(tok, 3, name="waiting")
    await w.connect()
    ack = await w.join()
    assert ack["state"] == "lobby", ack
    assert not ack.get("publications"), f"lobby join ack lists publications: {ack}"
    others = {p["id"] for p in ack.get("participants") or []} - {w.participant_id}
    assert not others, f"lobby join ack lists other participants: {ack}"

    # the judge is told someone waits
    await judge.wait_event(
        "lobby", lambda d: any(p["id"] == w.participant_id for p in d.get("waiting", []))
    )

    # a waiting party cannot publish, and its token does not get WHEP media either
    with pytest.raises(ProtocolError) as err:
        await w.call("publish", {"sdp": "v=0\r\n", "type": "offer"})
    assert err.value.code == "not_admitted", err.value.ack
    whep = WhepClient(tok["whep_url"], tok["token"], name="lobby-whep")
    cast.closers.append(whep.stop)
    status = await whep.start(check=False)
    assert status == 403, f"WHEP for a party in the lobby: {status} {whep.body}"
    assert "error" in whep.body

    # for a few seconds while the others talk: nothing at all reaches the lobby
    def nothing():
        return (
            not w.events_named(*TRACK_INFO_EVENTS)
            and w.sub_pc is None
            and not w.sink.tracks
            and w.state == "lobby"
        )

    await steady(nothing, 3.0, f"lobby participant got something: {[e[1] for e in w.events]}")

    # admitted: now it gets the others and they get it
    await judge.admit(w.participant_id)
    adm = await w.wait_event("admitted")
    assert {p["id"] for p in adm.get("participants", [])} >= {
        judge.participant_id,
        a.participant_id,
    }, adm
    await w.publish()
    await w.wait_video_from(judge, min_frames=10, timeout=20)
    await w.wait_video_from(a, min_frames=10, timeout=20)
    await w.wait_audio_from(judge, min_frames=10, timeout=20)
    await judge.wait_video_from(w, min_frames=10, timeout=20)
    await a.wait_audio_from(w, min_frames=10, timeout=20)


async def test_denied_party_is_disconnected_and_gets_nothing(cast):
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    tok = await cast.api.token(hearing["id"], "witness", "unwanted")
    w = cast.participant(tok, 4, name="unwanted")
    await w.connect()
    assert (await w.join())["state"] == "lobby"
    await judge.deny(w.participant_id, reason="not on the list")
    await w.wait_event("denied")
    await w.wait_event("disconnect", timeout=5)
    assert not w.events_named(*TRACK_INFO_EVENTS)
    assert not w.sink.tracks
