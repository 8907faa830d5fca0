"""Mediation sessions (issue 15, item 3; docs/MEDIATION.md): hearings of kind ``mediation``, led
by the mediator, against a real server with real Socket.IO clients — who moderates by kind, the
judge called in, and a dispute's sessions minted over the API for those allowed only."""

from __future__ import annotations

import pytest

from tests.e2e import Api, eventually
from tests.socket_client import client_factory, refused

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def clients(server):
    async with client_factory(server.url) as make:
        yield make


def mute(pid: str, kind: str = "audio", muted: bool = True) -> dict:
    return {"participant_id": pid, "kind": kind, "muted": muted}


# ---------------------------------------------------------------------------------- the kind


async def test_a_hearing_has_a_kind_and_a_court_hearing_is_the_default(api: Api):
    hearing = await api.create_hearing()
    assert hearing["kind"] == "hearing" and hearing["dispute_id"] is None, hearing
    mediation = await api.create_hearing(kind="mediation")
    assert mediation["kind"] == "mediation", mediation
    status, body, _ = await api.request("GET", f"/api/hearings/{mediation['id']}")
    assert status == 200 and body["kind"] == "mediation", body
    bad = {
        "case_number": "x",
        "title": "x",
        "court": "x",
        "case_type": "x",
        "public": False,
        "scheduled_at": "2026-12-01T09:00:00Z",
        "kind": "trial",
    }
    status, body, _ = await api.request("POST", "/api/hearings", json=bad)
    assert status == 400 and "kind" in body["error"], body


# ---------------------------------------------------------------------------------- who leads


async def test_the_mediator_leads_a_mediation(api: Api, clients):
    hearing = await api.create_hearing(kind="mediation")
    hid = hearing["id"]
    mediator_tok = await api.token(hid, "mediator", "调解员")
    assert mediator_tok["admitted"] is True  # a moderator never waits in the lobby
    party_tok = await api.token(hid, "party", "申请人")
    other_tok = await api.token(hid, "party", "被申请人")

    mediator = await clients("mediator")
    ack = await mediator.join(mediator_tok["token"])
    assert ack["state"] == "admitted" and ack["grants"]["moderate"] is True, ack
    # the mediator's arrival opens the session, and so its recording, as a judge's does
    assert ack["hearing"]["state"] == "in_session", ack

    async def recording() -> bool:
        status, body, _ = await api.request(
            "GET", f"/api/hearings/{hid}/recordings/state", auth=mediator_tok["token"]
        )
        assert status == 200, body
        return body["state"] == "recording"

    await eventually(recording, 10, "the mediation session is recorded")
    party = await clients("party")
    ack = await party.join(party_tok["token"])
    assert ack["state"] == "lobby" and ack["grants"]["moderate"] is False, ack
    # the mediator is told who waits, and admits them from the lobby
    await mediator.wait(
        "lobby", lambda d: [p["id"] for p in d["waiting"]] == [party.participant_id]
    )
    ack = await mediator.call("admit", {"participant_id": party.participant_id})
    assert ack["ok"] and ack["participant"]["state"] == "admitted", ack
    await party.wait("admitted")

    # mutes them; what the mediator muted the party may not lift
    ack = await mediator.call("mute", mute(party.participant_id))
    assert ack["ok"] and ack["participant"]["muted"]["audio"] is True, ack
    refused(await party.call("mute", mute(party.participant_id, muted=False)), "forbidden")
    # a party moderates nothing, not even in a mediation
    refused(await party.call("mute", mute(mediator.participant_id)), "forbidden")
    other = await clients("other")
    assert (await other.join(other_tok["token"]))["state"] == "lobby"
    refused(await party.call("admit", {"participant_id": other.participant_id}), "forbidden")
    status, body, _ = await api.request(
        "POST",
        f"/api/hearings/{hid}/participants/{other.participant_id}/admit",
        auth=party_tok["token"],
    )
    assert status == 403, body

    # over HTTP with the mediator's token too: admit, remove, issue a party's token
    status, body, _ = await api.request(
        "POST",
        f"/api/hearings/{hid}/participants/{other.participant_id}/admit",
        auth=mediator_tok["token"],
    )
    assert status == 200 and body["participant"]["state"] == "admitted", body
    await other.wait("admitted")
    status, body, _ = await api.request(
        "POST",
        f"/api/hearings/{hid}/participants/{other.participant_id}/remove",
        json={"reason": "扰乱调解秩序"},
        auth=mediator_tok["token"],
    )
    assert status == 200 and body["participant"]["state"] == "removed", body
    await other.wait("removed")
    agent = await api.token(hid, "agent", "代理人", auth=mediator_tok["token"])
    assert agent["role"] == "agent"

    # and ends the session
    ack = await mediator.call("end_hearing", {})
    assert ack["ok"] and ack["hearing"]["state"] == "ended", ack
    await party.wait("hearing_ended")


async def test_a_mediator_in_a_court_hearing_moderates_nothing(api: Api, clients):
    hearing = await api.create_hearing()
    hid = hearing["id"]
    judge_tok = await api.token(hid, "judge", "审判员")
    mediator_tok = await api.token(hid, "mediator", "特邀调解员")
    assert mediator_tok["admitted"] is False
    party_tok = await api.token(hid, "party", "原告")

    judge = await clients("judge", judge_tok)
    mediator = await clients("mediator")
    ack = await mediator.join(mediator_tok["token"])
    assert ack["state"] == "lobby" and ack["grants"]["moderate"] is False, ack
    assert (await judge.call("admit", {"participant_id": mediator.participant_id}))["ok"]
    await mediator.wait("admitted")
    party = await clients("party")
    assert (await party.join(party_tok["token"]))["state"] == "lobby"

    refused(await mediator.call("admit", {"participant_id": party.participant_id}), "forbidden")
    assert (await judge.call("admit", {"participant_id": party.participant_id}))["ok"]
    await party.wait("admitted")
    refused(await mediator.call("mute", mute(party.participant_id)), "forbidden")
    refused(await mediator.call("end_hearing", {}), "forbidden")
    status, body, _ = await api.request(
        "POST",
        f"/api/hearings/{hid}/participants/{party.participant_id}/remove",
        auth=mediator_tok["token"],
    )
    assert status == 403, body
    status, body, _ = await api.request(
        "POST",
        f"/api/hearings/{hid}/tokens",
        json={"role": "party", "name": "x"},
        auth=mediator_tok["token"],
    )
    assert status == 403, body


async def test_the_judge_called_in_outranks_the_mediator(api: Api, clients):
    hearing = await api.create_hearing(kind="mediation")
    hid = hearing["id"]
    mediator_tok = await api.token(hid, "mediator", "调解员")
    # the mediator may not mint a judge's token (nor a clerk's or another mediator's)
    for role in ("judge", "clerk", "mediator"):
        status, body, _ = await api.request(
            "POST",
            f"/api/hearings/{hid}/tokens",
            json={"role": role, "name": "x"},
            auth=mediator_tok["token"],
        )
        assert status == 403, (role, body)
    judge_tok = await api.token(hid, "judge", "联系法官")
    assert judge_tok["admitted"] is True

    mediator = await clients("mediator", mediator_tok)
    judge = await clients("judge")
    ack = await judge.join(judge_tok["token"])
    assert ack["state"] == "admitted" and ack["grants"]["moderate"] is True, ack

    refused(await mediator.call("mute", mute(judge.participant_id)), "forbidden")
    refused(await mediator.call("remove", {"participant_id": judge.participant_id}), "forbidden")
    ack = await judge.call("mute", mute(mediator.participant_id))
    assert ack["ok"] and ack["participant"]["muted"]["audio"] is True, ack
    # lifted only by a moderator who outranks the mediator: the judge
    refused(await mediator.call("mute", mute(mediator.participant_id, muted=False)), "forbidden")
    ack = await judge.call("mute", mute(mediator.participant_id, muted=False))
    assert ack["ok"] and ack["participant"]["muted"]["audio"] is False, ack
    ack = await judge.call("remove", {"participant_id": mediator.participant_id})
    assert ack["ok"] and ack["participant"]["state"] == "removed", ack
    await mediator.wait("removed")
