"""The rules for what clients send, as pydantic models: every HTTP body and query string (here)
and every Socket.IO payload (``schemas_socket``). Handlers validate with ``schemas_parse.body``
and ``schemas_parse.query``; the OpenAPI components are generated from the same models
(``openapi``), so a rule is written once.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from livestream.catalog import MAX_LIMIT, parse_day
from recorder.manifest import unrecordable
from signaling.models import utc_iso
from signaling.roles import HearingKind, Role

# A lone surrogate (what JSON's "\ud800" decodes to) is no Unicode text: it can be neither stored
# (UTF-8) nor sent back in a reply. A regex, not a loop over characters: text may be 1 MiB long.
SURROGATE = re.compile("[\ud800-\udfff]")
# The error type of a rule of ours; its message is the sentence after the field's name.
RULE = "court_rule"


def _recordable(value: str) -> str:
    """The record's own rule: names, titles and reasons reach the manifest, captions, logs and
    file names, where a control character is syntax or an escape sequence and a bidi control
    makes the text show as something it is not."""
    if (problem := unrecordable(value)) is not None:
        raise PydanticCustomError(RULE, problem)
    return value


def _trimmed(value: str) -> str:
    """Stored without the spaces around it; the length is that of the text as sent, as the
    document says (a client counting its own string gets the same answer)."""
    if not (value := value.strip()):
        raise PydanticCustomError(RULE, "must not be empty")
    return value


def _length(max_length: int) -> StringConstraints:
    return StringConstraints(min_length=1, max_length=max_length)


# Text a person wrote, kept in the record: 1 to N characters, trimmed, recordable.
_TRIMMED, _RECORDABLE = AfterValidator(_trimmed), AfterValidator(_recordable)
Text200 = Annotated[str, _length(200), _TRIMMED, _RECORDABLE]
Text100 = Annotated[str, _length(100), _TRIMMED, _RECORDABLE]
# Why a participant was removed or denied, why the recording was paused or resumed.
MAX_REASON = 500
Reason = Annotated[str, _length(MAX_REASON), _TRIMMED, _RECORDABLE]
# An id of the server's (hearing, participant, publication); looked up, never stored as given.
Id = Annotated[str, StringConstraints(min_length=1, max_length=100)]

# RFC 3339's date-time, i.e. ISO 8601's extended format with everything a moment needs: a full
# date, a time of day and a UTC offset. datetime.fromisoformat alone also takes a bare date
# ("2025-03-01"), the basic format ("20250301T0930") and no offset at all; none of those says
# when a hearing starts, and a missing offset would leave the time zone to a guess.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_NOT_A_MOMENT = (
    "must be an ISO 8601 date and time with a UTC offset, "
    "e.g. 2025-03-01T09:30:00+08:00 or 2025-03-01T01:30:00Z"
)


def _utc_moment(raw: str) -> str:
    """A date and time with a UTC offset, as UTC ISO 8601 (``…+00:00``), so that stored values
    compare the same way as the moments they stand for."""
    if not _DATE_TIME.fullmatch(raw):
        raise PydanticCustomError(RULE, _NOT_A_MOMENT)
    try:
        return utc_iso(datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1] in "Zz" else raw))
    except (ValueError, OverflowError):  # 2025-02-30, 24:00, or beyond year 1..9999 in UTC
        raise PydanticCustomError(RULE, _NOT_A_MOMENT) from None


Moment = Annotated[
    str,
    _length(64),
    _TRIMMED,
    AfterValidator(_utc_moment),
    WithJsonSchema({"type": "string", "format": "date-time", "maxLength": 64}),
]


def _not_null(value: object) -> object:
    if value is None:
        raise PydanticCustomError(RULE, "must be a string (leave the field out for none)")
    return value


# An optional text field of a body: left out when there is none, never null (a client sending
# null for a boolean or a text is more likely confused than meaning "none"). The schema is the
# text's alone: absent is the only way to say none.
OptionalText100 = Annotated[
    Text100 | None,
    BeforeValidator(_not_null),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 100}),
]
OptionalReason = Annotated[
    Reason | None,
    BeforeValidator(_not_null),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_REASON}),
]


def _no_default(schema: dict[str, Any]) -> None:
    """No ``default: null`` in the document for a field that may not be null."""
    schema.pop("default", None)


def absent() -> Any:
    """The default of an optional field that may be left out but not null."""
    return Field(None, json_schema_extra=_no_default)


class Strict(BaseModel):
    """What every request model is: JSON types as they are (no "1" for 1, no 0 for false), and
    no field that is not described (a typo is refused, not ignored)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class NoFields(Strict):
    """A body (or payload) that may be absent or ``{}``, and nothing else."""


class NewHearing(Strict):
    case_number: Text200
    title: Text200
    court: Text200
    case_type: Text200
    public: bool
    scheduled_at: Moment
    # Lax for this field only (a kind arrives as its name). A mediation is led by its mediator.
    kind: HearingKind = Field(HearingKind.HEARING, strict=False)


class TokenRequest(Strict):
    # Lax for this field only: a role arrives as its name.
    role: Role = Field(strict=False)
    name: Text100
    admitted: bool = False
    masked: bool = False
    site: OptionalText100 = absent()


class RemoveBody(Strict):
    reason: OptionalReason = absent()


class MaskBody(Strict):
    masked: bool = True


class ReasonBody(Strict):
    """Pausing or resuming the recording is written into its manifest, always with a reason."""

    reason: Reason


# ---------------------------------------------------------------------------------- queries
# ASCII digits only: str.isdigit() also takes "²" and "１", which int() rejects or misreads.
_WHOLE = re.compile(r"[0-9]{1,10}")


def _whole_number(value: object) -> object:
    if isinstance(value, str):
        if not _WHOLE.fullmatch(value):
            raise PydanticCustomError("whole_number", "not a whole number")
        return int(value)
    return value


# A whole-number query parameter (its bounds are the field's ge and le).
Whole = Annotated[int, BeforeValidator(_whole_number)]


# Blank (or only spaces) is the same as not given.
QueryText = Annotated[str, StringConstraints(max_length=200), AfterValidator(str.strip)]
_NOT_A_DAY = "must be a date (YYYY-MM-DD) or an ISO 8601 date-time with an offset"


def _day(value: str) -> str:
    try:
        if value:
            parse_day(value, end=False)
    except ValueError:
        raise PydanticCustomError(RULE, _NOT_A_DAY) from None
    return value


Day = Annotated[QueryText, AfterValidator(_day)]


class CatalogQuery(Strict):
    status: Literal["live", "upcoming", "vod"] | None = None
    court: QueryText | None = None
    case_type: QueryText | None = None
    date_from: Day | None = Field(None, description="YYYY-MM-DD (China time) or a date-time")
    date_to: Day | None = Field(None, description="YYYY-MM-DD (inclusive) or a date-time")
    q: QueryText | None = Field(None, description="text in case number, title or court")
    limit: Whole = Field(20, ge=1, le=MAX_LIMIT)
    offset: Whole = Field(0, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _from_before_to(self) -> CatalogQuery:
        start, end = self.bounds()
        if start is not None and end is not None and start >= end:
            raise PydanticCustomError("order", "'date_from' must be before 'date_to'")
        return self

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        return (
            parse_day(self.date_from, end=False) if self.date_from else None,
            parse_day(self.date_to, end=True) if self.date_to else None,
        )


class SegmentsQuery(Strict):
    offset: Whole = Field(0, ge=0, le=10**9)
    # Segments per page: ~8 and ~17 minutes of one track.
    limit: Whole = Field(500, ge=1, le=1000)


class WhepQuery(Strict):
    participant: Id | None = Field(None, description="whose media to play (default: the judge)")
