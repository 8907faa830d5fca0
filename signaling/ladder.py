"""The routing ladder as data: a rule table (load, validate, evaluate) saying who mediates a
newly taken-in dispute first.

The first rule whose conditions all hold *and* whose destination exists wins (a rule "to the
village site of the parties' village" does not match where that village has no site). The
vocabulary of conditions and destinations is small and closed; a table with an unknown key, a
duplicate rule id, or a last rule that could fail to match is refused with a sentence, so an
edited table can never leave a dispute without a first rung. docs/DISPUTES.md explains the
shipped default (ladder_default.json) rule by rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic
from pydantic import Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from signaling.disputes import DisputeParty, DisputeState, DisputeType, Handler, HandlerLevel
from signaling.schemas import RULE, Strict, Text200

if TYPE_CHECKING:
    from signaling.sites import Site

SiteKindCode = Literal["township", "village", "association", "police"]
Residence = Literal["same_village", "cross_village", "cross_township"]
Destination = Literal[
    "intake_site",  # the site that took it in
    "parties_village_site",  # the village site of the one village all parties live in
    "association_site",  # an association site of the intake site's county taking the type
    "command_center",  # 诉源治理指挥中心
    "liaison_judge",  # straight to judge-guided mediation by the intake site's liaison judge
]
OnFailure = Literal["failed", "judge_mediation"]
# Destinations that exist for every intake: what the last rule must send a dispute to.
ALWAYS = frozenset({"intake_site", "command_center"})
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
MAX_RULES = 50


class When(Strict):
    """A rule's conditions; all given ones must hold, none given: always."""

    intake_site_kind: list[SiteKindCode] | None = Field(
        None, min_length=1, max_length=4, description="the intake site is of one of these kinds"
    )
    type: list[Annotated[DisputeType, pydantic.Strict(False)]] | None = Field(
        None, min_length=1, max_length=10, description="the dispute is of one of these types"
    )
    trade_site: bool | None = Field(
        None,
        description="true: an association site in the intake site's county takes the "
        "dispute's type (its trades); false: none does",
    )
    residence: Residence | None = Field(
        None,
        description="same_village: all parties live in one village; cross_village: in more "
        "than one village (or township); cross_township: in more than one township",
    )

    def empty(self) -> bool:
        return all(value is None for value in self.model_dump().values())


class Rule(Strict):
    id: RuleId = Field(description="unique in the table; disputes record the rule that routed them")
    label: Text200 = Field(description="what the rule does, for people (zh-CN)")
    when: When = When.model_validate({})  # frozen: one shared empty When is safe
    to: Destination
    on_failure: OnFailure = Field(
        "failed",
        description="what a failed first-rung mediation leads to: failed (then filing), or "
        "judge_mediation (the police ladder's second step)",
    )

    @model_validator(mode="after")
    def _sensible(self) -> Rule:
        if self.to == "liaison_judge" and self.on_failure == "judge_mediation":
            raise PydanticCustomError(
                RULE,
                f"rule {self.id} sends disputes to the liaison judge already; its on_failure "
                "cannot be judge_mediation",
            )
        return self


class Ladder(Strict):
    rules: list[Rule] = Field(min_length=1, max_length=MAX_RULES)

    @model_validator(mode="after")
    def _complete(self) -> Ladder:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise PydanticCustomError(RULE, f"rule id {rule.id} is used twice")
            seen.add(rule.id)
        last = self.rules[-1]
        if not last.when.empty() or last.to not in ALWAYS:
            raise PydanticCustomError(
                RULE,
                f"the last rule ({last.id}) must match every dispute: no conditions, and a "
                f"destination that always exists ({', '.join(sorted(ALWAYS))})",
            )
        return self


@dataclass(frozen=True, slots=True)
class LadderVersion:
    version: int
    ladder: Ladder
    changed_by: str
    changed_at: str
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at,
            "note": self.note,
            **self.ladder.model_dump(mode="json", exclude_none=True),
        }

    def summary_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at,
            "note": self.note,
            "rules": len(self.ladder.rules),
        }


@dataclass(frozen=True, slots=True)
class Route:
    """Where a rule sends a dispute: the first state, who handles it, and the rule."""

    rule_id: str
    label: str
    state: DisputeState
    handler: Handler
    judge_id: str | None
    on_failure: str

    def describe(self) -> str:
        where = self.handler.site_id or "the command center"
        return f"{self.state.value} at {self.handler.level.value} {where}"


def default_ladder() -> Ladder:
    """The table shipped with the server (package data beside this module)."""
    text = resources.files("signaling").joinpath("ladder_default.json").read_text("utf-8")
    return Ladder.model_validate(json.loads(text))


# ---------------------------------------------------------------- evaluation


def _residences(parties: Iterable[DisputeParty]) -> set[tuple[str, str]]:
    return {(p.township.strip(), p.village.strip()) for p in parties}


def _residence_holds(wanted: Residence, places: set[tuple[str, str]]) -> bool:
    if wanted == "same_village":
        return len(places) == 1
    if wanted == "cross_village":
        return len(places) > 1
    return len({township for township, _ in places}) > 1


def _trade_sites(intake: Site, sites: list[Site], kind: DisputeType) -> list[Site]:
    return sorted(
        (
            s
            for s in sites
            if s.kind.value == "association"
            and s.retired_at is None
            and s.county == intake.county
            and kind.value in s.trades
        ),
        key=lambda s: (s.created_at, s.id),
    )


def _village_site(intake: Site, sites: list[Site], places: set[tuple[str, str]]) -> Site | None:
    if len(places) != 1:
        return None
    ((township, village),) = places

    def of_village(s: Site) -> bool:
        return (
            s.kind.value == "village"
            and s.retired_at is None
            and s.county == intake.county
            and s.township == township
            and s.village == village
        )

    if of_village(intake):
        return intake
    return next(
        (s for s in sorted(sites, key=lambda s: (s.created_at, s.id)) if of_village(s)), None
    )


def _matches(
    when: When, intake: Site, sites: list[Site], kind: DisputeType, places: set[tuple[str, str]]
) -> bool:
    if when.intake_site_kind is not None and intake.kind.value not in when.intake_site_kind:
        return False
    if when.type is not None and kind not in when.type:
        return False
    if when.trade_site is not None and bool(_trade_sites(intake, sites, kind)) != when.trade_site:
        return False
    return when.residence is None or _residence_holds(when.residence, places)


def _destination(
    rule: Rule, intake: Site, sites: list[Site], kind: DisputeType, places: set[tuple[str, str]]
) -> Route | None:
    def at(site: Site) -> Route:
        return Route(
            rule.id,
            rule.label,
            DisputeState.SITE_MEDIATION,
            Handler(HandlerLevel.SITE, site.id),
            None,
            rule.on_failure,
        )

    if rule.to == "intake_site":
        return at(intake)
    if rule.to == "command_center":
        return Route(
            rule.id,
            rule.label,
            DisputeState.SITE_MEDIATION,
            Handler(HandlerLevel.COMMAND_CENTER, None),
            None,
            rule.on_failure,
        )
    if rule.to == "parties_village_site":
        village = _village_site(intake, sites, places)
        return at(village) if village is not None else None
    if rule.to == "association_site":
        trade = _trade_sites(intake, sites, kind)
        return at(trade[0]) if trade else None
    # liaison_judge
    if intake.liaison_judge_id is None:
        return None
    return Route(
        rule.id,
        rule.label,
        DisputeState.JUDGE_MEDIATION,
        Handler(HandlerLevel.JUDGE, intake.id),
        intake.liaison_judge_id,
        DisputeState.FAILED.value,
    )


def evaluate(
    ladder: Ladder,
    intake: Site,
    sites: list[Site],
    kind: DisputeType,
    parties: Iterable[DisputeParty],
) -> Route:
    """The route of the first rule that matches and whose destination exists. ``sites``: the
    network's sites (retired ones are never a destination)."""
    places = _residences(parties)
    for rule in ladder.rules:
        if _matches(rule.when, intake, sites, kind, places):
            route = _destination(rule, intake, sites, kind, places)
            if route is not None:
                return route
    # Unreachable for a validated table (its last rule always matches), kept for a table
    # written into the database by hand.
    last = ladder.rules[-1]
    return Route(
        last.id,
        last.label,
        DisputeState.SITE_MEDIATION,
        Handler(HandlerLevel.SITE, intake.id),
        None,
        DisputeState.FAILED.value,
    )
