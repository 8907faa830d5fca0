"""What clients send to the signing routes (signing_api): agreements, signatures, refusals,
signing links, applications for judicial confirmation and the judge's decision."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from recorder.manifest import unrecordable
from signaling.confirmation import ConfirmationState, RefusalGround
from signaling.schemas import RULE, Id, OptionalReason, Reason, Strict, absent
from signaling.signing import MAX_IMAGE_BYTES, unsignable

_SHA256 = re.compile(r"[0-9a-f]{64}")
_DATA_URL = "data:image/png;base64,"


def _sha256(value: str) -> str:
    if not _SHA256.fullmatch(value):
        raise PydanticCustomError(RULE, "must be a SHA-256 in hex (64 characters 0-9a-f)")
    return value


def _png_base64(value: str) -> str:
    """signature_pad's toDataURL() ("data:image/png;base64,…") or the bare base64."""
    payload = value.removeprefix(_DATA_URL)
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", payload) or len(payload) % 4:
        raise PydanticCustomError(RULE, "must be a PNG as base64 (or a data:image/png URL)")
    return payload


def _term(value: str) -> str:
    """A term is one paragraph of the signed text: trimmed, not empty, and recordable (no line
    break, control or bidi character, which would make the text show as something else)."""
    if not (value := value.strip()):
        raise PydanticCustomError(RULE, "must not be empty")
    if (problem := unrecordable(value) or unsignable(value)) is not None:
        raise PydanticCustomError(RULE, problem)
    return value


def _signable(value: str | None) -> str | None:
    """Words that go into a signed text or a chained entry read the same everywhere: no
    invisible character (signaling.signing.INVISIBLE)."""
    if value is not None and (problem := unsignable(value)) is not None:
        raise PydanticCustomError(RULE, problem)
    return value


# A reason or statement that is printed in a signed document or its PDF.
SignedReason = Annotated[Reason, AfterValidator(_signable)]
OptionalSignedReason = Annotated[OptionalReason, AfterValidator(_signable)]
_LAST6 = re.compile(r"[0-9]{5}[0-9Xx]")


def _last6(value: str) -> str:
    if not _LAST6.fullmatch(value):
        raise PydanticCustomError(RULE, "must be the last 6 characters of an ID number (digits, X)")
    return value.upper()


Sha256 = Annotated[str, AfterValidator(_sha256)]
# Base64 is 4/3 of the bytes; the prefix of a data URL on top.
ImageData = Annotated[
    str,
    StringConstraints(min_length=1, max_length=len(_DATA_URL) + (MAX_IMAGE_BYTES * 4) // 3 + 4),
    AfterValidator(_png_base64),
]
# One term of an agreement as the mediator writes it (a paragraph).
Term = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_term)]
PartyId = Annotated[Id, Field(description="a party of the dispute (dp_…)")]


class NewAgreement(Strict):
    """The mediator's terms, one paragraph each; the rest of the text is the template's."""

    terms: list[Term] = Field(min_length=1, max_length=30)
    performance: OptionalSignedReason = absent()  # 履行方式、时限, if stated apart from the terms


class SignBody(Strict):
    """A signature: the hash of the text read, and the drawn signature. A party signing on the
    site's device names itself (``party_id``) and the officer ticks ``attest``; the mediator
    (own session) and a party's link name no one."""

    text_sha256: Sha256
    image: ImageData
    party_id: PartyId | None = absent()
    attest: bool = False


class RefuseBody(Strict):
    text_sha256: Sha256
    reason: SignedReason
    party_id: PartyId | None = absent()
    attest: bool = False


class LinkBody(Strict):
    party_id: PartyId
    # How long the link may be used: 1 hour to 7 days (default 3 days).
    hours: int = Field(72, ge=1, le=168)


class IdentityBody(Strict):
    """A party with a signing link proves who they are: the last 6 characters of their ID
    number (居民身份证号码后六位), checked against the dispute's record."""

    id_last6: Annotated[str, StringConstraints(min_length=6, max_length=6), AfterValidator(_last6)]


class ApplyBody(Strict):
    """An application for judicial confirmation (民事诉讼法 Art. 205). By the officer on the
    parties' behalf (``parties``: who applied before them, default all) or by a party's link
    (that party)."""

    parties: list[PartyId] | None = Field(None, min_length=1, max_length=20)
    attest: bool = False
    statement: OptionalSignedReason = absent()


class Decision(StrEnum):
    confirm = "confirm"
    refuse = "refuse"


class DecisionBody(Strict):
    decision: Decision = Field(strict=False)
    reason: SignedReason
    ground: RefusalGround | None = Field(None, strict=False)
    hearing_id: Id | None = absent()


class ReviewBody(Strict):
    """The video session (a hearing of kind mediation, or a hearing) the judge reviews in."""

    hearing_id: Id


class ConfirmationQuery(Strict):
    state: ConfirmationState | None = Field(None, strict=False)
    dispute_id: Id | None = None


__all__ = [
    "ApplyBody",
    "ConfirmationQuery",
    "Decision",
    "DecisionBody",
    "IdentityBody",
    "LinkBody",
    "NewAgreement",
    "RefusalGround",
    "RefuseBody",
    "ReviewBody",
    "SignBody",
]
