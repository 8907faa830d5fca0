"""The HTTP API of issue 2 against a real `cloudcourt serve`: routes, statuses, JSON errors."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e import Api, eventually

pytestmark = pytest.mark.timeout(60)

HEARING = {
    "case_number": "(2025)京0105民初123号",
    "title": "张三诉李四买卖合同纠纷",
    "court": "北京市朝阳区人民法院",
    "case_type": "civil",
    "public": True,
    "scheduled_at": "2025-03-01T09:30:00+08:00",
}


def assert_error(status: int, body: object, expected: int) -> str:
    assert status == expected, f"expected {expected}, got {status}: {body!r}"
    assert isinstance(body, dict), f"error body is not JSON: {body!r}"
    assert isinstance(body.get("error"), str) and body["error"], body
    return body["error"]


async def expect_error(call: Awaitable[tuple[int, Any, dict]], expected: int) -> str:
    """Await an API call (``api.request`` or ``post_sdp``) and ``assert_error`` its reply."""
    status, body, _ = await call
    return assert_error(status, body, expected)


async def new_hearing(api: Api, **fields) -> dict:
    status, body, _ = await api.request("POST", "/api/hearings", json={**HEARING, **fields})
    assert status == 201, (status, body)
    return body


async def issue(api: Api, hearing_id: str, role: str, *, auth="admin", **fields) -> dict:
    status, body, _ = await api.request(
        "POST",
        f"/api/hearings/{hearing_id}/tokens",
        json={"role": role, "name": f"{role} name", **fields},
        auth=auth,
    )
    assert status == 201, (status, body)
    return body


async def hearing_with(api: Api, *roles: str) -> tuple[str, list[dict]]:
    """A new hearing's id, and a token issued for each of ``roles`` in turn."""
    hid = (await new_hearing(api))["id"]
    return hid, [await issue(api, hid, role) for role in roles]


# ---------------------------------------------------------------------------------- basics


async def test_health(api):
    status, body, headers = await api.request("GET", "/api/health", auth=None)
    assert status == 200
    assert body["status"] == "ok"
    assert headers["Content-Type"].startswith("application/json")
    # The documented fields and no others (counters are on /metrics).
    assert set(body) == {
        "status",
        "version",
        "uptime_seconds",
        "live_hearings",
        "sockets",
        "workers",
    }, body
    assert body["workers"] == {"ready": 1, "total": 1}


async def test_unknown_route_and_wrong_method_are_json(api):
    assert "/api/no-such-thing" in await expect_error(
        api.request("GET", "/api/no-such-thing", auth=None), 404
    )
    status, body, headers = await api.request("DELETE", "/api/health", auth=None)
    assert "DELETE" in assert_error(status, body, 405)
    assert "GET" in headers.get("Allow", "")


# ---------------------------------------------------------------------------------- hearings


async def test_create_and_read_hearing(api):
    status, created, headers = await api.request("POST", "/api/hearings", json=HEARING)
    assert status == 201, created
    assert created["id"].startswith("h_")
    assert created["state"] == "scheduled"
    for key, value in HEARING.items():
        if key != "scheduled_at":
            assert created[key] == value, key
    # stored in UTC: the same moment as given
    assert created["scheduled_at"] == "2025-03-01T01:30:00+00:00"
    assert headers["Location"] == f"/api/hearings/{created['id']}"

    status, fetched, _ = await api.request("GET", f"/api/hearings/{created['id']}")
    assert status == 200 and fetched == created

    status, listed, _ = await api.request("GET", "/api/hearings")
    assert status == 200
    assert created["id"] in {h["id"] for h in listed["hearings"]}


async def test_scheduled_at_is_normalised_iso8601(api):
    hearing = await new_hearing(api, scheduled_at="2025-03-01T01:30:00Z")
    assert datetime.fromisoformat(hearing["scheduled_at"]) == datetime(
        2025, 3, 1, 1, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"case_number": None}, "case_number"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"court": 5}, "court"),
        ({"case_type": "x" * 201}, "case_type"),
        ({"public": "yes"}, "public"),
        ({"public": None}, "public"),
        ({"scheduled_at": "next tuesday"}, "scheduled_at"),
        ({"scheduled_at": 1735689600}, "scheduled_at"),
        # a moment needs a date, a time of day and an offset
        ({"scheduled_at": "2025-03-01"}, "scheduled_at"),
        ({"scheduled_at": "20250301T0930"}, "scheduled_at"),
        ({"scheduled_at": "20250301T093000+0800"}, "scheduled_at"),
        ({"scheduled_at": "2025-03-01T09:30:00"}, "scheduled_at"),
        ({"scheduled_at": "2025-02-30T09:30:00+08:00"}, "scheduled_at"),
        ({"scheduled_at": "9999-12-31T23:30:00-05:00"}, "scheduled_at"),
        ({"titel": "typo"}, "titel"),
    ],
)
async def test_invalid_hearing_is_400_naming_the_field(api, change, mentions):
    body = {**HEARING, **change}
    body = {k: v for k, v in body.items() if v is not None}
    assert mentions in await expect_error(api.request("POST", "/api/hearings", json=body), 400)


async def test_hearing_body_must_be_a_json_object(api):
    for data in (b"{not json", b"[1, 2]", b"", b"\xff\xfe"):
        await expect_error(api.request("POST", "/api/hearings", data=data), 400)


async def test_deeply_nested_json_is_400_not_500(api):
    hearing = await new_hearing(api)
    party = await issue(api, hearing["id"], "party")
    remove = f"/api/hearings/{hearing['id']}/participants/{party['participant_id']}/remove"
    for data in (b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        for path in ("/api/hearings", remove):
            assert "nested" in await expect_error(api.request("POST", path, data=data), 400)
    # the party was not removed by any of that
    status, _, _ = await api.request("GET", f"/api/hearings/{hearing['id']}", auth=party["token"])
    assert status == 200


async def test_hearings_are_listed_chronologically_across_offsets(api):
    # 2030-06-01 at 01:30, 03:00 and 04:00 UTC, written with different offsets; as text the order
    # would be the reverse
    given = ["2030-06-01T09:30:00+08:00", "2030-06-01T02:00:00-01:00", "2030-06-01T04:00:00Z"]
    made = [await new_hearing(api, scheduled_at=at) for at in given]
    assert [h["scheduled_at"] for h in made] == [
        "2030-06-01T01:30:00+00:00",
        "2030-06-01T03:00:00+00:00",
        "2030-06-01T04:00:00+00:00",
    ]
    status, listed, _ = await api.request("GET", "/api/hearings")
    assert status == 200
    ids = [h["id"] for h in listed["hearings"]]
    assert [i for i in ids if i in {h["id"] for h in made}] == [h["id"] for h in made]
    moments = [datetime.fromisoformat(h["scheduled_at"]) for h in listed["hearings"]]
    assert moments == sorted(moments)


async def test_a_wrong_admin_key_gets_one_answer_on_every_route(api):
    """A mistyped admin key: the same sentence whether the route takes only the key (creating a
    hearing) or the key or a token (reading one), and it names the key."""
    hid = (await new_hearing(api))["id"]
    answers = {
        await expect_error(api.request("POST", "/api/hearings", json=HEARING, auth="wrong"), 401),
        await expect_error(api.request("GET", f"/api/hearings/{hid}", auth="wrong"), 401),
        await expect_error(api.request("POST", f"/api/hearings/{hid}/end", auth="wrong"), 401),
    }
    assert len({a.split(";")[0] for a in answers}) == 1, answers
    assert all("admin key" in a for a in answers), answers


async def test_oversized_body_is_413_json(api):
    big = {**HEARING, "title": "x" * (2 * 1024 * 1024)}
    await expect_error(api.request("POST", "/api/hearings", json=big), 413)


async def test_creating_a_hearing_needs_the_admin_key(api):
    status, reply, headers = await api.request("POST", "/api/hearings", json=HEARING, auth=None)
    assert_error(status, reply, 401)
    assert headers.get("WWW-Authenticate", "").startswith("Bearer")
    await expect_error(api.request("POST", "/api/hearings", json=HEARING, auth="wrong key"), 401)
    await expect_error(
        api.request(
            "POST", "/api/hearings", json=HEARING, headers={"Authorization": "Basic abc"}, auth=None
        ),
        401,
    )
    hearing = await new_hearing(api)
    judge = await issue(api, hearing["id"], "judge")
    await expect_error(api.request("POST", "/api/hearings", json=HEARING, auth=judge["token"]), 403)


async def test_private_hearings_are_hidden_from_the_public(api):
    private = await new_hearing(api, public=False, title="not public")
    public = await new_hearing(api, public=True, title="public")

    status, listed, _ = await api.request("GET", "/api/hearings", auth=None)
    ids = {h["id"] for h in listed["hearings"]}
    assert public["id"] in ids and private["id"] not in ids
    assert all(h["public"] for h in listed["hearings"])

    await expect_error(api.request("GET", f"/api/hearings/{private['id']}", auth=None), 404)
    status, reply, _ = await api.request("GET", f"/api/hearings/{public['id']}", auth=None)
    assert status == 200

    # a participant of that hearing may read it; a participant of another one may not
    party = await issue(api, private["id"], "party")
    status, reply, _ = await api.request(
        "GET", f"/api/hearings/{private['id']}", auth=party["token"]
    )
    assert status == 200 and reply["id"] == private["id"]
    other = await issue(api, public["id"], "party")
    await expect_error(
        api.request("GET", f"/api/hearings/{private['id']}", auth=other["token"]), 404
    )


HEARING_ROUTES = (
    ("POST", "/api/hearings/{}/tokens", {"role": "party", "name": "x"}),
    ("POST", "/api/hearings/{}/participants/p_x/admit", None),
    ("POST", "/api/hearings/{}/participants/p_x/remove", None),
    ("POST", "/api/hearings/{}/end", None),
)


async def test_without_credentials_real_and_unknown_hearings_look_alike(api):
    """No, invalid or another hearing's credentials: 401 with the same sentence whether or not
    the hearing exists, so ids (of private hearings too) cannot be probed."""
    private = await new_hearing(api, public=False)
    elsewhere = await issue(api, (await new_hearing(api))["id"], "judge")
    for auth in (None, "garbage", elsewhere["token"]):
        for method, path, body in HEARING_ROUTES:
            answers = [
                await api.request(method, path.format(hid), json=body, auth=auth)
                for hid in (private["id"], "h_missing")
            ]
            (real, real_body, _), (unknown, unknown_body, _) = answers
            assert_error(real, real_body, 401)
            assert (unknown, unknown_body) == (real, real_body), (auth, path)
        for kind in ("whip", "whep"):
            answers = [
                await post_sdp(api, f"/{kind}/{hid}", auth, OFFER)
                for hid in (private["id"], "h_missing")
            ]
            (real, real_body, _), (unknown, unknown_body, _) = answers
            assert_error(real, real_body, 401)
            assert (unknown, unknown_body) == (real, real_body), (auth, kind)


async def test_unknown_hearing_is_404_everywhere(api):
    for method, path, body in (
        ("GET", "/api/hearings/h_missing", None),
        ("POST", "/api/hearings/h_missing/tokens", {"role": "party", "name": "x"}),
        ("POST", "/api/hearings/h_missing/participants/p_x/admit", None),
        ("POST", "/api/hearings/h_missing/participants/p_x/remove", None),
        ("POST", "/api/hearings/h_missing/end", None),
    ):
        assert "h_missing" in await expect_error(api.request(method, path, json=body), 404), path


# ---------------------------------------------------------------------------------- tokens


async def test_token_response_has_urls_for_every_client(api, server):
    hearing = await new_hearing(api)
    hid = hearing["id"]
    before = time.time()
    tok = await issue(api, hid, "party", name="王五")
    assert tok["participant_id"].startswith("p_")
    assert tok["role"] == "party" and tok["name"] == "王五" and tok["admitted"] is False
    assert tok["join_url"] == f"{server.url}/join/{hid}?token={tok['token']}"
    assert tok["whip_url"] == f"{server.url}/whip/{hid}"
    assert tok["whep_url"] == f"{server.url}/whep/{hid}"
    expires = datetime.fromisoformat(tok["expires_at"]).timestamp()
    assert before + 11.9 * 3600 < expires < time.time() + 12.1 * 3600  # 12 h by default


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"name": "no role"}, "role"),
        ({"role": "emperor", "name": "x"}, "role"),
        ({"role": "party"}, "name"),
        ({"role": "party", "name": ""}, "name"),
        ({"role": "party", "name": "x", "admitted": "true"}, "admitted"),
        ({"role": "party", "name": "x", "colour": "red"}, "colour"),
    ],
)
async def test_invalid_token_request_is_400(api, body, mentions):
    hearing = await new_hearing(api)
    assert mentions in await expect_error(
        api.request("POST", f"/api/hearings/{hearing['id']}/tokens", json=body), 400
    )


async def test_who_may_issue_tokens(api):
    hid, (judge, clerk, party) = await hearing_with(api, "judge", "clerk", "party")

    async def refused(role: str, auth: str | None, expected: int) -> None:
        request = api.request(
            "POST", f"/api/hearings/{hid}/tokens", json={"role": role, "name": "x"}, auth=auth
        )
        await expect_error(request, expected)

    # judge and clerk tokens of the hearing may issue; the clerk not for a judge
    await issue(api, hid, "witness", auth=judge["token"])
    await issue(api, hid, "judge", auth=judge["token"])
    await issue(api, hid, "site", auth=clerk["token"], admitted=True)
    await refused("judge", clerk["token"], 403)

    # a party may not; no credentials, garbage, or another hearing's judge are 401
    await refused("party", party["token"], 403)
    other = await new_hearing(api)
    other_judge = await issue(api, other["id"], "judge")
    for auth in (None, "garbage", other_judge["token"]):
        await refused("party", auth, 401)


async def test_expired_and_tampered_tokens_are_401(api, server):
    hearing = await new_hearing(api)
    judge = await issue(api, hearing["id"], "judge")
    expired = server.expired_token(hearing["id"], judge["participant_id"], "judge", jti="x")
    assert "expired" in await expect_error(
        api.request("POST", f"/api/hearings/{hearing['id']}/end", auth=expired), 401
    )
    tampered = judge["token"][:-3] + ("AAA" if not judge["token"].endswith("AAA") else "BBB")
    await expect_error(
        api.request("POST", f"/api/hearings/{hearing['id']}/end", auth=tampered), 401
    )


# ---------------------------------------------------------------------------------- moderation


async def test_admit_remove_and_end(api):
    hid, (judge, party) = await hearing_with(api, "judge", "party")
    pid = party["participant_id"]
    base = f"/api/hearings/{hid}/participants/{pid}"

    status, reply, _ = await api.request("POST", f"{base}/admit", auth=judge["token"])
    assert status == 200 and reply["participant"]["state"] == "admitted", reply
    # admitting twice is harmless
    status, reply, _ = await api.request("POST", f"{base}/admit")
    assert status == 200

    status, reply, _ = await api.request(
        "POST", f"{base}/remove", json={"reason": "left the court"}
    )
    assert status == 200 and reply["participant"]["state"] == "removed", reply
    # the removed participant's token no longer works anywhere
    await expect_error(api.request("GET", f"/api/hearings/{hid}", auth=party["token"]), 401)
    # and cannot be admitted again
    await expect_error(api.request("POST", f"{base}/admit"), 409)

    assert "p_nobody" in await expect_error(
        api.request("POST", f"/api/hearings/{hid}/participants/p_nobody/admit"), 404
    )

    status, ended, _ = await api.request("POST", f"/api/hearings/{hid}/end", auth=judge["token"])
    assert status == 200 and ended["state"] == "ended", ended
    status, fetched, _ = await api.request("GET", f"/api/hearings/{hid}")
    assert fetched["state"] == "ended"
    # nothing leaves "ended", and nothing new starts in it
    await expect_error(api.request("POST", f"/api/hearings/{hid}/end"), 409)
    await expect_error(
        api.request("POST", f"/api/hearings/{hid}/tokens", json={"role": "party", "name": "late"}),
        409,
    )


async def test_moderation_needs_a_moderator(api):
    hid, (judge, clerk, party, other) = await hearing_with(
        api, "judge", "clerk", "party", "witness"
    )
    for path in (
        f"/api/hearings/{hid}/participants/{other['participant_id']}/admit",
        f"/api/hearings/{hid}/participants/{other['participant_id']}/remove",
        f"/api/hearings/{hid}/end",
    ):
        await expect_error(api.request("POST", path, auth=party["token"]), 403)
        await expect_error(api.request("POST", path, auth=None), 401)
    # a clerk runs the session but cannot remove the judge
    await expect_error(
        api.request(
            "POST",
            f"/api/hearings/{hid}/participants/{judge['participant_id']}/remove",
            auth=clerk["token"],
        ),
        403,
    )


async def test_moderation_bodies_are_checked(api):
    hearing = await new_hearing(api)
    party = await issue(api, hearing["id"], "party")
    base = f"/api/hearings/{hearing['id']}/participants/{party['participant_id']}"
    await expect_error(api.request("POST", f"{base}/remove", data=b"{oops"), 400)
    assert "reason" in await expect_error(
        api.request("POST", f"{base}/remove", json={"reason": 7}), 400
    )


# ---------------------------------------------------------------------------------- WHIP / WHEP


async def post_sdp(
    api: Api, path: str, token: str | None, body: bytes, ctype: str = "application/sdp"
) -> tuple[int, Any, dict]:
    return await api.request("POST", path, data=body, headers={"Content-Type": ctype}, auth=token)


OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def test_whip_whep_refusals_are_json(api):
    hearing = await new_hearing(api)
    hid = hearing["id"]
    lobby_party = await issue(api, hid, "party")
    admitted_party = await issue(api, hid, "party", admitted=True)
    viewer = await issue(api, hid, "viewer")
    recorder = await issue(api, hid, "recorder", admitted=True)
    other = await new_hearing(api)
    other_judge = await issue(api, other["id"], "judge")

    for kind in ("whip", "whep"):
        path = f"/{kind}/{hid}"
        assert "application/sdp" in await expect_error(
            post_sdp(api, path, lobby_party["token"], OFFER, "text/plain"), 415
        )
        await expect_error(post_sdp(api, path, lobby_party["token"], b"v=0\r\n" * 20000), 413)
        await expect_error(post_sdp(api, path, None, OFFER), 401)
        assert "another hearing" in await expect_error(
            post_sdp(api, path, other_judge["token"], OFFER), 401
        )
        assert "viewer" in await expect_error(post_sdp(api, path, viewer["token"], OFFER), 403)
        assert "lobby" in await expect_error(post_sdp(api, path, lobby_party["token"], OFFER), 403)
        # a token is for one hearing: on any other id, real or not, it is another hearing's token
        assert "another hearing" in await expect_error(
            post_sdp(api, f"/{kind}/h_missing", admitted_party["token"], OFFER), 401
        )

    # the recorder only subscribes
    assert "publish" in await expect_error(
        post_sdp(api, f"/whip/{hid}", recorder["token"], OFFER), 403
    )
    # nothing to play yet: no judge is publishing
    assert "judge" in await expect_error(
        post_sdp(api, f"/whep/{hid}", admitted_party["token"], OFFER), 404
    )
    assert "p_nobody" in await expect_error(
        post_sdp(api, f"/whep/{hid}?participant=p_nobody", admitted_party["token"], OFFER), 404
    )


async def test_whip_options_patch_and_unknown_session(api):
    hearing = await new_hearing(api)
    hid = hearing["id"]
    for kind in ("whip", "whep"):
        status, _, headers = await api.request("OPTIONS", f"/{kind}/{hid}", auth=None)
        assert status == 204
        assert headers.get("Accept-Post") == "application/sdp"
        await expect_error(api.request("DELETE", f"/{kind}/{hid}/nosuch", auth=None), 404)
        await expect_error(api.request("PATCH", f"/{kind}/{hid}/nosuch", auth=None), 405)


async def test_malformed_sdp_is_400(api):
    hearing = await new_hearing(api)
    judge = await issue(api, hearing["id"], "judge")
    for body in (b"this is not sdp", b"\xff\xfe\x00"):
        await expect_error(post_sdp(api, f"/whip/{hearing['id']}", judge["token"], body), 400)


async def test_nothing_starts_in_an_ended_hearing(api):
    hid, (party,) = await hearing_with(api, "party")
    status, _, _ = await api.request("POST", f"/api/hearings/{hid}/end")
    assert status == 200
    base = f"/api/hearings/{hid}/participants/{party['participant_id']}"
    for path in (f"{base}/admit", f"{base}/remove"):
        assert "ended" in await expect_error(api.request("POST", path), 409)


async def test_whip_into_ended_hearing_is_409(api):
    hearing = await new_hearing(api)
    judge = await issue(api, hearing["id"], "judge")
    status, _, _ = await api.request("POST", f"/api/hearings/{hearing['id']}/end")
    assert status == 200
    await expect_error(post_sdp(api, f"/whip/{hearing['id']}", judge["token"], OFFER), 409)


# ---------------------------------------------------------------------------------- restart


async def test_restart_keeps_hearings_participants_and_revocations(fresh_server):
    api = Api(fresh_server)
    scheduled = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    hearing = await new_hearing(api, title="kept", public=False, scheduled_at=scheduled)
    hid = hearing["id"]
    kept = await issue(api, hid, "clerk")
    removed = await issue(api, hid, "party")
    status, _, _ = await api.request(
        "POST", f"/api/hearings/{hid}/participants/{removed['participant_id']}/remove"
    )
    assert status == 200
    ended = await new_hearing(api, title="over")
    status, _, _ = await api.request("POST", f"/api/hearings/{ended['id']}/end")
    assert status == 200

    fresh_server.restart()

    status, body, _ = await api.request("GET", f"/api/hearings/{hid}")
    assert status == 200 and body == hearing
    status, body, _ = await api.request("GET", f"/api/hearings/{ended['id']}")
    assert status == 200 and body["state"] == "ended"
    status, body, _ = await api.request("GET", "/api/hearings")
    assert {hid, ended["id"]} <= {h["id"] for h in body["hearings"]}
    # a token issued before the restart still works; a revoked one is still revoked
    await issue(api, hid, "witness", auth=kept["token"])
    await expect_error(api.request("GET", f"/api/hearings/{hid}", auth=removed["token"]), 401)


LEGACY_SCHEDULES = {
    # what servers before UTC normalisation could store, and where each one sorts
    "h_legacy_offset": "2030-07-01T09:30:00+08:00",  # 01:30 UTC
    "h_legacy_date": "2030-07-01",  # no time: read as midnight UTC
    "h_legacy_naive": "2030-07-01T03:00:00",  # no offset: read as UTC
    "h_legacy_z": "2030-07-01T02:00:00-01:00",  # 03:00 UTC, after the naive one by created_at
}


async def test_hearings_stored_before_utc_normalisation_stay_readable(fresh_server):
    api = Api(fresh_server)
    fresh_server.stop()
    with sqlite3.connect(fresh_server.data_dir / "cloudcourt.db") as db:
        for n, (hid, scheduled) in enumerate(LEGACY_SCHEDULES.items()):
            created = f"2025-01-01T00:00:0{n}+00:00"
            db.execute(
                "INSERT INTO hearings (id, case_number, title, court, case_type, public,"
                " scheduled_at, state, created_at, updated_at)"
                " VALUES (?, 'c', 't', 'court', 'civil', 1, ?, 'scheduled', ?, ?)",
                (hid, scheduled, created, created),
            )
    db.close()
    fresh_server.start()
    status, listed, _ = await api.request("GET", "/api/hearings")
    assert status == 200, listed
    order = [h["id"] for h in listed["hearings"] if h["id"] in LEGACY_SCHEDULES]
    assert order == ["h_legacy_date", "h_legacy_offset", "h_legacy_naive", "h_legacy_z"]
    shown = {h["id"]: h["scheduled_at"] for h in listed["hearings"]}
    # a stored offset is shown in UTC like new records; what had none is shown as it was
    assert shown["h_legacy_offset"] == "2030-07-01T01:30:00+00:00"
    assert shown["h_legacy_date"] == "2030-07-01"
    assert shown["h_legacy_naive"] == "2030-07-01T03:00:00"
    status, one, _ = await api.request("GET", "/api/hearings/h_legacy_z")
    assert status == 200 and one["scheduled_at"] == "2030-07-01T03:00:00+00:00", one


async def test_metrics_are_prometheus_text(api):
    lines: dict[str, str] = {}

    async def reported() -> bool:
        status, text, headers = await api.request("GET", "/metrics", auth=None)
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        lines.clear()
        lines.update(line.split(" ", 1) for line in text.splitlines() if not line.startswith("#"))
        # A worker's counters come with its `load` report, once a second.
        return 'cloudcourt_sfu_decoders_created_total{worker="0"}' in lines

    await eventually(reported, 10, "the worker's first load report in /metrics")
    # prometheus-client writes every value as a float ("0.0")
    assert float(lines['cloudcourt_sfu_decoders_created_total{worker="0"}']) == 0
    assert 'cloudcourt_sfu_packets_out_total{worker="0"}' in lines
    assert "cloudcourt_sockets" in lines


# ---------------------------------------------------------------------------------- hostile input


async def raw_request(server, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], Any]:
    """Send ``head`` (request line and headers, as bytes no HTTP client would write) and ``body``;
    return the status, the headers and the JSON body of the reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head + b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    top, _, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    assert headers.get("Content-Type", "").startswith("application/json"), (status_line, headers)
    return int(status_line.split()[1]), headers, json.loads(body)


async def test_undecodable_authorization_is_401_not_500(api, server):
    hearing = await new_hearing(api)
    # (a control character never gets this far: aiohttp's parser answers 400 itself)
    for credential in (b"\xff\xfe", b"\xed\xa0\x80", "张三".encode(), b"\xc3(\xa9"):
        for method, path in (
            ("GET", "/api/hearings"),
            ("POST", "/api/hearings"),
            ("GET", f"/api/hearings/{hearing['id']}"),
            ("POST", f"/api/hearings/{hearing['id']}/tokens"),
            ("POST", f"/api/hearings/{hearing['id']}/live/start"),
            ("POST", f"/whip/{hearing['id']}"),
        ):
            status, _, body = await raw_request(
                server,
                f"{method} {path} HTTP/1.1\r\n".encode()
                + b"Authorization: Bearer "
                + credential
                + b"\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n",
                b"v=0\r\n",
            )
            assert_error(status, body, 401)
    assert "Traceback" not in server.log_text()


# Text no field can hold: lone surrogates (valid JSON escapes, but not Unicode text, so they can
# be neither stored nor sent back), control characters (no name or title has them) and bidi
# controls (which make a name or title show as something it is not, "李四\u202egpj.exe").
NOT_TEXT = (
    "\ud800",
    "\udfff 李四",
    "a\x00b",
    "line\nbreak",
    "\x1b[31mred",
    "del\x7f",
    "李四\u202egpj.exe",
    "\u2066isolated\u2069",
)


def json_text(body: object) -> bytes:
    """``body`` as JSON with lone surrogates escaped, as a hostile client would send them."""
    return json.dumps(body).encode()


async def test_text_that_is_no_text_is_400_and_never_stored(api, server):
    hearing = await new_hearing(api)
    party = await issue(api, hearing["id"], "party")
    before = (await api.request("GET", "/api/hearings"))[1]["hearings"]
    remove = f"/api/hearings/{hearing['id']}/participants/{party['participant_id']}/remove"
    tokens = f"/api/hearings/{hearing['id']}/tokens"
    for bad in NOT_TEXT:
        for field in ("case_number", "title", "court", "case_type"):
            status, body, _ = await api.request(
                "POST", "/api/hearings", data=json_text({**HEARING, field: bad})
            )
            assert field in assert_error(status, body, 400)
        for field in ("name", "site"):
            status, body, _ = await api.request(
                "POST", tokens, data=json_text({"role": "witness", "name": "n", field: bad})
            )
            assert field in assert_error(status, body, 400)
        await expect_error(api.request("POST", remove, data=json_text({"reason": bad})), 400)
    # as keys, in nested values, in values the route does not read
    for body in ({"\ud800": 1}, {**HEARING, "extra\ud800": 1}, {**HEARING, "public": ["\udc00"]}):
        await expect_error(api.request("POST", "/api/hearings", data=json_text(body)), 400)
    # unescaped: as UTF-8 bytes of a surrogate, and as UTF-16 (both of which the parser decodes)
    unescaped = json.dumps({**HEARING, "title": "\ud800"}, ensure_ascii=False)
    for raw in (
        unescaped.encode(errors="surrogatepass"),
        unescaped.encode("utf-16", "surrogatepass"),
    ):
        status, body, _ = await api.request("POST", "/api/hearings", data=raw)
        assert "title" in assert_error(status, body, 400)
    assert (await api.request("GET", "/api/hearings"))[1]["hearings"] == before
    status, _, _ = await api.request("GET", f"/api/hearings/{hearing['id']}", auth=party["token"])
    assert status == 200, "the party was removed by a refused request"
    assert "Traceback" not in server.log_text()


async def test_missing_static_and_portal_files_are_json_404(api):
    for path in ("/static/nope.js", "/static/js/nope.js", "/portal/nope.css", "/static/"):
        status, body, headers = await api.request("GET", path, auth=None)
        assert_error(status, body, 404)
        assert headers["Content-Type"].startswith("application/json"), headers
    for path in ("/static/../signaling/app.py", "/static/%2e%2e/signaling/app.py"):
        status, body, _ = await api.request("GET", path, auth=None)
        assert status == 404, (path, status, body)
    status, _, headers = await api.request("GET", "/static/css/court.css", auth=None)
    assert status == 200 and headers["Content-Type"].startswith("text/css"), headers


@pytest.mark.parametrize("path", ["/join/h_x?token=secret", "/portal/", "/portal/player.html"])
async def test_pages_keep_their_url_to_themselves_and_out_of_frames(api, path):
    status, _, headers = await api.request("GET", path, auth=None)
    assert status == 200
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = dict([*d.split(" ", 1), ""][:2] for d in headers["Content-Security-Policy"].split("; "))
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'", csp
    assert "'unsafe-inline'" not in csp.get("script-src", "") and "blob:" in csp["media-src"], csp
