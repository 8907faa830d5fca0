"""Disputes over the real API of a real `cloudcourt serve`, with real accounts and sites
(tests/network.py): the ladder's four routes of the seeds, scoping (403 on another site's
dispute), the state machine (409 out of order), time limits (overdue from a past received_at),
evidence (its SHA-256 round trip, a changed file refused), and an edited ladder routing only
the next intake."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from signaling.config import DB_FILE
from signaling.dispute_store import DisputeStore
from signaling.disputes import DisputeService, DisputeState
from signaling.errors import CourtError
from signaling.store import SqliteStore
from tests.e2e import Api
from tests.network import account, site

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger(__name__)

_seq = itertools.count(1)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(born: str = "19800101") -> str:
    """A citizen ID number with a right check character (GB 11643)."""
    base = f"330102{born}{next(_seq) % 1000:03d}"
    return base + "10X98765432"[sum(int(d) * w for d, w in zip(base, _WEIGHTS, strict=True)) % 11]


def party(side: str, village: str, township: str = "青山镇", **extra: Any) -> dict[str, Any]:
    return {
        "side": side,
        "name": f"当事人{next(_seq)}",
        "id_number": id_number(),
        "phone": "13812345678",
        "address": f"{township}{village}1号",
        "village": village,
        "township": township,
        "consents": {"online_mediation": True, "electronic_service": True},
        **extra,
    }


class Network:
    """Sites A and B (villages of 青山镇), a police station P, an association site S taking
    property disputes; their officers, two liaison judges, a mediator of A, the command center."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def build(self) -> Network:
        api = self.api
        self.judge_a = await account(api, "judge", "李法官")
        self.judge_b = await account(api, "judge", "王法官")
        self.officer_a = await account(api, "officer", "A村庭务")
        self.officer_b = await account(api, "officer", "B村庭务")
        self.officer_p = await account(api, "officer", "派出所民警")
        self.officer_s = await account(api, "officer", "物业协会")
        self.mediator = await account(api, "mediator", "张调解员")
        self.mediator_b = await account(api, "mediator", "B村调解员")
        self.command = await account(api, "command", "指挥中心")
        self.site_a = await site(
            api,
            kind="village",
            name="青山村云法庭",
            village="青山村",
            officer_id=self.officer_a["id"],
            liaison_judge_id=self.judge_a["id"],
            mediator_ids=[self.mediator["id"]],
        )
        self.site_b = await site(
            api,
            kind="village",
            name="白水村云法庭",
            village="白水村",
            officer_id=self.officer_b["id"],
            liaison_judge_id=self.judge_b["id"],
            mediator_ids=[self.mediator_b["id"]],
        )
        self.police = await site(
            api,
            kind="police",
            name="青山派出所",
            officer_id=self.officer_p["id"],
            liaison_judge_id=self.judge_a["id"],
        )
        self.association = await site(
            api,
            kind="association",
            name="物业纠纷调解委员会",
            officer_id=self.officer_s["id"],
            liaison_judge_id=self.judge_b["id"],
            trades=["property"],
        )
        return self

    async def intake(
        self, officer: dict[str, Any], site_id: str, parties: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        status, data, _ = await self.api.request(
            "POST",
            "/api/disputes",
            json={
                "intake_site_id": site_id,
                "type": "neighbour",
                "summary": "宅基地边界的围墙\n越界约半米",
                "parties": parties,
                **extra,
            },
            auth=officer["session"],
        )
        assert status == 201, (status, data)
        return dict(data)

    async def move(
        self, who: dict[str, Any] | str, dispute_id: str, to: str, reason: str | None = None
    ) -> tuple[int, Any]:
        auth = who if isinstance(who, str) else who["session"]
        payload: dict[str, Any] = {"to": to, **({"reason": reason} if reason else {})}
        status, data, _ = await self.api.request(
            "POST", f"/api/disputes/{dispute_id}/transitions", json=payload, auth=auth
        )
        return status, data


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def net(server) -> Network:
    return await Network(Api(server)).build()


# ---------------------------------------------------------------- the ladder's routes


async def test_two_residents_of_village_a_are_mediated_at_site_a(net: Network) -> None:
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    assert d["state"] == "site_mediation"
    assert d["handler"] == {"level": "site", "site_id": net.site_a["id"]}
    assert d["rule_id"] == "same-village" and d["ladder_version"] >= 1
    assert "调〔" in d["number"] and d["number"].endswith("号")
    # Personal data masked in the reply.
    p = d["parties"][0]
    assert p["id_number"][:6] == "330102" and "*" * 8 in p["id_number"]
    assert p["phone"] == "138****5678"
    assert d["summary"] == "宅基地边界的围墙\n越界约半米"


async def test_residents_of_village_a_taken_in_at_site_b_go_to_site_a(net: Network) -> None:
    d = await net.intake(
        net.officer_b,
        net.site_b["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    assert d["handler"] == {"level": "site", "site_id": net.site_a["id"]}


async def test_a_cross_village_dispute_goes_to_the_command_center(net: Network) -> None:
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "白水村")],
    )
    assert d["state"] == "site_mediation"
    assert d["handler"] == {"level": "command_center", "site_id": None}
    assert d["rule_id"] == "cross-village"
    # The command center sees it and acts on it; officer B (neither intake nor handler) not.
    status, _, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}", auth=net.command["session"]
    )
    assert status == 200
    status, body, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}", auth=net.officer_b["session"]
    )
    assert status == 403, body
    # It dispatches it to site B (分流); from then on B's officer mediates it, and sees it.
    path = f"/api/disputes/{d['id']}/dispatch"
    status, body, _ = await net.api.request(
        "POST", path, json={"site_id": net.site_b["id"]}, auth=net.officer_a["session"]
    )
    assert status == 403, body
    status, sent, _ = await net.api.request(
        "POST",
        path,
        json={"site_id": net.site_b["id"], "reason": "被申请人所在村调解"},
        auth=net.command["session"],
    )
    assert status == 200 and sent["handler"] == {"level": "site", "site_id": net.site_b["id"]}
    assert sent["state"] == "site_mediation"
    status, body, _ = await net.api.request(
        "POST", path, json={"site_id": net.site_a["id"]}, auth=net.command["session"]
    )
    assert status == 409, body  # no longer the command center's
    status, moved = await net.move(net.officer_b, d["id"], "mediated")
    assert status == 200 and moved["state"] == "mediated", moved


async def test_a_property_dispute_goes_to_the_association_site(net: Network) -> None:
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
        type="property",
    )
    assert d["handler"] == {"level": "site", "site_id": net.association["id"]}
    assert d["rule_id"] == "trade"
    # The association's officer sees it in their list.
    status, data, _ = await net.api.request("GET", "/api/disputes", auth=net.officer_s["session"])
    assert status == 200 and d["id"] in [x["id"] for x in data["disputes"]]
    # The association's liaison judge takes it up and guides it themselves.
    status, up = await net.move(
        net.judge_b, d["id"], "judge_mediation", "物业服务合同争议，法官指导"
    )
    assert status == 200 and up["judge_id"] == net.judge_b["id"], up
    status, data, _ = await net.api.request("GET", "/api/disputes", auth=net.judge_b["session"])
    assert d["id"] in [x["id"] for x in data["disputes"]]


async def test_police_intake_is_mediated_by_the_police_then_by_the_judge(net: Network) -> None:
    d = await net.intake(
        net.officer_p,
        net.police["id"],
        [party("applicant", "青山村"), party("respondent", "白水村")],
    )
    assert d["handler"] == {"level": "site", "site_id": net.police["id"]}
    assert d["rule_id"] == "police" and d["on_failure"] == "judge_mediation"
    # A failure needs its reason (SPC 2021 Art. 21).
    status, body = await net.move(net.officer_p, d["id"], "failed")
    assert status == 400 and "reason" in body["error"], body
    status, moved = await net.move(net.officer_p, d["id"], "failed", "双方对赔偿数额分歧过大")
    assert status == 200, moved
    assert moved["state"] == "judge_mediation"
    assert moved["handler"] == {"level": "judge", "site_id": net.police["id"]}
    assert moved["judge_id"] == net.judge_a["id"]
    # The police officer has no say in the judge's mediation; the judge has.
    status, body = await net.move(net.officer_p, d["id"], "failed", "again")
    assert status == 403, body
    status, failed = await net.move(net.judge_a, d["id"], "failed", "指导调解仍未达成一致")
    assert status == 200 and failed["state"] == "failed", failed
    status, data, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}/events", auth=net.judge_a["session"]
    )
    assert status == 200
    moves = [(e["from_state"], e["to_state"]) for e in data["events"]]
    assert moves == [
        (None, "intake"),
        ("intake", "site_mediation"),
        ("site_mediation", "judge_mediation"),
        ("judge_mediation", "failed"),
    ]
    police_failure = data["events"][2]
    assert police_failure["reason"] == "双方对赔偿数额分歧过大"
    assert police_failure["detail"]["failed_step"] == "site_mediation"
    assert police_failure["actor"].endswith(f"({net.officer_p['id']})")
    # Filed by the officer of the intake site, then heard (scheduled by the judge), closed.
    status, filed = await net.move(net.officer_p, d["id"], "filed")
    assert status == 200 and filed["state"] == "filed", filed
    # Scheduled only with the hearing it is scheduled for (docs/MEDIATION.md), never bare.
    status, body = await net.move(net.judge_a, d["id"], "hearing_scheduled")
    assert status == 409 and f"/api/disputes/{d['id']}/hearing" in body["error"], body
    hearing = {
        "case_number": "(2026)青0102民初88号",
        "court": "青山区人民法院",
        "public": False,
        "scheduled_at": "2026-12-20T09:00:00+08:00",
    }
    link = f"/api/disputes/{d['id']}/hearing"
    status, body, _ = await net.api.request(
        "POST", link, json={"hearing": hearing}, auth=net.officer_p["session"]
    )
    assert status == 403, body
    status, body, _ = await net.api.request(
        "POST", link, json={"hearing": hearing}, auth=net.judge_a["session"]
    )
    assert status in (200, 201), body
    status, heard, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}", auth=net.judge_a["session"]
    )
    assert status == 200 and heard["state"] == "hearing_scheduled", heard


# ---------------------------------------------------------------- scoping


async def test_an_officer_of_site_a_cannot_see_or_act_on_site_b_disputes(net: Network) -> None:
    d = await net.intake(
        net.officer_b,
        net.site_b["id"],
        [party("applicant", "白水村"), party("respondent", "白水村")],
    )
    assert d["handler"]["site_id"] == net.site_b["id"]
    for path in ("", "/events", "/evidence"):
        status, body, _ = await net.api.request(
            "GET", f"/api/disputes/{d['id']}{path}", auth=net.officer_a["session"]
        )
        assert status == 403, (path, body)
    status, body = await net.move(net.officer_a, d["id"], "judge_mediation", "越权")
    assert status == 403, body
    status, data, _ = await net.api.request("GET", "/api/disputes", auth=net.officer_a["session"])
    assert status == 200 and d["id"] not in [x["id"] for x in data["disputes"]]
    # Nor take in at site B.
    status, body, _ = await net.api.request(
        "POST",
        "/api/disputes",
        json={
            "intake_site_id": net.site_b["id"],
            "type": "family",
            "summary": "x",
            "parties": [party("applicant", "白水村"), party("respondent", "白水村")],
        },
        auth=net.officer_a["session"],
    )
    assert status == 403, body


async def test_a_judge_sees_only_their_sites_disputes(net: Network) -> None:
    in_b = await net.intake(
        net.officer_b,
        net.site_b["id"],
        [party("applicant", "白水村"), party("respondent", "白水村")],
    )
    in_a = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    status, data, _ = await net.api.request("GET", "/api/disputes", auth=net.judge_a["session"])
    assert status == 200
    seen = {x["id"] for x in data["disputes"]}
    assert in_a["id"] in seen and in_b["id"] not in seen
    sites = {net.site_a["id"], net.police["id"]}
    assert all(
        x["intake_site_id"] in sites or x["handler"]["site_id"] in sites for x in data["disputes"]
    )
    status, _, _ = await net.api.request(
        "GET", f"/api/disputes/{in_b['id']}", auth=net.judge_a["session"]
    )
    assert status == 403
    # The liaison judge takes one of their site's disputes up.
    status, up = await net.move(net.judge_a, in_a["id"], "judge_mediation", "案情复杂，法官指导")
    assert (
        status == 200 and up["state"] == "judge_mediation" and up["judge_id"] == net.judge_a["id"]
    )
    # The mediator sees only what they mediate.
    status, data, _ = await net.api.request("GET", "/api/disputes", auth=net.mediator["session"])
    assert status == 200 and data["disputes"] == []


# ---------------------------------------------------------------- the state machine


async def test_transitions_out_of_order_are_refused(net: Network) -> None:
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    for to in ("filed", "hearing_scheduled", "closed", "intake", "site_mediation"):
        status, body = await net.move("admin", d["id"], to, "试一试")
        assert status == 409, (to, body)
        assert "site_mediation" in body["error"]
    status, body = await net.move("admin", d["id"], "judge_mediation")
    assert status == 400 and "reason" in body["error"]
    status, _ = await net.move(net.officer_a, d["id"], "mediated")
    assert status == 200
    status, body = await net.move(net.officer_a, d["id"], "failed", "反悔")
    assert status == 409, body
    status, closed = await net.move(net.officer_a, d["id"], "closed")
    assert status == 200 and closed["state"] == "closed"
    status, body = await net.move("admin", d["id"], "mediated")
    assert status == 409 and "closed" in body["error"]


async def test_mediator_appointment_and_answer(net: Network) -> None:
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    path = f"/api/disputes/{d['id']}/mediator"
    # Site B's mediator is not one of site A's.
    status, body, _ = await net.api.request(
        "POST", path, json={"mediator_id": net.mediator_b["id"]}, auth=net.officer_a["session"]
    )
    assert status == 400, body
    status, body, _ = await net.api.request(
        "POST", path, json={"mediator_id": net.mediator["id"]}, auth=net.officer_b["session"]
    )
    assert status == 403, body
    status, appointed, _ = await net.api.request(
        "POST", path, json={"mediator_id": net.mediator["id"]}, auth=net.officer_a["session"]
    )
    assert status == 200 and appointed["mediator_status"] == "appointed", appointed
    limits = {x["limit"]: x for x in appointed["deadlines"]}
    assert limits["mediator_appointment"]["status"] == "met"
    assert limits["mediator_answer"]["status"] == "running"
    # Only the appointed mediator answers; a decline needs its reason.
    status, body, _ = await net.api.request("POST", f"{path}/accept", auth=net.officer_a["session"])
    assert status == 403, body
    status, body, _ = await net.api.request(
        "POST", f"{path}/decline", json={}, auth=net.mediator["session"]
    )
    assert status == 400, body
    status, declined, _ = await net.api.request(
        "POST",
        f"{path}/decline",
        json={"reason": "与当事人系亲属，应当回避"},
        auth=net.mediator["session"],
    )
    assert status == 200 and declined["mediator_status"] == "declined", declined
    status, _, _ = await net.api.request(
        "POST", path, json={"mediator_id": net.mediator["id"]}, auth=net.officer_a["session"]
    )
    assert status == 200
    status, accepted, _ = await net.api.request(
        "POST", f"{path}/accept", auth=net.mediator["session"]
    )
    assert status == 200 and accepted["mediator_status"] == "accepted", accepted
    status, body, _ = await net.api.request("POST", f"{path}/accept", auth=net.mediator["session"])
    assert status == 409, body
    # The mediator now sees it, and records the outcome.
    status, data, _ = await net.api.request("GET", "/api/disputes", auth=net.mediator["session"])
    assert [x["id"] for x in data["disputes"]] == [d["id"]]
    status, mediated = await net.move(net.mediator, d["id"], "mediated")
    assert status == 200, mediated
    status, data, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}/events", auth=net.officer_a["session"]
    )
    actions = [e["detail"].get("action") for e in data["events"]]
    assert actions.count("mediator_appointed") == 2
    assert "mediator_declined" in actions and "mediator_accepted" in actions
    decline = next(e for e in data["events"] if e["detail"].get("action") == "mediator_declined")
    assert decline["reason"] == "与当事人系亲属，应当回避"


async def test_a_mediator_who_declined_loses_the_dispute(net: Network) -> None:
    """Seeing a dispute needs a standing appointment (appointed or accepted); adding evidence
    needs an accepted one. Once declined, the mediator gets 403 and no longer lists it."""
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    path = f"/api/disputes/{d['id']}"
    mediator = net.mediator["session"]
    status, body, _ = await net.api.request(
        "POST",
        f"{path}/mediator",
        json={"mediator_id": net.mediator["id"]},
        auth=net.officer_a["session"],
    )
    assert status == 200, body
    assert (await net.api.request("GET", path, auth=mediator))[0] == 200
    note = [("调解笔录.txt", "笔录".encode(), "text/plain")]
    status, body = await _upload(net.api, mediator, d["id"], note)
    assert status == 403, body  # not accepted yet
    status, body, _ = await net.api.request(
        "POST", f"{path}/mediator/decline", json={"reason": "工作冲突"}, auth=mediator
    )
    assert status == 200 and body["mediator_status"] == "declined", body
    for url in (path, f"{path}/events", f"{path}/evidence"):
        status, body, _ = await net.api.request("GET", url, auth=mediator)
        assert status == 403, (url, body)
    status, body = await _upload(net.api, mediator, d["id"], note)
    assert status == 403, body
    status, listed, _ = await net.api.request("GET", "/api/disputes", auth=mediator)
    assert status == 200 and d["id"] not in [x["id"] for x in listed["disputes"]]
    status, listed, _ = await net.api.request(
        "GET", f"{path}/evidence", auth=net.officer_a["session"]
    )
    assert listed["evidence"] == []


async def test_a_note_is_logged_in_the_history_and_moves_nothing(net: Network, server) -> None:
    """DisputeService.note (for a refused agreement or confirmation, signaling/signing*): an
    event from a state to the same state, shown in the dispute's events; on a failed dispute
    it is not taken for the failure record. Called in-process on the server's own database
    (a second connection to it, as a second server process would be)."""
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    status, body = await net.move(net.officer_a, d["id"], "failed", "双方分歧过大")
    assert status == 200 and body["state"] == "failed", body
    store = await SqliteStore.open(Path(server.data_dir) / DB_FILE)
    try:
        service = DisputeService(DisputeStore(store), lambda: None)  # type: ignore[arg-type,return-value]
        event = await service.note(
            d["id"], "李法官", "司法确认申请不予受理：协议未经双方签名", {"action": "refused"}
        )
        assert (event.from_state, event.to_state) == (DisputeState.FAILED, DisputeState.FAILED)
        with pytest.raises(CourtError) as refused:
            await service.note(d["id"], "李法官", "  ")
        assert refused.value.http_status == 400
        with pytest.raises(CourtError) as missing:
            await service.note("d_0000000000000000", "李法官", "x")
        assert missing.value.http_status == 404
        failure = await service.failure_record(d["id"])
        assert failure is not None and failure.reason == "双方分歧过大"
    finally:
        await store.close()
    status, data, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}/events", auth=net.officer_a["session"]
    )
    assert status == 200
    last = data["events"][-1]
    assert (last["from_state"], last["to_state"]) == ("failed", "failed")
    assert last["reason"] == "司法确认申请不予受理：协议未经双方签名"
    assert last["detail"] == {"action": "refused"} and last["actor"] == "李法官"
    assert last["seq"] == event.seq
    status, shown, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}", auth=net.officer_a["session"]
    )
    assert shown["state"] == "failed"


# ---------------------------------------------------------------- time limits


async def test_a_dispute_past_its_time_limit_shows_as_overdue(net: Network) -> None:
    long_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    old = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
        received_at=long_ago,
    )
    assert {x["limit"] for x in old["overdue"]} == {"mediator_appointment", "mediation_conclusion"}
    new = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    assert new["overdue"] == []
    assert {x["status"] for x in new["deadlines"]} == {"running"}
    status, data, _ = await net.api.request(
        "GET", "/api/disputes?overdue=1", auth=net.officer_a["session"]
    )
    assert status == 200
    ids = [x["id"] for x in data["disputes"]]
    assert old["id"] in ids and new["id"] not in ids
    assert all(x["overdue"] for x in data["disputes"])
    status, body, _ = await net.api.request(
        "POST",
        "/api/disputes",
        json={
            "intake_site_id": net.site_a["id"],
            "type": "family",
            "summary": "x",
            "received_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
            "parties": [party("applicant", "青山村"), party("respondent", "青山村")],
        },
        auth=net.officer_a["session"],
    )
    assert status == 400 and "future" in body["error"], body


async def test_intake_refuses_a_wrong_id_number_and_missing_address(net: Network) -> None:
    good = party("applicant", "青山村")
    wrong = dict(
        good, id_number=good["id_number"][:-1] + ("0" if good["id_number"][-1] != "0" else "1")
    )
    no_address = {k: v for k, v in party("respondent", "青山村").items() if k != "address"}
    for parties, word in (
        ([wrong, party("respondent", "青山村")], "check"),
        ([good, no_address], "address"),
    ):
        status, body, _ = await net.api.request(
            "POST",
            "/api/disputes",
            json={
                "intake_site_id": net.site_a["id"],
                "type": "family",
                "summary": "x",
                "parties": parties,
            },
            auth=net.officer_a["session"],
        )
        assert status == 400 and word in body["error"], body


# ---------------------------------------------------------------- evidence


async def _upload(api: Api, auth: str, dispute_id: str, files: list[tuple[str, bytes, str]]):
    form = aiohttp.FormData()
    for name, data, media_type in files:
        form.add_field("file", data, filename=name, content_type=media_type)
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            api.abs(f"/api/disputes/{dispute_id}/evidence"),
            data=form,
            headers={"Authorization": f"Bearer {auth}"},
        ) as r,
    ):
        return r.status, await r.json()


async def test_evidence_round_trip_with_its_sha256(net: Network, server) -> None:
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    photo = bytes(range(256)) * 1000
    note = "借条：今借到人民币伍万元整。".encode()
    status, data = await _upload(
        net.api,
        net.officer_a["session"],
        d["id"],
        [("现场照片.jpg", photo, "image/jpeg"), ("C:\\fakepath\\借条.txt", note, "text/plain")],
    )
    assert status == 201, data
    items = data["evidence"]
    assert [i["filename"] for i in items] == ["现场照片.jpg", "借条.txt"]
    assert items[0]["sha256"] == hashlib.sha256(photo).hexdigest()
    assert items[0]["size"] == len(photo) and items[0]["media_type"] == "image/jpeg"
    status, listed, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}/evidence", auth=net.judge_a["session"]
    )
    assert status == 200 and [i["sha256"] for i in listed["evidence"]] == [
        hashlib.sha256(photo).hexdigest(),
        hashlib.sha256(note).hexdigest(),
    ]
    url = net.api.abs(f"/api/disputes/{d['id']}/evidence/{items[0]['id']}")
    headers = {"Authorization": f"Bearer {net.officer_a['session']}"}
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
        assert r.status == 200
        got = await r.read()
        assert got == photo
        digest = b64encode(hashlib.sha256(photo).digest()).decode()
        assert r.headers["Repr-Digest"] == f"sha-256=:{digest}:"
        assert "attachment" in r.headers["Content-Disposition"]
        assert r.headers["Content-Type"] == "image/jpeg"
    # Another site's officer may neither read nor add.
    async with (
        aiohttp.ClientSession() as s,
        s.get(url, headers={"Authorization": f"Bearer {net.officer_b['session']}"}) as r,
    ):
        assert r.status == 403
    status, data = await _upload(
        net.api, net.officer_b["session"], d["id"], [("x.txt", b"x", "text/plain")]
    )
    assert status == 403, data
    # A file changed on the server's disk is refused, not served as evidence.
    stored = Path(server.data_dir) / "evidence" / d["id"] / items[1]["sha256"]
    assert stored.read_bytes() == note
    stored.write_bytes(note.replace("伍万".encode(), "伍拾万".encode()))
    status, body, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}/evidence/{items[1]['id']}", auth=net.officer_a["session"]
    )
    assert status == 409 and "SHA-256" in body["error"], body
    assert "hashes to" in server.log_text()


async def test_evidence_upload_refuses_what_is_no_file(net: Network) -> None:
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    status, body, _ = await net.api.request(
        "POST",
        f"/api/disputes/{d['id']}/evidence",
        json={"file": "x"},
        auth=net.officer_a["session"],
    )
    assert status == 400 and "multipart" in body["error"], body
    form = aiohttp.FormData()
    form.add_field("note", "just text")
    form.add_field("f", b"x", filename="a.txt")
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            net.api.abs(f"/api/disputes/{d['id']}/evidence"),
            data=form,
            headers={"Authorization": f"Bearer {net.officer_a['session']}"},
        ) as r,
    ):
        assert r.status == 400, await r.text()
    status, listed, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}/evidence", auth=net.officer_a["session"]
    )
    assert listed["evidence"] == []  # all or nothing


async def test_a_malformed_multipart_body_is_a_400_and_nothing_is_recorded(
    net: Network, server
) -> None:
    """Part headers aiohttp's parser refuses (a line without ':', a line of 200 KB): 400 with a
    sentence, not 500, and no file kept."""
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    path = f"/api/disputes/{d['id']}/evidence"
    headers = {"Content-Type": "multipart/form-data; boundary=XX"}
    for name, raw in (
        ("no colon", b"Content-Disposition form-data filename=a"),
        ("a long line", b"X-Filler: " + b"a" * 200_000),
    ):
        payload = (
            b"--XX\r\n" + raw + b'\r\nContent-Disposition: form-data; name="f"; '
            b'filename="a.txt"\r\n\r\nx\r\n--XX--\r\n'
        )
        status, body, _ = await net.api.request(
            "POST", path, data=payload, headers=headers, auth=net.officer_a["session"]
        )
        assert status == 400 and "malformed" in body["error"], (name, status, body)
        assert len(body["error"]) < 300, name
    status, listed, _ = await net.api.request("GET", path, auth=net.officer_a["session"])
    assert status == 200 and listed["evidence"] == []
    folder = Path(server.data_dir) / "evidence" / d["id"]
    assert not folder.exists() or list(folder.iterdir()) == []


# ---------------------------------------------------------------- the ladder, edited


async def test_an_edited_ladder_changes_routing_of_the_next_intake_only(net: Network) -> None:
    residents = [party("applicant", "青山村"), party("respondent", "青山村")]
    before = await net.intake(net.officer_a, net.site_a["id"], residents)
    assert before["handler"]["level"] == "site"
    status, ladder, _ = await net.api.request("GET", "/api/ladder", auth=net.officer_a["session"])
    assert status == 200 and ladder["rules"][0]["id"] == "police"
    status, body, _ = await net.api.request(
        "PUT", "/api/ladder", json={"rules": ladder["rules"]}, auth=net.officer_a["session"]
    )
    assert status == 403, body
    status, body, _ = await net.api.request(
        "PUT",
        "/api/ladder",
        json={"rules": [{"id": "x", "label": "x", "to": "intake_site", "when": {"colour": "red"}}]},
    )
    assert status == 400 and "colour" in body["error"], body
    # Neighbour disputes go to the command center first, from now on.
    rules = [
        {
            "id": "neighbours",
            "label": "邻里纠纷先交指挥中心",
            "when": {"type": ["neighbour"]},
            "to": "command_center",
        },
        *ladder["rules"],
    ]
    status, edited, _ = await net.api.request(
        "PUT", "/api/ladder", json={"rules": rules, "note": "试行：邻里纠纷统一调度"}
    )
    assert status == 200, edited
    assert edited["version"] == ladder["version"] + 1 and edited["changed_by"] == "admin key"
    assert [h["version"] for h in edited["history"]][-2:] == [ladder["version"], edited["version"]]
    after = await net.intake(net.officer_a, net.site_a["id"], residents)
    assert after["handler"]["level"] == "command_center"
    assert (after["rule_id"], after["ladder_version"]) == ("neighbours", edited["version"])
    status, again, _ = await net.api.request(
        "GET", f"/api/disputes/{before['id']}", auth=net.officer_a["session"]
    )
    assert (
        again["handler"] == before["handler"]
        and again["ladder_version"] == before["ladder_version"]
    )
    # Every version is kept whole: the one that routed `before` can still be read.
    status, old, _ = await net.api.request(
        "GET", f"/api/ladder?version={before['ladder_version']}", auth=net.judge_a["session"]
    )
    assert status == 200 and old["rules"] == ladder["rules"], old
    status, _, _ = await net.api.request(
        "GET", "/api/ladder?version=999", auth=net.judge_a["session"]
    )
    assert status == 404
    # Put the default back for the other tests of this module.
    status, _, _ = await net.api.request("PUT", "/api/ladder", json={"rules": ladder["rules"]})
    assert status == 200


async def test_an_evidence_file_over_the_limit_is_refused_and_not_kept(
    net: Network, server
) -> None:
    d = await net.intake(
        net.officer_a,
        net.site_a["id"],
        [party("applicant", "青山村"), party("respondent", "青山村")],
    )
    big = b"\0" * (50 * 1024 * 1024 + 1)  # the server's client_max_size is far less: streamed
    status, data = await _upload(
        net.api, net.officer_a["session"], d["id"], [("录像.mp4", big, "video/mp4")]
    )
    assert status == 413 and "50 MiB" in data["error"], data
    folder = Path(server.data_dir) / "evidence" / d["id"]
    assert list(folder.iterdir()) == []
    status, listed, _ = await net.api.request(
        "GET", f"/api/disputes/{d['id']}/evidence", auth=net.officer_a["session"]
    )
    assert listed["evidence"] == []


async def test_two_moves_at_once_give_one_move_and_one_conflict(net: Network) -> None:
    for _ in range(3):
        d = await net.intake(
            net.officer_a,
            net.site_a["id"],
            [party("applicant", "青山村"), party("respondent", "青山村")],
        )
        results = await asyncio.gather(
            net.move(net.officer_a, d["id"], "mediated"),
            net.move("admin", d["id"], "failed", "同时操作"),
        )
        assert sorted(status for status, _ in results) == [200, 409], results
        _, data, _ = await net.api.request(
            "GET", f"/api/disputes/{d['id']}/events", auth=net.officer_a["session"]
        )
        assert [e["to_state"] for e in data["events"]][2:] in (["mediated"], ["failed"])
