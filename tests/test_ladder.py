"""The routing ladder as data (signaling/ladder.py): the shipped default routes the seeds'
cases, first match wins, a destination that does not exist passes to the next rule, and a table
with an unknown key, a duplicate id or a last rule that may not match is refused with a
sentence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from signaling.disputes import DisputeParty, DisputeState, DisputeType, HandlerLevel, Side
from signaling.errors import CourtError
from signaling.ladder import Ladder, default_ladder, evaluate
from signaling.schemas_disputes import LadderChange
from signaling.schemas_parse import body
from signaling.sites import Site, SiteKind

T0 = "2026-01-01T00:00:00+00:00"


def make_site(
    site_id: str,
    kind: str,
    township: str = "青山镇",
    village: str | None = None,
    *,
    county: str = "青山区",
    trades: tuple[str, ...] = (),
    judge: str | None = None,
    retired: bool = False,
) -> Site:
    return Site(
        id=site_id,
        kind=SiteKind(kind),
        name=site_id,
        county=county,
        township=township,
        village=village,
        address="地址",
        liaison_judge_id=judge,
        officer_id=None,
        mediator_ids=(),
        grid_members=(),
        equipment=(),
        trades=trades,
        retired_at=T0 if retired else None,
        created_at=T0,
        updated_at=T0,
    )


def person(village: str, township: str = "青山镇") -> DisputeParty:
    return DisputeParty(
        id="dp_x",
        side=Side.APPLICANT,
        name="甲",
        id_number="11010519491231002X",
        phone="13812345678",
        address="地址",
        village=village,
        township=township,
        consents={"online_mediation": True, "electronic_service": True},
    )


A = make_site("s_a", "village", village="青山村", judge="a_judge")
B = make_site("s_b", "village", village="白水村")
P = make_site("s_p", "police", judge="a_judge")
S = make_site("s_s", "association", trades=("property", "finance"))
TOWNSHIP = make_site("s_t", "township")
OTHER_COUNTY = make_site("s_o", "association", county="白云区", trades=("labour",))
SITES = [A, B, P, S, TOWNSHIP, OTHER_COUNTY]


def route(intake: Site, kind: str, *villages: tuple[str, str], ladder: Ladder | None = None):
    parties = [person(v, t) for t, v in villages]
    return evaluate(ladder or default_ladder(), intake, SITES, DisputeType(kind), parties)


def test_same_village_goes_to_that_village_site() -> None:
    r = route(A, "neighbour", ("青山镇", "青山村"), ("青山镇", "青山村"))
    assert (r.rule_id, r.handler.level, r.handler.site_id) == ("same-village", "site", "s_a")
    assert r.state is DisputeState.SITE_MEDIATION
    # Taken in elsewhere (the township site): still the village's own site.
    r = route(TOWNSHIP, "neighbour", ("青山镇", "白水村"), ("青山镇", "白水村"))
    assert r.handler.site_id == "s_b"


def test_a_village_without_a_site_falls_through_to_the_intake_site() -> None:
    r = route(TOWNSHIP, "family", ("青山镇", "无站村"), ("青山镇", "无站村"))
    assert (r.rule_id, r.handler.site_id) == ("otherwise", "s_t")


def test_cross_village_and_cross_township_go_to_the_command_center() -> None:
    for places in (
        (("青山镇", "青山村"), ("青山镇", "白水村")),
        (("青山镇", "青山村"), ("红河镇", "青山村")),
    ):
        r = route(A, "neighbour", *places)
        assert r.rule_id == "cross-village"
        assert (r.handler.level, r.handler.site_id) == (HandlerLevel.COMMAND_CENTER, None)


def test_a_trade_type_goes_to_the_association_site_of_the_county() -> None:
    r = route(A, "property", ("青山镇", "青山村"), ("青山镇", "青山村"))
    assert (r.rule_id, r.handler.site_id) == ("trade", "s_s")
    # The association of another county is no destination.
    r = route(A, "labour", ("青山镇", "青山村"), ("青山镇", "青山村"))
    assert r.rule_id == "same-village"


def test_police_intake_is_police_mediation_then_judge() -> None:
    r = route(P, "property", ("青山镇", "青山村"), ("红河镇", "x村"))
    assert (r.rule_id, r.handler.site_id, r.on_failure) == ("police", "s_p", "judge_mediation")


def test_first_match_wins_and_retired_sites_are_no_destination() -> None:
    table = Ladder.model_validate(
        {
            "rules": [
                {"id": "judge", "label": "x", "when": {"type": ["family"]}, "to": "liaison_judge"},
                {"id": "rest", "label": "y", "to": "intake_site"},
            ]
        }
    )
    r = route(A, "family", ("青山镇", "青山村"), ("青山镇", "青山村"), ladder=table)
    assert (r.rule_id, r.state, r.judge_id) == ("judge", DisputeState.JUDGE_MEDIATION, "a_judge")
    # B has no liaison judge: the rule's destination does not exist, so the next rule.
    r = route(B, "family", ("青山镇", "白水村"), ("青山镇", "白水村"), ladder=table)
    assert r.rule_id == "rest"
    retired = make_site("s_s", "association", trades=("property",), retired=True)
    parties = [person("青山村"), person("青山村")]
    r = evaluate(default_ladder(), A, [A, retired], DisputeType.PROPERTY, parties)
    assert r.rule_id == "same-village"


def _refusal(table: dict[str, Any]) -> str:
    with pytest.raises(CourtError) as caught:
        body(LadderChange, table)
    return caught.value.message


def test_an_invalid_table_is_refused_with_a_sentence() -> None:
    rest = {"id": "rest", "label": "y", "to": "intake_site"}
    assert "unknown field(s): rules.0.when.colour" in _refusal(
        {"rules": [{"id": "a", "label": "x", "when": {"colour": "red"}, "to": "intake_site"}, rest]}
    )
    assert "rules.0.to" in _refusal({"rules": [{"id": "a", "label": "x", "to": "moon"}, rest]})
    assert "used twice" in _refusal({"rules": [rest, rest]})
    assert "must match every dispute" in _refusal(
        {"rules": [{"id": "a", "label": "x", "to": "association_site"}]}
    )
    assert "must match every dispute" in _refusal(
        {"rules": [{"id": "a", "label": "x", "when": {"type": ["family"]}, "to": "intake_site"}]}
    )
    assert "rules.0.when.type.0" in _refusal(
        {
            "rules": [
                {"id": "a", "label": "x", "when": {"type": ["piracy"]}, "to": "intake_site"},
                rest,
            ]
        }
    )
    assert _refusal({"rules": []}).startswith("'rules' is not valid: List should have at least 1")
    assert _refusal({"rules": [rest] * 51}) == "'rules' may have at most 50 entries"


def test_the_shipped_default_is_the_documented_table() -> None:
    shipped = json.loads(
        (Path(__file__).parent.parent / "signaling" / "ladder_default.json").read_text("utf-8")
    )
    assert [r["id"] for r in shipped["rules"]] == [r.id for r in default_ladder().rules]
    docs = (Path(__file__).parent.parent / "docs" / "DISPUTES.md").read_text("utf-8")
    for rule in default_ladder().rules:
        assert f"`{rule.id}`" in docs, rule.id
