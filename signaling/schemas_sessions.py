"""Request bodies and queries of a dispute's sessions, its hearing and its filing export
(signaling/dispute_sessions_api.py; docs/MEDIATION.md, docs/FILING.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from signaling.schemas import RULE, Id, Moment, Strict, Text200, _no_default, _not_null, absent

OptionalText200 = Annotated[
    Text200 | None,
    BeforeValidator(_not_null),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200}),
]
OptionalId = Annotated[
    Id | None,
    BeforeValidator(_not_null),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 100}),
]
OptionalMoment = Annotated[
    Moment | None,
    BeforeValidator(_not_null),
    WithJsonSchema({"type": "string", "format": "date-time", "maxLength": 64}),
]
# A dispute has a handful of parties (its intake takes at most a few dozen).
MAX_PARTIES = 50


def _distinct(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise PydanticCustomError(RULE, "names a party twice")
    return ids


PartyIds = Annotated[list[Id], Field(max_length=MAX_PARTIES), AfterValidator(_distinct)]


class NewMediationSession(Strict):
    """A mediation session of the dispute. The parties take part at the intake site (their
    tokens say its name, as a kiosk's participants do) unless listed in ``remote_parties``."""

    scheduled_at: OptionalMoment = Field(
        None, description="when it is held (default: now)", json_schema_extra=_no_default
    )
    public: bool = Field(False, description="mediation is not public unless the parties agree")
    kiosk: bool = Field(False, description="also mint a token for the intake site's kiosk")
    remote_parties: PartyIds = Field(
        default_factory=list, description="ids of parties who join from their own device"
    )


class NewCourtHearing(Strict):
    """A court hearing for a filed dispute (kind ``hearing``); title and case type default to
    the dispute's."""

    case_number: Text200 = Field(description="the case number the court gave at filing (立案号)")
    court: Text200
    public: bool
    scheduled_at: Moment
    title: OptionalText200 = absent()
    case_type: OptionalText200 = absent()


class DisputeHearingLink(Strict):
    """Exactly one: an existing court hearing's id, or the fields of a new one."""

    hearing_id: OptionalId = absent()
    hearing: NewCourtHearing | None = absent()

    @model_validator(mode="after")
    def _exactly_one(self) -> DisputeHearingLink:
        if (self.hearing_id is None) == (self.hearing is None):
            raise PydanticCustomError(
                "one_of", "give exactly one of 'hearing_id' (an existing hearing) or 'hearing'"
            )
        return self


class FilingQuery(Strict):
    format: Literal["json", "zip"] = Field(
        "json", description="json: the export; zip: export.json and the evidence files"
    )
