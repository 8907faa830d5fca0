"""Socket.IO control events (docs/PROTOCOL.md) against a real server, without media: join, lobby,
admit, deny, remove, end, leave, mute rules, and refusals of bad input."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import socketio

from signaling.live_state import LeftReason
from signaling.schemas_socket import EVENT_PAYLOADS
from signaling.socket_events import SocketEvents
from signaling.socket_json import MALFORMED_EVENT
from tests.clients.participant import TRACK_INFO_EVENTS
from tests.e2e import Api, eventually, metric_value
from tests.signaling_server import start_server
from tests.socket_client import client_factory, hearing_and_tokens, refused

pytestmark = pytest.mark.timeout(60)

# What a socket in the lobby must never get: track information, and the hearing's state changes.
TRACK_INFO = (*TRACK_INFO_EVENTS, "hearing_state")


@pytest.fixture
async def clients(server):
    async with client_factory(server.url) as make:
        yield make


async def hearing_state(api: Api, hearing_id: str) -> str:
    status, body, _ = await api.request("GET", f"/api/hearings/{hearing_id}")
    assert status == 200, body
    return body["state"]


# ---------------------------------------------------------------------------------- lobby


async def test_lobby_then_admission_by_the_judge(api, clients):
    hearing, (judge_tok, party_tok) = await hearing_and_tokens(api, "judge", "party")
    hid = hearing["id"]
    assert await hearing_state(api, hid) == "scheduled"

    party = await clients("party")
    ack = await party.join(party_tok["token"])
    assert ack["ok"] and ack["state"] == "lobby", ack
    assert ack["participants"] == [] and ack["publications"] == []
    assert ack["participant"]["state"] == "lobby"
    assert ack["hearing"]["id"] == hid
    assert await hearing_state(api, hid) == "open"

    judge = await clients("judge")
    ack = await judge.join(judge_tok["token"])
    assert ack["state"] == "admitted" and ack["hearing"]["state"] == "in_session", ack
    assert [p["id"] for p in ack["participants"]] == [judge.participant_id]
    assert await hearing_state(api, hid) == "in_session"
    # the judge is told who waits
    await judge.wait("lobby", lambda d: [p["id"] for p in d["waiting"]] == [party.participant_id])

    # the waiting party may do nothing but wait
    refused(await party.call("publish", {"sdp": "v=0\r\n", "type": "offer"}), "not_admitted")
    refused(await party.call("admit", {"participant_id": party.participant_id}), "forbidden")
    await party.barrier()
    assert not [e for e, _ in party.events if e in TRACK_INFO], party.events

    ack = await judge.call("admit", {"participant_id": party.participant_id})
    assert ack["ok"] and ack["participant"]["state"] == "admitted", ack
    admitted = await party.wait("admitted")
    assert {p["id"] for p in admitted["participants"]} == {
        judge.participant_id,
        party.participant_id,
    }
    assert "publications" in admitted and "ice_servers" in admitted
    joined = await judge.wait("participant_joined")
    assert joined["participant"]["id"] == party.participant_id
    await judge.wait("lobby", lambda d: d["waiting"] == [])


async def test_the_lobby_wait_is_measured_at_admission(api, clients):
    """/metrics' lobby histogram gains the admitted party's wait; a pre-admitted join adds none."""
    hearing, (judge_tok, party_tok) = await hearing_and_tokens(api, "judge", "party")
    ready_tok = await api.token(hearing["id"], "party", "ready", admitted=True)

    async def lobby_waits() -> tuple[float, float]:
        _, text, _ = await api.request("GET", "/metrics", auth=None)
        count = metric_value(text, "cloudcourt_lobby_wait_seconds_count")
        total = metric_value(text, "cloudcourt_lobby_wait_seconds_sum")
        assert count is not None and total is not None, "no lobby histogram in /metrics"
        return count, total

    judge = await clients("judge", judge_tok)
    count, total = await lobby_waits()
    party = await clients("party")
    sent_join = time.monotonic()
    assert (await party.join(party_tok["token"]))["state"] == "lobby"
    in_lobby = time.monotonic()  # the server took the party in before this
    await judge.wait("lobby", lambda d: [p["id"] for p in d["waiting"]] == [party.participant_id])
    sending_admit = time.monotonic()  # and admits after this
    assert (await judge.call("admit", {"participant_id": party.participant_id}))["ok"]
    admitted = time.monotonic()
    await clients("ready", ready_tok)  # admitted before arriving: never waits
    new_count, new_total = await lobby_waits()
    assert new_count == count + 1
    assert sending_admit - in_lobby <= new_total - total <= admitted - sent_join


async def test_admission_over_http_and_pre_admitted_tokens(api, clients):
    hearing, (judge_tok, party_tok, site_tok) = await hearing_and_tokens(
        api, "judge", "party", "site"
    )
    hid = hearing["id"]
    judge = await clients("judge", judge_tok)
    party = await clients("party")
    assert (await party.join(party_tok["token"]))["state"] == "lobby"
    status, body, _ = await api.request(
        "POST", f"/api/hearings/{hid}/participants/{party.participant_id}/admit"
    )
    assert status == 200, body
    await party.wait("admitted")

    site_admitted = await api.token(hid, "site", "village site", admitted=True)
    site = await clients("site")
    ack = await site.join(site_admitted["token"])
    assert ack["state"] == "admitted", ack
    assert {p["id"] for p in ack["participants"]} >= {judge.participant_id, party.participant_id}

    # admitted before arriving: no lobby either
    status, _, _ = await api.request(
        "POST", f"/api/hearings/{hid}/participants/{site_tok['participant_id']}/admit"
    )
    assert status == 200
    late = await clients("late site")
    assert (await late.join(site_tok["token"]))["state"] == "admitted"


async def test_leaving_and_coming_back_skips_the_lobby(api, clients):
    _, (judge_tok, party_tok) = await hearing_and_tokens(api, "judge", "party")
    judge = await clients("judge", judge_tok)
    party = await clients("party", party_tok)
    await judge.call("admit", {"participant_id": party.participant_id})
    await party.wait("admitted")

    assert (await party.call("leave", {}))["ok"]
    left = await judge.wait("participant_left")
    assert left == {"participant_id": party.participant_id, "reason": "left"}
    refused(
        await party.call(
            "mute", {"participant_id": party.participant_id, "kind": "audio", "muted": True}
        ),
        "unauthorized",
    )
    # same socket, same token: straight back in
    assert (await party.join(party_tok["token"]))["state"] == "admitted"
    await judge.wait("participant_joined", lambda d: d["participant"]["state"] == "admitted")

    # a dropped connection is a leave too
    await party.close()
    await judge.wait(
        "participant_left",
        lambda d: d["participant_id"] == party.participant_id and d["reason"] == "disconnected",
    )


async def test_lobby_disconnect_updates_the_moderators(api, clients):
    _, (judge_tok, party_tok) = await hearing_and_tokens(api, "judge", "party")
    judge = await clients("judge", judge_tok)
    party = await clients("party", party_tok)
    await judge.wait("lobby", lambda d: len(d["waiting"]) == 1)
    await party.close()
    await judge.wait("lobby", lambda d: d["waiting"] == [])


# ---------------------------------------------------------------------------------- moderation


async def test_deny_disconnects_and_revokes(api, clients):
    hearing, (judge_tok, party_tok) = await hearing_and_tokens(api, "judge", "witness")
    judge = await clients("judge", judge_tok)
    party = await clients("witness", party_tok)
    ack = await judge.call("deny", {"participant_id": party.participant_id, "reason": "wrong case"})
    assert ack["ok"], ack
    assert (await party.wait("denied")) == {"reason": "wrong case"}
    await party.wait("disconnect")
    await judge.wait("lobby", lambda d: d["waiting"] == [])
    assert not [e for e, _ in party.events if e in TRACK_INFO], party.events

    again = await clients("again")
    assert "revoked" in refused(await again.join(party_tok["token"]), "unauthorized")
    # an admitted participant is removed, not denied
    admitted = await api.token(hearing["id"], "party", "in", admitted=True)
    ack = await judge.call("deny", {"participant_id": admitted["participant_id"]})
    assert "remove" in refused(ack, "conflict")


async def test_remove_over_socket_and_http(api, clients):
    hearing, (judge_tok, a_tok, b_tok) = await hearing_and_tokens(
        api, "judge", "party", "agent", admitted=True
    )
    judge = await clients("judge", judge_tok)
    a = await clients("a", a_tok)
    b = await clients("b", b_tok)

    ack = await judge.call("remove", {"participant_id": a.participant_id, "reason": "contempt"})
    assert ack["ok"] and ack["participant"]["state"] == "removed", ack
    assert (await a.wait("removed")) == {"reason": "contempt"}
    await a.wait("disconnect")
    for p in (judge, b):
        await p.wait(
            "participant_left",
            lambda d: d == {"participant_id": a.participant_id, "reason": "removed"},
        )

    status, body, _ = await api.request(
        "POST", f"/api/hearings/{hearing['id']}/participants/{b.participant_id}/remove"
    )
    assert status == 200, body
    await b.wait("removed")
    await b.wait("disconnect")
    await judge.wait("participant_left", lambda d: d["participant_id"] == b.participant_id)

    for tok in (a_tok, b_tok):
        c = await clients("returning")
        refused(await c.join(tok["token"]), "unauthorized")


async def test_end_hearing_tells_everyone_then_disconnects(api, clients):
    hearing, (judge_tok, party_tok, waiting_tok) = await hearing_and_tokens(
        api, "judge", "party", "witness"
    )
    judge = await clients("judge", judge_tok)
    party = await clients("party", party_tok)
    await judge.call("admit", {"participant_id": party.participant_id})
    waiting = await clients("waiting")
    assert (await waiting.join(waiting_tok["token"]))["state"] == "lobby"

    refused(await party.call("end_hearing", {}), "forbidden")
    ack = await judge.call("end_hearing", {})
    assert ack["ok"] and ack["hearing"]["state"] == "ended", ack
    for c in (judge, party, waiting):
        ev = await c.wait("hearing_ended")
        assert ev["hearing"]["state"] == "ended"
        await c.wait("disconnect")
    assert await hearing_state(api, hearing["id"]) == "ended"

    late = await clients("late")
    assert "ended" in refused(await late.join(judge_tok["token"]), "conflict")


async def test_clerk_moderates_but_not_the_judge(api, clients):
    _, (judge_tok, clerk_tok, party_tok) = await hearing_and_tokens(api, "judge", "clerk", "party")
    judge = await clients("judge", judge_tok)
    clerk = await clients("clerk")
    assert (await clerk.join(clerk_tok["token"]))["state"] == "admitted"
    party = await clients("party", party_tok)
    await clerk.wait("lobby", lambda d: len(d["waiting"]) == 1)
    assert (await clerk.call("admit", {"participant_id": party.participant_id}))["ok"]
    await party.wait("admitted")
    refused(await clerk.call("remove", {"participant_id": judge.participant_id}), "forbidden")
    refused(
        await clerk.call(
            "mute", {"participant_id": judge.participant_id, "kind": "audio", "muted": True}
        ),
        "forbidden",
    )
    ack = await clerk.call(
        "mute", {"participant_id": party.participant_id, "kind": "audio", "muted": True}
    )
    assert ack["participant"]["muted"] == {"audio": True, "video": False}, ack


async def test_mute_rules(api, clients):
    _, (judge_tok, a_tok, b_tok) = await hearing_and_tokens(
        api, "judge", "party", "party", admitted=True
    )
    judge = await clients("judge", judge_tok)
    a = await clients("a", a_tok)

    def mute(pid: str, kind: str, muted: bool) -> dict:
        return {"participant_id": pid, "kind": kind, "muted": muted}

    ack = await judge.call("mute", mute(a.participant_id, "audio", True))
    assert ack["participant"]["muted"] == {"audio": True, "video": False}, ack
    # what a moderator muted stays muted until a moderator lifts it
    assert "moderator" in refused(
        await a.call("mute", mute(a.participant_id, "audio", False)), "forbidden"
    )
    # one's own video is one's own business
    assert (await a.call("mute", mute(a.participant_id, "video", True)))["ok"]
    ack = await a.call("mute", mute(a.participant_id, "video", False))
    assert ack["participant"]["muted"] == {"audio": True, "video": False}, ack
    # a party cannot mute others
    refused(await a.call("mute", mute(judge.participant_id, "audio", True)), "forbidden")
    # someone arriving later sees who is muted
    b = await clients("b")
    ack = await b.join(b_tok["token"])
    listed = {p["id"]: p["muted"] for p in ack["participants"]}
    assert listed[a.participant_id] == {"audio": True, "video": False}, listed
    ack = await judge.call("mute", mute(a.participant_id, "audio", False))
    assert ack["participant"]["muted"] == {"audio": False, "video": False}


async def test_raised_hand_reaches_moderators_only_until_answered(api, clients):
    hearing, (judge_tok, a_tok, b_tok) = await hearing_and_tokens(
        api, "judge", "party", "party", admitted=True
    )
    rec_tok = await api.token(hearing["id"], "recorder", "recorder", admitted=True)
    judge = await clients("judge", judge_tok)
    a = await clients("a", a_tok)
    b = await clients("b", b_tok)
    recorder = await clients("recorder", rec_tok)
    aid = a.participant_id

    def hand(raised: bool):
        return lambda d: d == {"participant_id": aid, "raised": raised}

    # who may not publish has nothing to ask for
    refused(await recorder.call("raise_hand", {}), "forbidden")
    assert (await a.call("raise_hand", {}))["ok"]
    await judge.wait("hand_raised", hand(True))
    await b.barrier()
    await a.barrier()
    assert not b.got("hand_raised") and not a.got("hand_raised"), (a.events, b.events)
    # a party cannot dismiss another's hand; the judge can
    refused(await b.call("lower_hand", {"participant_id": aid}), "forbidden")
    refused(await judge.call("lower_hand", {}), "bad_request")
    assert (await judge.call("lower_hand", {"participant_id": aid}))["ok"]
    await judge.wait("hand_raised", hand(False))
    await a.wait("hand_raised", hand(False))  # its owner may ask again
    # a judge who comes in later is told of a standing hand
    assert (await a.call("raise_hand", {}))["ok"]
    late = await clients("late judge", await api.token(hearing["id"], "clerk", "clerk"))
    await late.wait("hand_raised", hand(True))
    # the moderator's unmute gives the floor: the hand goes down
    mute = {"participant_id": aid, "kind": "audio"}
    assert (await judge.call("mute", {**mute, "muted": True}))["ok"]
    assert (await judge.call("mute", {**mute, "muted": False}))["ok"]
    await late.wait("hand_raised", hand(False))


async def test_media_not_connecting_is_counted_and_told_to_moderators(api, clients):
    hearing, (judge_tok, a_tok) = await hearing_and_tokens(api, "judge", "party", admitted=True)
    lobby_tok = await api.token(hearing["id"], "party", "waiting")
    judge = await clients("judge", judge_tok)
    a = await clients("a", a_tok)
    waiting = await clients("waiting", lobby_tok)

    async def failures() -> float:
        _, text, _ = await api.request("GET", "/metrics", auth=None)
        return metric_value(text, "cloudcourt_media_connect_failures") or 0.0

    before = await failures()
    report = {"target": "publisher", "connected": False, "state": "failed"}
    refused(await waiting.call("media_status", report), "not_admitted")
    refused(await a.call("media_status", {**report, "target": "both"}), "bad_request")
    refused(await a.call("media_status", {**report, "state": "x\nforged"}), "bad_request")
    refused(await a.call("media_status", {**report, "connected": "no"}), "bad_request")
    assert await failures() == before
    assert (await a.call("media_status", report))["ok"]
    told = await judge.wait("media_status")
    assert told == {"participant_id": a.participant_id, **report}, told
    assert await failures() == before + 1
    assert (await a.call("media_status", {**report, "connected": True, "state": "connected"}))["ok"]
    await judge.wait("media_status", lambda d: d["connected"])
    assert await failures() == before + 1


async def test_join_names_the_hearing_and_a_token_of_another_is_refused(api, clients):
    here, (party_tok,) = await hearing_and_tokens(api, "party")
    elsewhere = await api.create_hearing()
    c = await clients("party")
    ack = await c.call("join", {"token": party_tok["token"], "hearing_id": elsewhere["id"]})
    assert "another hearing" in refused(ack, "unauthorized")
    refused(await c.call("join", {"token": party_tok["token"], "hearing_id": 7}), "bad_request")
    ack = await c.call("join", {"token": party_tok["token"], "hearing_id": here["id"]})
    assert ack["ok"] and ack["hearing"]["id"] == here["id"], ack


async def test_hidden_recorder_is_not_listed(api, clients):
    hearing, (judge_tok,) = await hearing_and_tokens(api, "judge")
    rec_tok = await api.token(hearing["id"], "recorder", "recorder", admitted=True)
    judge = await clients("judge", judge_tok)
    recorder = await clients("recorder")
    ack = await recorder.join(rec_tok["token"])
    assert ack["state"] == "admitted", ack
    assert recorder.participant_id not in {p["id"] for p in ack["participants"]}
    refused(await recorder.call("publish", {"sdp": "v=0\r\n", "type": "offer"}), "forbidden")
    await judge.barrier()
    assert not judge.got("participant_joined"), judge.events
    party_tok = await api.token(hearing["id"], "party", "p", admitted=True)
    party = await clients("party")
    ack = await party.join(party_tok["token"])
    assert recorder.participant_id not in {p["id"] for p in ack["participants"]}


async def test_second_socket_replaces_the_first(api, clients):
    _, (judge_tok, party_tok) = await hearing_and_tokens(api, "judge", "party", admitted=True)
    judge = await clients("judge", judge_tok)
    first = await clients("first", party_tok)
    second = await clients("second")
    ack = await second.join(party_tok["token"])
    assert ack["ok"] and ack["state"] == "admitted", ack
    assert (await first.wait("removed")) == {"reason": "replaced"}
    await first.wait("disconnect")
    await judge.wait(
        "participant_left",
        lambda d: d == {"participant_id": ack["participant"]["id"], "reason": "replaced"},
    )
    # the token still works: it was a replacement, not a removal
    assert (
        await second.call(
            "mute", {"participant_id": second.participant_id, "kind": "video", "muted": True}
        )
    )["ok"]


# ---------------------------------------------------------------------------------- refusals


async def test_bad_tokens_and_viewer(api, server, clients):
    hearing, (viewer_tok, judge_tok) = await hearing_and_tokens(api, "viewer", "judge")
    c = await clients("stranger")
    refused(await c.call("join", {}), "unauthorized")
    refused(await c.call("join", {"token": "not.a.jwt"}), "unauthorized")
    expired = server.expired_token(hearing["id"], judge_tok["participant_id"], "judge", jti="e")
    assert "expired" in refused(await c.call("join", {"token": expired}), "unauthorized")
    assert "viewer" in refused(await c.join(viewer_tok["token"]), "forbidden")
    err = await c.wait("error", lambda d: d["event"] == "join" and d["code"] == "forbidden")
    assert err["error"]
    # still usable after all that
    assert (await c.join(judge_tok["token"]))["ok"]
    refused(await c.join(judge_tok["token"]), "conflict")


async def test_malformed_events_are_refused_and_the_socket_stays(api, clients):
    _, (judge_tok,) = await hearing_and_tokens(api, "judge")
    c = await clients("c")
    # before join: everything but join is unauthorized
    for event in ("publish", "admit", "mute", "leave", "end_hearing", "ice_candidate"):
        refused(await c.call(event, {}), "unauthorized")
        await c.wait("error", lambda d, e=event: d["event"] == e and d["code"] == "unauthorized")
    refused(await c.call("join", "a string"), "bad_request")
    refused(await c.call("join", [1, 2]), "bad_request")
    refused(await c.call("join", {"token": "x" * (65 * 1024)}), "bad_request")
    await c.join(judge_tok["token"])
    for event, payload in (
        ("publish", {"sdp": 42, "type": "offer"}),
        ("publish", {"sdp": "v=0\r\n", "type": "answer"}),
        ("publish", {"sdp": "v=0\r\n" + "a=x\r\n" * 20000, "type": "offer"}),
        ("subscriber_answer", {}),
        ("ice_candidate", {"target": "elsewhere"}),
        ("ice_candidate", {"target": "publisher", "candidate": "a string"}),
        ("ice_candidate", {"target": "publisher", "candidate": {"candidate": 5}}),
        ("admit", {}),
        ("admit", {"participant_id": 7}),
        ("mute", {"participant_id": "p_x", "kind": "smell", "muted": True}),
        ("mute", {"participant_id": "p_x", "kind": "audio", "muted": "yes"}),
        ("remove", {"participant_id": "p_x", "reason": 12}),
        ("no_such_event", {}),
    ):
        refused(await c.call(event, payload), "bad_request")
    refused(await c.call("admit", {"participant_id": "p_nobody"}), "not_found")
    refused(await c.call("publish", {"sdp": "not sdp at all", "type": "offer"}), "sdp")
    assert c.sio.connected
    assert (
        await c.call("mute", {"participant_id": c.participant_id, "kind": "audio", "muted": True})
    )["ok"]


async def test_sockets_only_from_this_origin(server):
    foreign = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await foreign.connect(
            server.url, transports=["websocket"], headers={"Origin": "http://evil.example"}
        )
    same = socketio.AsyncClient(reconnection=False)
    await same.connect(server.url, transports=["websocket"], headers={"Origin": server.url})
    try:
        assert same.connected
    finally:
        await same.disconnect()


async def test_every_event_before_join_is_unauthorized(clients):
    c = await clients("c")
    # known events and unknown ones alike: a socket without a token learns nothing
    for event in ("no_such_event", "subscriber_answer", "deny", "remove", "Join"):
        refused(await c.call(event, {}), "unauthorized")
        await c.wait("error", lambda d, e=event: d["event"] == e and d["code"] == "unauthorized")


async def test_the_lobby_cannot_trickle_even_the_end_of_candidates(api, clients):
    _, (judge_tok, party_tok) = await hearing_and_tokens(api, "judge", "party")
    await clients("judge", judge_tok)
    party = await clients("party", party_tok)
    assert party.participant_id
    for target in ("publisher", "subscriber"):
        for candidate in (None, {"candidate": ""}, {"candidate": "candidate:1 1 udp 1 1.2.3.4 9"}):
            ack = await party.call("ice_candidate", {"target": target, "candidate": candidate})
            refused(ack, "not_admitted")
    # once admitted, the end of candidates is fine
    judge_admits = await clients("judge again", judge_tok)
    assert (await judge_admits.call("admit", {"participant_id": party.participant_id}))["ok"]
    await party.wait("admitted")
    ack = await party.call("ice_candidate", {"target": "publisher", "candidate": None})
    assert ack == {"ok": True}, ack


DEEP_ARRAY = "[" * 20000 + "]" * 20000
DEEP_OBJECT = '{"a":' * 20000 + "1" + "}" * 20000


async def test_malformed_or_deeply_nested_json_is_a_bad_request(api, clients):
    """JSON the server cannot decode still gets an ack and an error event, and the socket stays."""
    _, (judge_tok,) = await hearing_and_tokens(api, "judge")
    c = await clients("c")
    refused(await c.call_raw(f'["join",{DEEP_ARRAY}]'), "bad_request")
    await c.wait("error", lambda d: d["event"] == "join" and d["code"] == "bad_request")
    # before join, every other event is unauthorized, however malformed
    refused(await c.call_raw(f'["mute",{DEEP_ARRAY}]'), "unauthorized")

    assert (await c.join(judge_tok["token"]))["ok"]
    for text in (
        f'["mute",{DEEP_ARRAY}]',
        f'["mute",{DEEP_OBJECT}]',
        '["mute",{"participant_id": ',
        '["mute",' + "1" * 200 + "]",
    ):
        assert "JSON" in refused(await c.call_raw(text), "bad_request")
    await c.wait("error", lambda d: d["event"] == "mute" and d["code"] == "bad_request")
    assert c.sio.connected
    ack = await c.call("mute", {"participant_id": c.participant_id, "kind": "audio", "muted": True})
    assert ack["ok"], ack


PROTOCOL = (Path(__file__).parent.parent / "docs" / "PROTOCOL.md").read_text()


def client_event_table() -> dict[str, dict[str, bool]]:
    """docs/PROTOCOL.md's client → server table: event → {field: required} of its payload
    (``field?`` is optional)."""
    table = PROTOCOL.split("## Client → server", 1)[1].split("## Server → client", 1)[0]
    events = {}
    for row in table.splitlines():
        if match := re.match(r"\| `(\w+)` \| `\{([^}]*)\}`", row):
            fields = re.findall(r"(?:^|,)\s*(\w+)(\??)", match[2])
            events[match[1]] = {name: not optional for name, optional in fields}
    return events


def test_the_protocol_table_is_the_registered_events_and_their_models():
    """Every event the server handles is in the table and nothing else is, and each row names
    its payload model's fields, the optional ones with ``?``."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    SocketEvents(sio, *(None,) * 5, max_event_bytes=1, join_timeout=1).register()  # type: ignore[arg-type]
    handled = set(sio.handlers["/"]) - {"connect", "disconnect", "*"}
    table = client_event_table()
    assert set(table) == handled == set(EVENT_PAYLOADS)
    for event, fields in table.items():
        model = EVENT_PAYLOADS[event]
        wanted = {name: info.is_required() for name, info in model.model_fields.items()}
        assert fields == wanted, f"PROTOCOL.md's row of {event!r} is not its model {model}"


def test_every_participant_left_reason_is_documented():
    protocol = PROTOCOL
    row = next(line for line in protocol.splitlines() if line.startswith("| `participant_left`"))
    documented = set(re.findall(r"`(\w+)`", row.split("|")[2]))
    assert {reason.value for reason in LeftReason} <= documented, row


async def test_masking_is_announced_to_the_room_at_once(api, clients):
    hearing = await api.create_hearing(public=True)
    hid = hearing["id"]
    judge = await clients("judge", await api.token(hid, "judge", "审判员"))
    party = await clients("party", await api.token(hid, "party", "证人", admitted=True))
    status, body, _ = await api.request(
        "POST", f"/api/hearings/{hid}/participants/{party.participant_id}/mask", json={}
    )
    assert status == 200 and body["masked"] is True, body
    for client in (judge, party):
        await client.wait(
            "participant_updated",
            lambda d: d["participant"]["id"] == party.participant_id and d["participant"]["masked"],
        )


# ---------------------------------------------------------------------------------- hostile input


def event_text(event: str, payload: object) -> str:
    """An event packet's JSON with lone surrogates escaped, as a hostile client would send it."""
    return json.dumps([event, payload])


async def test_text_that_is_no_text_is_refused_in_events(api, server, clients):
    _, (judge_tok, party_tok) = await hearing_and_tokens(api, "judge", "party")
    c = await clients("c")
    for payload in ({"token": "\ud800"}, {"\udfff": 1}, {"token": ["\ud800"]}):
        assert "surrogate" in refused(await c.call_raw(event_text("join", payload)), "bad_request")
    await c.wait("error", lambda d: d["event"] == "join" and "surrogate" in d["error"])
    assert (await c.join(judge_tok["token"]))["ok"]
    party = await clients("party", party_tok)
    pid = party.participant_id
    for event, payload in (
        ("deny", {"participant_id": pid, "reason": "\ud800 adjourned"}),
        ("remove", {"participant_id": pid, "reason": "\udc00"}),
        ("admit", {"participant_id": "\ud800"}),
        ("publish", {"sdp": "v=0\r\n", "type": "offer", "sources": {"\ud800": "camera"}}),
        ("ice_candidate", {"target": "publisher", "candidate": {"candidate": "\ud800"}}),
        ("pause_subscription", {"publication_id": "\ud800", "paused": True}),
        ("mute", {"participant_id": pid, "kind": "audio", "muted": True, "\ud800": 0}),
    ):
        ack = await c.call_raw(event_text(event, payload))
        assert "surrogate" in refused(ack, "bad_request"), (event, ack)
    for reason in ("a\x00b", "line\nbreak", "\x1b[31mred", "adjourned\u202e", "\u2067x"):
        for event in ("deny", "remove"):
            ack = await c.call(event, {"participant_id": pid, "reason": reason})
            assert "reason" in refused(ack, "bad_request"), (event, ack)
    assert party.sio.connected, "the party was denied or removed by a refused event"
    assert c.sio.connected
    assert (await c.call("admit", {"participant_id": pid}))["ok"]
    assert "Traceback" not in server.log_text()


async def test_the_name_of_malformed_packets_is_no_event_for_clients(api, clients):
    """SafePacket hands a malformed packet on as the event ``MALFORMED_EVENT``, carrying what is
    wrong: a client sending that name itself is refused like any reserved name, and nothing it
    sent comes back as the error text."""
    _, (judge_tok,) = await hearing_and_tokens(api, "judge")
    c = await clients("c")
    sent = "we hereby dismiss the case " * 40
    for args in (["join", sent], ["join"], [], [sent, sent]):
        ack = await c.call_raw(json.dumps([MALFORMED_EVENT, *args]))
        assert sent not in refused(ack, "unauthorized"), ack
    assert (await c.join(judge_tok["token"]))["ok"]
    for args in (["mute", sent], ["mute"], [{"a": 1}, 2]):
        ack = await c.call_raw(json.dumps([MALFORMED_EVENT, *args]))
        error = refused(ack, "bad_request")
        assert sent not in error and "unknown event" in error, ack
    assert c.sio.connected


# Engine.IO messages that are no Socket.IO packet a client may send: not a packet type, an event
# without data, an unknown type, CONNECT_ERROR (only servers send it), binary packets (this
# protocol has none) and an ack without data.
MALFORMED_FRAMES = ("X", "2", "22", "9", "4", "5x", "6", "3", "2/", "2-", "7{")


async def test_malformed_frames_are_one_short_log_line(server, clients):
    c = await clients("never joins")
    mark = len(server.log_text())
    for _ in range(20):
        for frame in MALFORMED_FRAMES:
            await c.sio.eio.send(frame)
    await c.barrier()
    assert c.sio.connected

    def malformed_lines() -> list[str]:
        return [x for x in server.log_text()[mark:].splitlines() if "malformed" in x.lower()]

    await eventually(malformed_lines, 5, "a log line about the malformed packets")
    logged = malformed_lines()
    log = server.log_text()[mark:]
    assert "Traceback" not in log, log
    assert 1 <= len(logged) <= 2, logged
    assert all(len(line) < 300 for line in log.splitlines()), log


async def test_a_socket_that_never_joins_is_disconnected(tmp_path):
    srv = start_server(tmp_path / "server", env={"CLOUDCOURT_JOIN_TIMEOUT": "1"})
    try:
        api = Api(srv)
        _, (judge_tok, clerk_tok) = await hearing_and_tokens(api, "judge", "clerk")
        async with client_factory(srv.url) as make:
            started = time.monotonic()
            idle = await make("idle")
            judge = await make("judge", judge_tok)
            clerk = await make("clerk", clerk_tok)
            assert (await clerk.call("leave", {}))["ok"]
            await idle.wait("disconnect", timeout=10)
            assert time.monotonic() - started >= 0.9, "disconnected before its time"
            # who left is as good as never joined: its time starts again at the leave
            await clerk.wait("disconnect", timeout=10)
            assert judge.sio.connected
            assert (
                await judge.call(
                    "mute", {"participant_id": judge.participant_id, "kind": "audio", "muted": True}
                )
            )["ok"]
        lines = [
            line for line in srv.log_text().splitlines() if "join" in line and "within" in line
        ]
        assert len(lines) == 2 and all(len(line) < 200 for line in lines), lines
        assert "Traceback" not in srv.log_text()
    finally:
        srv.stop()
