"""The request models of disputes and the routing ladder (docs/DISPUTES.md). Read with
``schemas_parse.body``/``query``; the OpenAPI document is generated from the same models."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from recorder.manifest import unrecordable
from signaling.disputes import DisputeState, DisputeType, Side
from signaling.ladder import Ladder
from signaling.schemas import (
    RULE,
    Id,
    Moment,
    OptionalReason,
    Reason,
    Strict,
    Text100,
    Text200,
    Whole,
    absent,
)

# ----------------------------------------------------------------- identity (GB 11643-1999)
_ID_NUMBER = re.compile(r"[1-9][0-9]{16}[0-9X]", re.ASCII)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number_problem(value: str) -> str | None:
    """Why ``value`` is no citizen ID number (公民身份号码, GB 11643-1999), or None: 6 digits
    of region, 8 of birth date, 3 of sequence, and a check character (ISO 7064 MOD 11-2)."""
    if not _ID_NUMBER.fullmatch(value):
        return "must be an 18-character citizen ID number (17 digits and a digit or X)"
    try:
        born = datetime.strptime(value[6:14], "%Y%m%d").date()
    except ValueError:
        return "holds no valid birth date (characters 7 to 14)"
    if born.year < 1900 or born > date.today():
        return "holds a birth date before 1900 or in the future"
    check = _CHECK[sum(int(d) * w for d, w in zip(value[:17], _WEIGHTS, strict=True)) % 11]
    if value[17] != check:
        return "has a wrong check character (the last one): a digit is likely mistyped"
    return None


def _id_number(value: str) -> str:
    value = value.strip().upper()  # a lower-case x is the same check character
    if (problem := id_number_problem(value)) is not None:
        raise PydanticCustomError(RULE, problem)
    return value


IdNumber = Annotated[str, StringConstraints(max_length=18), AfterValidator(_id_number)]

# A mainland mobile number (11 digits from 1), or a landline with its area code (0 and 9 to 11
# more digits, a hyphen allowed after the area code), as the court's service of notice uses.
_PHONE = re.compile(r"1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}", re.ASCII)


def _phone(value: str) -> str:
    value = value.strip().replace(" ", "")
    if not _PHONE.fullmatch(value):
        raise PydanticCustomError(
            RULE, "must be a mobile number (11 digits) or a landline with its area code"
        )
    return value


Phone = Annotated[str, StringConstraints(max_length=20), AfterValidator(_phone)]

MAX_SUMMARY = 4000


def _summary(value: str) -> str:
    """A summary may run over lines; any other control or bidi character is refused as for
    every text of the record (recorder.manifest.unrecordable)."""
    value = value.replace("\r\n", "\n").strip()
    if not value:
        raise PydanticCustomError(RULE, "must not be empty")
    if (problem := unrecordable(value.replace("\n", " ").replace("\t", " "))) is not None:
        raise PydanticCustomError(RULE, problem)
    return value


Summary = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_SUMMARY), AfterValidator(_summary)
]


class Consents(Strict):
    """What the party agreed to (SPC online mediation rules 2021: mediation online needs the
    parties' consent; electronic service needs it too, Civil Procedure Law Art. 90)."""

    online_mediation: bool
    electronic_service: bool


class PartyIn(Strict):
    side: Annotated[Side, Field(strict=False)]
    name: Text100
    id_number: IdNumber = Field(description="18-character citizen ID number, check digit verified")
    phone: Phone
    address: Text200 = Field(description="the service address (送达地址)")
    village: Text100
    township: Text100
    consents: Consents


# A paper intake may be entered a little later; a clock a few minutes ahead is no future.
FUTURE_SKEW = timedelta(minutes=5)


class NewDispute(Strict):
    """Intake at a site (SPC online mediation rules 2021 Art. 8: identity, summary and service
    address are required)."""

    intake_site_id: Id
    type: Annotated[DisputeType, Field(strict=False)]
    summary: Summary
    parties: list[PartyIn] = Field(min_length=2, max_length=20)
    received_at: Moment | None = Field(
        None,
        description="when a paper intake was received (not in the future); the time limits "
        "count from it. Left out: now",
    )

    @model_validator(mode="after")
    def _sides_and_time(self) -> NewDispute:
        sides = {p.side for p in self.parties}
        if sides != {Side.APPLICANT, Side.RESPONDENT}:
            raise PydanticCustomError(
                RULE, "'parties' must hold at least one applicant and one respondent"
            )
        if self.received_at is not None:
            if datetime.fromisoformat(self.received_at) > datetime.now(UTC) + FUTURE_SKEW:
                raise PydanticCustomError(RULE, "'received_at' must not be in the future")
        return self


class TransitionBody(Strict):
    to: Annotated[DisputeState, Field(strict=False)]
    reason: OptionalReason = absent()


class MediatorBody(Strict):
    mediator_id: Id


class DispatchBody(Strict):
    site_id: Id
    reason: OptionalReason = absent()


class DeclineBody(Strict):
    reason: Reason


class LadderChange(Ladder):
    """A new version of the rule table: the whole table, and why it changed."""

    note: OptionalReason = absent()

    def ladder(self) -> Ladder:
        return Ladder(rules=self.rules)


class DisputesQuery(Strict):
    state: Annotated[DisputeState, Field(strict=False)] | None = None
    site_id: Id | None = Field(None, description="taken in at or handled by this site")
    overdue: Literal["0", "1", "false", "true"] | None = Field(
        None, description="1 (or true): only disputes past a time limit"
    )

    def only_overdue(self) -> bool:
        return self.overdue in ("1", "true")


class LadderQuery(Strict):
    version: Whole | None = Field(
        None, ge=1, le=1_000_000_000, description="an earlier version (default: the one in force)"
    )
