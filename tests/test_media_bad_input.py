"""Bad input gets a clear 4xx / error event, and the participants of the call keep their media.

One call (judge + party, media flowing both ways) stays up for the whole test while every kind of
bad request is thrown at the server; after each one the call must still be carrying fresh media.
"""

from __future__ import annotations

import json
import time

import jwt
import pytest

from tests.clients.participant import Participant
from tests.clients.whep import WhepClient, post_sdp
from tests.e2e import eventually
from tests.test_media_moderation import _offer_sdp

pytestmark = pytest.mark.timeout(180)


def expired_copy(token: str, secret: str) -> str:
    """The same token, re-signed with the server's secret, expired an hour ago."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 7200, exp=now - 3600)
    if "nbf" in claims:
        claims["nbf"] = now - 7200
    return jwt.encode(claims, secret, algorithm=header.get("alg", "HS256"))


def tampered(token: str) -> str:
    head, body, sig = token.split(".")
    return f"{head}.{body}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"


class Call:
    def __init__(self, judge: Participant, party: Participant):
        self.judge, self.party = judge, party

    async def still_flowing(self, what: str) -> None:
        t = time.monotonic()
        j, p = self.judge, self.party
        await eventually(
            lambda: (
                j.video_frames_since(p, t) >= 5
                and j.audio_frames_since(p, t) >= 10
                and p.video_frames_since(j, t) >= 5
                and p.audio_frames_since(j, t) >= 10
            ),
            10,
            f"the call lost its media after: {what}",
            detail=lambda: f"judge: {j.sink.summary()}\nparty: {p.sink.summary()}",
        )


async def _error_body(status, body, what):
    assert 400 <= status < 500, f"{what}: expected 4xx, got {status} {body}"
    data = json.loads(body) if isinstance(body, str) else body
    assert isinstance(data, dict) and isinstance(data.get("error"), str) and data["error"], (
        f"{what}: 4xx without a JSON error: {body!r}"
    )
    return data


async def test_bad_http_requests_refused_while_call_goes_on(cast, server):
    hearing = await cast.api.create_hearing()
    other = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    party = await cast.join(hearing, "party", 2, judge=judge)
    call = Call(judge, party)
    await call.still_flowing("setup")
    hid, oid = hearing["id"], other["id"]
    sdp = await _offer_sdp(cast)
    whip, whep = f"{cast.api.url}/whip/{hid}", f"{cast.api.url}/whep/{hid}"

    # a token of another hearing
    other_judge = await cast.api.token(oid, "judge", "judge elsewhere")
    status, _, body = await post_sdp(whip, other_judge["token"], sdp)
    assert status in (401, 403), f"WHIP with another hearing's token: {status} {body}"
    await _error_body(status, body, "WHIP, other hearing's token")
    w = WhepClient(whep, other_judge["token"], name="wrong-hearing-whep")
    cast.closers.append(w.stop)
    assert await w.start(check=False) in (401, 403), w.body
    status, body, _ = await cast.api.request(
        "POST",
        f"/api/hearings/{hid}/tokens",
        json={"role": "party", "name": "x"},
        auth=other_judge["token"],
    )
    assert status in (401, 403), f"token request with another hearing's judge: {status} {body}"
    await call.still_flowing("another hearing's token")

    # an expired token, and a forged one
    fresh = await cast.api.token(hid, "party", "late party", admitted=True)
    for label, bad in (
        ("expired", expired_copy(fresh["token"], server.jwt_secret)),
        ("forged", tampered(fresh["token"])),
    ):
        status, _, body = await post_sdp(whip, bad, sdp)
        assert status == 401, f"WHIP with an {label} token: {status} {body}"
        err = await _error_body(status, body, f"WHIP {label}")
        if label == "expired":
            assert "expire" in err["error"].lower(), err
        w = WhepClient(whep, bad, name=f"{label}-whep")
        cast.closers.append(w.stop)
        assert await w.start(check=False) == 401, w.body
        p = cast.participant(bad, 30, name=f"{label}-sio")
        await p.connect()
        ack = await p.join(check=False)
        assert ack.get("ok") is False and ack.get("code") == "unauthorized", ack
        await p.wait_event(
            "error", lambda d: d.get("event") == "join" and d.get("code") == "unauthorized"
        )
    # no token at all
    status, _, body = await post_sdp(whip, None, sdp)
    assert status == 401, f"WHIP without a token: {status} {body}"
    await call.still_flowing("expired / forged / missing tokens")

    # a viewer token: never any WebRTC
    viewer = await cast.api.token(hid, "viewer", "public viewer")
    status, _, body = await post_sdp(whip, viewer["token"], sdp)
    assert status == 403, f"WHIP with a viewer token: {status} {body}"
    await _error_body(status, body, "WHIP viewer")
    w = WhepClient(whep, viewer["token"], name="viewer-whep")
    cast.closers.append(w.stop)
    assert await w.start(check=False) == 403, f"WHEP with a viewer token: {w.status} {w.body}"
    v = cast.participant(viewer, 31, name="viewer-sio")
    await v.connect()
    ack = await v.join(check=False)
    assert ack.get("ok") is False and ack.get("code") == "forbidden", ack
    await call.still_flowing("viewer token")

    # malformed SDP on WHIP and WHEP
    encoder = await cast.api.token(hid, "site", "encoder", admitted=True)
    for garbage in (
        "this is not sdp",
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
        "\x00\xff" * 100,
    ):
        status, _, body = await post_sdp(whip, encoder["token"], garbage)
        assert status == 400, f"WHIP with malformed SDP {garbage[:20]!r}: {status} {body}"
        await _error_body(status, body, "WHIP malformed SDP")
        status, _, body = await post_sdp(whep, fresh["token"], garbage)
        assert status == 400, f"WHEP with malformed SDP {garbage[:20]!r}: {status} {body}"
    await call.still_flowing("malformed SDP over HTTP")

    # unknown hearing: for WHIP/WHEP the token is checked first, and it is another hearing's
    # (docs/API.md: unknown ids must look like anyone else's hearing, so they cannot be probed)
    for path in ("/whip/h_doesnotexist", "/whep/h_doesnotexist"):
        status, _, body = await post_sdp(cast.api.url + path, encoder["token"], sdp)
        assert status == 401, f"{path}: {status} {body}"
        await _error_body(status, body, path)
    status, body, _ = await cast.api.request("GET", "/api/hearings/h_doesnotexist")
    assert status == 404, (status, body)
    status, body, _ = await cast.api.request(
        "POST", "/api/hearings/h_doesnotexist/tokens", json={"role": "party", "name": "x"}
    )
    assert status == 404, (status, body)
    status, body, _ = await cast.api.request("POST", "/api/hearings", json={"title": 5})
    assert status == 400, f"malformed hearing: {status} {body}"
    await call.still_flowing("unknown hearing")


async def test_bad_socketio_events_refused_while_call_goes_on(cast):
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    party = await cast.join(hearing, "party", 2, judge=judge)
    call = Call(judge, party)
    await call.still_flowing("setup")

    async def refused(p: Participant, event: str, payload, code: str | tuple[str, ...]):
        codes = (code,) if isinstance(code, str) else code
        t = time.monotonic()
        ack = await p.call(event, payload, check=False)
        what = f"{event} {str(payload)[:80]}"
        assert isinstance(ack, dict) and ack.get("ok") is False, f"{what}: {ack}"
        assert ack.get("code") in codes, f"{what}: want {codes}, got {ack}"
        assert isinstance(ack.get("error"), str) and ack["error"], ack
        await p.wait_event(
            "error",
            lambda d: d.get("event") == event and d.get("code") in codes,
            since=t,
            timeout=5,
        )

    # a troublemaker in the same hearing, admitted, sending rubbish
    bad = await cast.join(hearing, "party", 3, judge=judge, publish=False)
    await refused(bad, "publish", {"sdp": "x" * (65 * 1024), "type": "offer"}, "bad_request")
    await refused(bad, "mute", "not an object", "bad_request")
    await refused(bad, "mute", [1, 2, 3], "bad_request")
    await refused(bad, "mute", {"participant_id": party.participant_id}, "bad_request")
    await refused(bad, "ice_candidate", {"target": "elsewhere", "candidate": {}}, "bad_request")
    await refused(bad, "publish", {"sdp": "this is not sdp", "type": "offer"}, "sdp")
    await refused(bad, "publish", {"sdp": 42, "type": "offer"}, "bad_request")
    # (no offer may be pending at this moment: then "conflict" is a fair answer too)
    await refused(
        bad, "subscriber_answer", {"sdp": "garbage", "type": "answer"}, ("sdp", "conflict")
    )
    await refused(bad, "admit", {"participant_id": party.participant_id}, "forbidden")
    await refused(bad, "remove", {"participant_id": judge.participant_id}, "forbidden")
    await refused(bad, "end_hearing", {}, "forbidden")
    await refused(judge, "admit", {"participant_id": "p_nobody"}, "not_found")
    await refused(
        judge, "mute", {"participant_id": "p_nobody", "kind": "audio", "muted": True}, "not_found"
    )
    await call.still_flowing("bad events from an admitted party")
    assert bad.sio.connected, "a bad event should be refused, not cost the connection"
    # the troublemaker can still publish properly afterwards
    await bad.publish()
    await judge.wait_video_from(bad, min_frames=5, timeout=20)

    # before join, everything but join is unauthorized; a bad join payload is bad_request
    stranger = cast.participant("unused", 32, name="stranger")
    await stranger.connect()
    await refused(stranger, "publish", {"sdp": "v=0", "type": "offer"}, "unauthorized")
    await refused(
        stranger,
        "mute",
        {"participant_id": judge.participant_id, "kind": "audio", "muted": True},
        "unauthorized",
    )
    await refused(stranger, "join", {"token": "x" * (70 * 1024)}, "bad_request")
    await refused(stranger, "join", "just a string", "bad_request")
    await refused(stranger, "join", {"token": "not.a.jwt"}, "unauthorized")
    await call.still_flowing("bad events before join")
    assert judge.audio_frames_since(party, time.monotonic() - 1.0) > 0
