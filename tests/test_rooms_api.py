"""Rooms over HTTP, as a court's own system calls them (docs/API.md, docs/ROOMS.md), against a
real `cloudcourt serve`, with the participants' sockets watching what they are told."""

from __future__ import annotations

import pytest

from tests.clients.participant import Participant
from tests.e2e import Cast

pytestmark = pytest.mark.timeout(120)


async def present(cast: Cast, hearing: dict, role: str, media_id: int, **kw) -> Participant:
    """A participant in the hearing, on its socket, publishing nothing."""
    return await cast.join(hearing, role, media_id, publish=False, **kw)


async def test_rooms_over_http_with_the_moderators_authority(cast: Cast) -> None:
    api = cast.api
    hearing = await api.create_hearing()
    hid = hearing["id"]
    judge = await present(cast, hearing, "judge", 31)
    a = await present(cast, hearing, "party", 32, admitted=True)
    witness = await present(cast, hearing, "witness", 33, admitted=True)
    rooms = f"/api/hearings/{hid}/rooms"

    status, body, _ = await api.request("GET", rooms)
    assert status == 200, body
    members = {r["id"]: {m["participant_id"] for m in r["members"]} for r in body["rooms"]}
    assert members == {
        "main": {judge.participant_id, a.participant_id},
        "witness": {witness.participant_id},
    }
    assert [(r["kind"], r["name"]) for r in body["rooms"]] == [
        ("main", "主法庭"),
        ("witness", "候证室"),
    ]

    # A party, a witness, and a mediator outside a mediation may do none of it.
    mediator = await api.token(hid, "mediator", "调解员")
    for token in (a.token, witness.token, mediator["token"]):
        for method, path, payload in (
            ("GET", rooms, None),
            ("POST", rooms, {"name": "x"}),
            ("POST", f"/api/hearings/{hid}/participants/{a.participant_id}/room", {"room": "main"}),
            ("PUT", f"{rooms}/witness/watch", {"watching": False}),
            ("DELETE", f"{rooms}/r_whatever", None),
        ):
            status, body, _ = await api.request(method, path, json=payload, auth=token)
            assert status == 403 and "error" in body, (method, path, status, body)

    status, body, _ = await api.request(
        "POST", rooms, json={"name": "  调解室（甲方）  "}, auth=judge.token
    )
    assert status == 201, body
    caucus = body
    assert caucus["id"].startswith("r_") and len(caucus["id"]) == 10, caucus
    assert caucus["kind"] == "private" and caucus["name"] == "调解室（甲方）"
    assert caucus["opened_by"] == judge.participant_id and caucus["opened_at"]
    assert caucus["recorded"] is False and caucus["members"] == []
    await judge.wait_event("rooms", lambda d: caucus["id"] in {r["id"] for r in d["rooms"]})
    for bad in ({"name": ""}, {"name": "x" * 41}, {"name": "a\u202eb"}, {"name": "x", "n": 1}, {}):
        status, body, _ = await api.request("POST", rooms, json=bad)
        assert status == 400 and "error" in body, (bad, status, body)
    opened = [caucus["id"]]
    for n in range(7):
        status, body, _ = await api.request("POST", rooms, json={"name": f"room {n}"})
        assert status == 201, body
        opened.append(body["id"])
    status, body, _ = await api.request("POST", rooms, json={"name": "one too many"})
    assert status == 409 and "8" in body["error"], body

    # Moves: at once, told to the moved and to the moderators; clear errors otherwise.
    move_a = f"/api/hearings/{hid}/participants/{a.participant_id}/room"
    status, body, _ = await api.request("POST", move_a, json={"room": caucus["id"]})
    assert status == 200 and body["id"] == caucus["id"], body
    assert [m["participant_id"] for m in body["members"]] == [a.participant_id]
    told = await a.wait_event("room_changed", lambda d: d["room"]["id"] == caucus["id"])
    assert told["by"] is None and told["room"]["kind"] == "private"
    assert [p["id"] for p in told["participants"]] == [a.participant_id]
    status, body, _ = await api.request("POST", move_a, json={"room": "r_nothing1"})
    assert status == 404 and body["error"] == "room r_nothing1 is not open", body
    away = await api.token(hid, "party", "not connected", admitted=True)
    status, body, _ = await api.request(
        "POST",
        f"/api/hearings/{hid}/participants/{away['participant_id']}/room",
        json={"room": "main"},
    )
    assert status == 409, body
    status, body, _ = await api.request("POST", move_a, json={"room": 7})
    assert status == 400, body

    # Watching is a moderator's own; the admin key is nobody's.
    status, body, _ = await api.request(
        "PUT", f"{rooms}/{caucus['id']}/watch", json={"watching": True}
    )
    assert status == 400 and body["error"] == "only a participant can watch a room", body
    status, body, _ = await api.request(
        "PUT", f"{rooms}/{caucus['id']}/watch", json={"watching": True}, auth=judge.token
    )
    assert status == 200 and body["watching"] == sorted([caucus["id"], "witness"]), body

    # main and witness stay; a private room closes and its members are back in main.
    for fixed in ("main", "witness"):
        status, body, _ = await api.request("DELETE", f"{rooms}/{fixed}")
        assert status == 409, body
        assert body["error"] == "the main room and the witness room cannot be closed"
    status, body, _ = await api.request("DELETE", f"{rooms}/r_nothing1")
    assert status == 404, body
    status, body, _ = await api.request("DELETE", f"{rooms}/{caucus['id']}", auth=judge.token)
    assert status == 200 and body == {"closed": caucus["id"], "moved": [a.participant_id]}, body
    told = await a.wait_event("room_changed", lambda d: d["room"]["id"] == "main" and d["by"])
    assert told["by"] == judge.participant_id
    status, body, _ = await api.request("POST", move_a, json={"room": caucus["id"]})
    assert status == 404 and body["error"] == f"room {caucus['id']} is not open", body

    # Back to the lobby: waiting again, until admitted again (into the main room).
    status, body, _ = await api.request("POST", move_a, json={"room": "lobby"})
    assert status == 200 and body == {"room": "lobby"}, body
    await a.wait_event("room_changed", lambda d: d["room"]["id"] == "lobby")
    await judge.wait_event("lobby", lambda d: a.participant_id in {w["id"] for w in d["waiting"]})
    status, body, _ = await api.request("POST", move_a, json={"room": "main"})
    assert status == 409, body
    status, body, _ = await api.request(
        "POST",
        f"/api/hearings/{hid}/participants/{judge.participant_id}/room",
        json={"room": "lobby"},
    )
    assert status == 409 and "moderator" in body["error"], body
    await judge.admit(a.participant_id)
    admitted = await a.wait_event("admitted")
    assert admitted["room"]["id"] == "main"
    assert witness.participant_id not in {p["id"] for p in admitted["participants"]}
