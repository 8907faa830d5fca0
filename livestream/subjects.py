"""What the livestream sidecar reads of a hearing and of the people in it.

Structural types: the control plane hands in its own records (signaling.models.Hearing and
Participant fit as they are), and this package never imports the control plane
(docs: the package arrows in DESIGN.md). Read-only, as the records are frozen. In a process of
its own (livestream/process.py) the livestream gets a hearing it puts on air as JSON:
`HearingRecord` is that record rebuilt, checked at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class StreamedHearing(Protocol):
    """A hearing as the stream's banner, the catalog and the start-up recovery see it."""

    @property
    def id(self) -> str: ...
    @property
    def case_number(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def court(self) -> str: ...
    @property
    def case_type(self) -> str: ...
    @property
    def public(self) -> bool: ...
    @property
    def state(self) -> str: ...  # "scheduled", "open", "in_session" or "ended"
    @property
    def scheduled_at(self) -> str: ...
    @property
    def started_at(self) -> str | None: ...
    @property
    def ended_at(self) -> str | None: ...
    def to_json(self) -> dict[str, Any]:
        """The API's Hearing object (docs/API.md), which the catalog's items repeat."""
        ...


ENDED = "ended"


class Speaker(Protocol):
    """A publishing participant, as the composite captions and masks them."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...  # the protocol's role word: "judge", "party", ...
    @property
    def masked(self) -> bool: ...


@dataclass(frozen=True)
class HearingRecord:
    """A hearing as the control plane sends it to a livestream in another process: the API's
    Hearing object (`Hearing.to_json()`), kept whole for `to_json`."""

    json: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HearingRecord:
        for name in ("id", "case_number", "title", "court", "case_type", "state", "scheduled_at"):
            if not isinstance(data.get(name), str):
                raise ValueError(
                    f"hearing field {name!r}: expected a string, got {data.get(name)!r}"
                )
        if not isinstance(data.get("public"), bool):
            raise ValueError("hearing field 'public': expected a boolean")
        return cls(dict(data))

    @property
    def id(self) -> str:
        return str(self.json["id"])

    @property
    def case_number(self) -> str:
        return str(self.json["case_number"])

    @property
    def title(self) -> str:
        return str(self.json["title"])

    @property
    def court(self) -> str:
        return str(self.json["court"])

    @property
    def case_type(self) -> str:
        return str(self.json["case_type"])

    @property
    def public(self) -> bool:
        return bool(self.json["public"])

    @property
    def state(self) -> str:
        return str(self.json["state"])

    @property
    def scheduled_at(self) -> str:
        return str(self.json["scheduled_at"])

    @property
    def started_at(self) -> str | None:
        value = self.json.get("started_at")
        return value if isinstance(value, str) else None

    @property
    def ended_at(self) -> str | None:
        value = self.json.get("ended_at")
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        return dict(self.json)
