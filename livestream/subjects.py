"""What the livestream sidecar reads of a hearing and of the people in it.

Structural types: the control plane hands in its own records (signaling.models.Hearing and
Participant fit as they are), and this package never imports the control plane
(docs: the package arrows in DESIGN.md). Read-only, as the records are frozen.
"""

from __future__ import annotations

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
