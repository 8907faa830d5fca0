"""Mediation sessions (issue 15, item 3; docs/MEDIATION.md): hearings of kind ``mediation``, led
by the mediator, against a real server with real Socket.IO clients — who moderates by kind, the
judge called in, and a dispute's sessions minted over the API for those allowed only."""

from __future__ import annotations

import pytest

from tests.e2e import Api, eventually
from tests.sessions_network import fail, mediation_dispute
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


# ---------------------------------------------------------------------------------- a dispute's


async def test_a_disputes_session_seats_the_mediator_the_parties_and_the_kiosk(api: Api, clients):
    net = await mediation_dispute(api)
    did = net["dispute"]["id"]
    applicant, respondent = net["dispute"]["parties"]
    status, body, _ = await api.request(
        "POST",
        f"/api/disputes/{did}/sessions",
        json={"kiosk": True, "remote_parties": [respondent["id"]]},
        auth=net["officer"]["session"],
    )
    assert status == 201, body
    session = body["session"]
    hearing = session["hearing"]
    hid = hearing["id"]
    assert hearing["kind"] == "mediation" and hearing["dispute_id"] == did, hearing
    assert hearing["public"] is False and hearing["case_number"] == net["dispute"]["number"]
    assert "邻里纠纷调解" in hearing["title"], hearing
    seats = {(s["seat"], s["party_id"]): s for s in session["seats"]}
    assert set(seats) == {
        ("mediator", None),
        ("party", applicant["id"]),
        ("party", respondent["id"]),
        ("kiosk", None),
    }, session["seats"]
    assert seats[("mediator", None)]["account_id"] == net["mediator"]["id"]
    assert seats[("mediator", None)]["state"] == "admitted"  # a moderator never waits
    # the applicant attends at the intake site, the respondent from home
    assert seats[("party", applicant["id"])]["site"] == net["site"]["name"]
    assert seats[("party", respondent["id"])]["site"] is None
    assert (
        seats[("kiosk", None)]["role"] == "site"
        and seats[("kiosk", None)]["site_id"] == (net["site"]["id"])
    )
    assert session["judge_called"] is False
    # the officer gets the parties' and the kiosk's tokens to hand out, not the mediator's
    tokens = {t["participant_id"]: t for t in body["tokens"]}
    assert {t["seat"] for t in tokens.values()} == {"party", "kiosk"}, body["tokens"]
    assert all(f"/join/{hid}?token=" in t["join_url"] for t in body["tokens"])

    # the mediator takes theirs, and leads the session
    status, mine, _ = await api.request(
        "POST", f"/api/disputes/{did}/sessions/{hid}/token", auth=net["mediator"]["session"]
    )
    assert status == 200 and mine["seat"] == "mediator" and mine["role"] == "mediator", mine
    mediator = await clients("mediator")
    ack = await mediator.join(mine["token"])
    assert ack["state"] == "admitted" and ack["grants"]["moderate"] is True, ack
    party_token = tokens[seats[("party", applicant["id"])]["participant_id"]]
    party = await clients("applicant")
    ack = await party.join(party_token["token"])
    assert ack["state"] == "lobby" and ack["participant"]["site"] == net["site"]["name"], ack
    assert (await mediator.call("admit", {"participant_id": party.participant_id}))["ok"]
    await party.wait("admitted")

    # listed for whoever may see the dispute, without tokens
    status, listed, _ = await api.request(
        "GET", f"/api/disputes/{did}/sessions", auth=net["judge"]["session"]
    )
    assert status == 200 and [s["hearing"]["id"] for s in listed["sessions"]] == [hid], listed
    assert "token" not in str(listed["sessions"][0]["seats"])

    # the officer has no seat of their own to take a token for
    status, body, _ = await api.request(
        "POST", f"/api/disputes/{did}/sessions/{hid}/token", auth=net["officer"]["session"]
    )
    assert status == 403, body


async def test_the_liaison_judge_is_called_in_and_takes_their_own_token(api: Api, clients):
    net = await mediation_dispute(api)
    did = net["dispute"]["id"]
    status, body, _ = await api.request(
        "POST", f"/api/disputes/{did}/sessions", auth=net["mediator"]["session"]
    )
    assert status == 201, body
    hid = body["session"]["hearing"]["id"]
    # the mediator asked for the session: their own token comes with it
    mine = next(t for t in body["tokens"] if t["seat"] == "mediator")
    mediator = await clients("mediator", mine)

    # the mediator calls the judge in, but is not given the judge's token
    status, called, _ = await api.request(
        "POST", f"/api/disputes/{did}/sessions/{hid}/call-judge", auth=net["mediator"]["session"]
    )
    assert status == 200 and called["token"] is None, called
    assert called["session"]["judge_called"] is True
    seat = next(s for s in called["session"]["seats"] if s["seat"] == "judge")
    assert seat["account_id"] == net["judge"]["id"] and seat["role"] == "judge"
    # the judge takes it; calling again gives the same seat
    status, again, _ = await api.request(
        "POST", f"/api/disputes/{did}/sessions/{hid}/call-judge", auth=net["judge"]["session"]
    )
    assert status == 200 and again["token"]["participant_id"] == seat["participant_id"], again
    judge = await clients("judge", again["token"])
    assert judge.participant_id == seat["participant_id"]
    refused(await mediator.call("mute", mute(judge.participant_id)), "forbidden")
    ack = await judge.call("mute", mute(mediator.participant_id))
    assert ack["ok"], ack


async def test_sessions_only_for_those_allowed_and_while_mediating(api: Api):
    net = await mediation_dispute(api)
    other = await mediation_dispute(api, "B")
    did = net["dispute"]["id"]
    path = f"/api/disputes/{did}/sessions"
    # another site's officer, judge and mediator: 403 on everything of this dispute
    for who in ("officer", "judge", "mediator"):
        status, body, _ = await api.request("POST", path, auth=other[who]["session"])
        assert status == 403, (who, body)
        status, body, _ = await api.request("GET", path, auth=other[who]["session"])
        assert status == 403, (who, body)
    status, body, _ = await api.request("POST", path, auth=None)
    assert status == 401, body
    status, created, _ = await api.request("POST", path, auth=net["officer"]["session"])
    assert status == 201, created
    hid = created["session"]["hearing"]["id"]
    # a participant token is no account: 401
    party = next(t for t in created["tokens"] if t["seat"] == "party")
    status, body, _ = await api.request("GET", path, auth=party["token"])
    assert status == 401, body
    for who in ("officer", "mediator"):
        status, body, _ = await api.request(
            "POST", f"{path}/{hid}/call-judge", auth=other[who]["session"]
        )
        assert status == 403, (who, body)
        status, body, _ = await api.request(
            "POST", f"{path}/{hid}/token", auth=other[who]["session"]
        )
        assert status == 403, (who, body)
    # another dispute's session is not one of this dispute's
    status, theirs, _ = await api.request(
        "POST", f"/api/disputes/{other['dispute']['id']}/sessions", auth="admin"
    )
    assert status == 201, theirs
    status, body, _ = await api.request(
        "POST",
        f"{path}/{theirs['session']['hearing']['id']}/token",
        auth=net["mediator"]["session"],
    )
    assert status == 404, body

    # a mediator not yet accepted leads nothing; a failed dispute has no more sessions
    pending = await mediation_dispute(api, accepted=False)
    status, body, _ = await api.request(
        "POST", f"/api/disputes/{pending['dispute']['id']}/sessions", auth="admin"
    )
    assert status == 409 and "accept" in body["error"], body
    # ... and until they accept, its sessions are not the mediator's to run
    status, body, _ = await api.request(
        "POST",
        f"/api/disputes/{pending['dispute']['id']}/sessions",
        auth=pending["mediator"]["session"],
    )
    assert status == 403, body
    await fail(api, net)
    status, body, _ = await api.request("POST", path, auth=net["officer"]["session"])
    assert status == 409, body
