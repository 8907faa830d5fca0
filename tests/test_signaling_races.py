"""Races and leaks of the control plane against a real server: joins racing the end of a hearing,
live state left behind by ended or idle hearings, caps on playbacks, tokens expiring while in use.

Each test that counts rooms, peers or live hearings has a server of its own, so nothing another
test left running can blur the count.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiortc import RTCSessionDescription

from signaling.live_state import MAX_WHEPS_PER_PARTICIPANT as MAX_WHEPS
from signaling.tokens import LEEWAY_SECONDS
from tests.clients.whep import WhepClient, http_delete, post_sdp
from tests.e2e import Api, Cast, eventually, metric_value
from tests.socket_client import client_factory, hearing_and_tokens, refused

pytestmark = pytest.mark.timeout(90)

ROUNDS = 6
JOINERS = 8
MEDIALESS_OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def sfu_counts(api: Api) -> tuple[float | None, float | None]:
    text = await api.metrics()
    return metric_value(text, "cloudcourt_sfu_rooms"), metric_value(text, "cloudcourt_sfu_peers")


async def sfu_counts_become(api: Api, expected: tuple[float, float]) -> None:
    """The SFU's rooms and peers in /metrics reach ``expected``: a worker process reports them
    once a second, so the figures may lag the last call by that much."""
    seen: list[tuple[float | None, float | None]] = []

    async def reached() -> bool:
        seen.append(await sfu_counts(api))
        return seen[-1] == expected

    await eventually(reached, 5, f"SFU rooms and peers {expected}", detail=lambda: f"{seen[-1]}")


async def test_end_racing_joins_leaves_no_room_behind(fresh_server):
    """Joins that wait for the hearing's lock while it ends must not open a new SFU room for it:
    each either is refused with ``conflict`` or was in before the end and is told it ended."""
    api = Api(fresh_server)
    async with client_factory(fresh_server.url) as make:
        for _ in range(ROUNDS):
            hearing, tokens = await hearing_and_tokens(api, *["judge"] * JOINERS)
            joiners = [await make(f"judge-{i}") for i in range(JOINERS)]
            end = api.request("POST", f"/api/hearings/{hearing['id']}/end")
            *acks, (status, body, _) = await asyncio.gather(
                *(c.join(t["token"]) for c, t in zip(joiners, tokens, strict=True)), end
            )
            assert status == 200 and body["state"] == "ended", (status, body)
            for c, ack in zip(joiners, acks, strict=True):
                if ack.get("ok"):
                    await c.wait("hearing_ended")
                    await c.wait("disconnect")
                else:
                    assert "ended" in refused(ack, "conflict")
    await sfu_counts_become(api, (0, 0))
    assert (await api.health())["live_hearings"] == 0


async def live_hearings(api: Api) -> int:
    return (await api.health())["live_hearings"]


async def test_ended_or_idle_hearings_leave_no_live_state(fresh_server):
    api = Api(fresh_server)
    async with client_factory(fresh_server.url) as make:
        hearing, (judge_tok, party_tok) = await hearing_and_tokens(api, "judge", "party")
        hid = hearing["id"]
        judge = await make("judge", judge_tok)
        party = await make("party", party_tok)
        assert await live_hearings(api) == 1

        # refusals about someone unknown, or in a hearing that does not exist, keep nothing
        empty, _ = await hearing_and_tokens(api)
        for path in (
            f"/api/hearings/{empty['id']}/participants/p_nobody/admit",
            f"/api/hearings/{empty['id']}/participants/p_nobody/remove",
            "/api/hearings/h_missing/participants/p_nobody/admit",
            "/api/hearings/h_missing/end",
        ):
            status, body, _ = await api.request("POST", path)
            assert status == 404, (path, status, body)
        assert await live_hearings(api) == 1

        # everyone leaves: nothing live is left, but the court's mute is remembered
        assert (await judge.call("admit", {"participant_id": party.participant_id}))["ok"]
        await party.wait("admitted")
        mute = {"participant_id": party.participant_id, "kind": "audio", "muted": True}
        assert (await judge.call("mute", mute))["ok"]
        for c in (party, judge):
            assert (await c.call("leave", {}))["ok"]
        assert await live_hearings(api) == 0
        await sfu_counts_become(api, (0, 0))
        assert (await judge.join(judge_tok["token"]))["ok"]
        ack = await party.join(party_tok["token"])
        assert ack["state"] == "admitted", ack
        assert ack["participant"]["muted"] == {"audio": True, "video": False}, ack

        # the hearing ends; moderation afterwards is refused and brings nothing back to life
        status, _, _ = await api.request("POST", f"/api/hearings/{hid}/end")
        assert status == 200
        await party.wait("disconnect")
        base = f"/api/hearings/{hid}/participants/{party.participant_id}"
        for path in (f"{base}/remove", f"{base}/admit", f"/api/hearings/{hid}/end"):
            status, body, _ = await api.request("POST", path)
            assert status == 409, (path, status, body)
        assert await live_hearings(api) == 0
        await sfu_counts_become(api, (0, 0))


async def test_whep_playbacks_per_participant_are_capped(fresh_server):
    cast = Cast(fresh_server)
    players: list[WhepClient] = []
    try:
        hearing = await cast.api.create_hearing()
        judge = await cast.join(hearing, "judge", 1)
        await judge.wait_event(
            "track_published",
            lambda d: d["publication"]["participant_id"] == judge.participant_id,
            timeout=20,
        )
        viewer = await cast.api.token(hearing["id"], "party", "many screens", admitted=True)

        def player() -> WhepClient:
            players.append(WhepClient(viewer["whep_url"], viewer["token"], name="whep"))
            return players[-1]

        for _ in range(MAX_WHEPS):
            assert await player().start() == 201
        extra = player()
        assert await extra.start(check=False) == 409
        assert str(MAX_WHEPS) in json.loads(extra.body)["error"], extra.body
        # judge's own peer + the playbacks; the refused one never became a peer
        await sfu_counts_become(cast.api, (1, 1 + MAX_WHEPS))

        # ending one makes room for another
        assert await players[0].stop() == 200
        assert await player().start() == 201
        await sfu_counts_become(cast.api, (1, 1 + MAX_WHEPS))

        # offers without any media cannot pile up peers either: refused as SDP, or capped
        other = await cast.api.token(hearing["id"], "party", "runaway", admitted=True)
        statuses = [
            (await post_sdp(other["whep_url"], other["token"], MEDIALESS_OFFER))[0]
            for _ in range(3 * MAX_WHEPS)
        ]
        assert set(statuses) <= {201, 400, 409}, statuses
        assert statuses.count(201) <= MAX_WHEPS, statuses
        # Read once the figures count the accepted ones (a worker reports once a second).
        counted: list[float] = []

        async def reported() -> bool:
            counted.append((await sfu_counts(cast.api))[1] or 0)
            return counted[-1] >= 1 + MAX_WHEPS + statuses.count(201)

        await eventually(reported, 5, "the accepted playbacks' peers", detail=lambda: f"{counted}")
        assert counted[-1] <= 1 + 2 * MAX_WHEPS, (counted[-1], statuses)
    finally:
        await asyncio.gather(*(p.stop() for p in players), return_exceptions=True)
        await cast.close()


def short_lived_token(server, hearing_id: str, participant_id: str, role: str, seconds: int) -> str:
    """A token accepted for about ``seconds`` more (the server allows LEEWAY_SECONDS of skew)."""
    return server.participant_token(
        hearing_id, participant_id, role, f"short-{participant_id}", seconds - LEEWAY_SECONDS
    )


async def test_an_expiring_token_ends_its_socket_and_whip_publish(server, cast):
    api = cast.api
    hearing, (judge_tok, party_tok, site_tok) = await hearing_and_tokens(
        api, "judge", "party", "site", admitted=True
    )
    hid = hearing["id"]
    async with client_factory(server.url) as make:
        judge = await make("judge", judge_tok)
        party = await make("party")
        short = short_lived_token(server, hid, party_tok["participant_id"], "party", 4)
        assert (await party.join(short))["state"] == "admitted"

        # a WHIP encoder with a short-lived token too
        pc = await cast.offering_peer(31)
        site_short = short_lived_token(server, hid, site_tok["participant_id"], "site", 4)
        status, headers, answer = await post_sdp(
            site_tok["whip_url"], site_short, pc.localDescription.sdp
        )
        assert status == 201, (status, answer)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await judge.wait(
            "participant_joined",
            lambda d: d["participant"]["id"] == site_tok["participant_id"],
        )

        assert (await party.wait("removed", timeout=15)) == {"reason": "expired"}
        await party.wait("disconnect")
        for pid in (party_tok["participant_id"], site_tok["participant_id"]):
            await judge.wait(
                "participant_left",
                lambda d, pid=pid: d == {"participant_id": pid, "reason": "expired"},
                timeout=15,
            )
        # the judge, whose token is good for hours, is still there
        assert judge.sio.connected and not judge.got("removed")
        # the WHIP session is gone with it
        status = await http_delete(cast.api.abs(headers["Location"]), None)
        assert status == 404


async def test_a_socket_that_disconnects_while_joining_leaves_no_ghost(tmp_path):
    """The disconnect handler runs while the join still waits for the hearing's lock: the join
    must then refuse, not register a participant nobody can reach or clean up."""
    from signaling.app import build_app
    from signaling.config import Settings
    from signaling.context import SERVICES
    from signaling.errors import CourtError

    # In-process (SFU_WORKERS 0): the test reads the SFU's own peer count right after the race.
    settings = Settings.load(
        port=18999,
        data_dir=tmp_path,
        env={"CLOUDCOURT_ADMIN_KEY": "k" * 24, "CLOUDCOURT_SFU_WORKERS": "0"},
    )
    app = await build_app(settings)
    services = app[SERVICES]
    try:
        hearing = await services.hearings.create(
            {
                "case_number": "(2026)1",
                "title": "t",
                "court": "c",
                "case_type": "civil",
                "public": False,
                "scheduled_at": "2026-12-01T09:30:00+08:00",
            }
        )
        issued = await services.hearings.issue_token(
            hearing.id, {"role": "party", "name": "甲", "admitted": True}, issuer=None
        )
        with pytest.raises(CourtError, match="disconnected while joining"):
            await services.presence.join("sid-gone", issued.token, connected=lambda: False)
        stats = services.sessions.stats()
        assert (stats["live_hearings"], stats["sockets"]) == (0, 0), stats
        assert services.worker.stats()["peers"] == 0
    finally:
        await services.worker.close()
        await services.store.close()
