"""A document signed online, and the hash chain of everything signed.

A :class:`Document` is an exact text (UTF-8, NFC) with its SHA-256 and the signers it needs.
Each act on it is an :class:`Entry` of one chain shared by every document of the server: the
document issued, a signature (bound to the text's SHA-256, the signer, the server's time, the
handwritten image's SHA-256 and, for a party signing at a site, the officer's attestation), a
refusal with its reason, an application, a decision, a withdrawal. Each entry's hash is the
SHA-256 of its canonical JSON, which holds the previous entry's hash (``prev``, 64 zeros for
the first): the recorder's manifest chain (recorder/manifest.py), kept in the database.

This module knows nothing of disputes: a mediation agreement, a judicial confirmation and a
hearing's written record are all documents; what a document is for is its ``kind`` and
``subject``, which only the callers read.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from recorder.manifest import GENESIS, canonical

__all__ = [
    "GENESIS",
    "INVISIBLE",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_HEIGHT",
    "MAX_IMAGE_WIDTH",
    "Actor",
    "Attestation",
    "ChainReport",
    "Document",
    "DocumentState",
    "Entry",
    "EntryType",
    "Signer",
    "SignerStatus",
    "canonical",
    "check_signature_image",
    "entry_hash",
    "normalise_text",
    "text_sha256",
    "unsignable",
]

# signature_pad's PNG of a tablet-sized pad is 10–60 KiB; a bound keeps the table small.
MAX_IMAGE_BYTES = 512 * 1024
# A pad at twice the screen's density is well under this; the bound is on pixels decoded (what
# costs time), read from the PNG's header before anything is decoded.
MAX_IMAGE_WIDTH = 2000
MAX_IMAGE_HEIGHT = 1000
# Invisible or reordering characters: a signed text holding one reads differently on a screen
# and in the PDF (marks, zero-width joiners, word joiner, BOM, soft hyphen).
INVISIBLE = frozenset("\u200e\u200f\u061c\u200b\u200c\u200d\u2060\ufeff\u00ad")


class DocumentState(StrEnum):
    open = "open"  # awaiting signatures
    effective = "effective"  # every required signer signed (effective at the last signature)
    refused = "refused"  # a signer refused: the document failed
    withdrawn = "withdrawn"  # replaced by a new version before it was effective


class EntryType(StrEnum):
    document = "document"
    signature = "signature"
    refusal = "refusal"
    withdrawal = "withdrawal"
    application = "application"
    decision = "decision"


class SignerStatus(StrEnum):
    pending = "pending"
    signed = "signed"
    refused = "refused"


@dataclass(frozen=True)
class Signer:
    """Who must sign: a party (``kind`` "party", ``ref`` its party id) or a person with an
    account (``kind`` "account", ``ref`` the account id). ``site_id``: the site a party signs
    at, whose officer attests an in-person signature."""

    kind: str
    ref: str
    name: str
    role: str
    site_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.ref}"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "ref": self.ref,
            "name": self.name,
            "role": self.role,
            "site_id": self.site_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signer:
        return cls(data["kind"], data["ref"], data["name"], data["role"], data.get("site_id"))


@dataclass(frozen=True)
class Actor:
    """Who performed an act, as the chain records it: an account, a party's signing link, or
    the admin key."""

    kind: str  # "account" | "link" | "admin"
    id: str | None
    name: str
    role: str | None = None
    # A link's act: {"id": the link's id, "minted_by": {kind, id, name}, "identity": how the
    # party proved who they are}. Who sent the link is on the record of every act made with it.
    link: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "role": self.role,
        }
        if self.link is not None:
            data["link"] = self.link
        return data

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else self.kind


@dataclass(frozen=True)
class Attestation:
    """A site officer's statement that they saw the party sign (or refuse) in person."""

    officer_id: str
    officer_name: str
    site_id: str | None
    statement: str

    def to_json(self) -> dict[str, Any]:
        return {
            "officer_id": self.officer_id,
            "officer_name": self.officer_name,
            "site_id": self.site_id,
            "statement": self.statement,
        }


@dataclass(frozen=True)
class Document:
    id: str
    kind: str
    subject: str
    title: str
    text: str
    text_sha256: str
    signers: tuple[Signer, ...]
    state: DocumentState
    created_by: str
    created_at: str
    updated_at: str
    effective_at: str | None

    def signer(self, key: str) -> Signer | None:
        return next((s for s in self.signers if s.key == key), None)


@dataclass(frozen=True)
class Entry:
    """One link of the chain. ``body`` is exactly what was hashed."""

    seq: int
    document_id: str
    type: EntryType
    body: dict[str, Any]
    hash: str

    @property
    def at(self) -> str:
        return str(self.body["at"])

    @property
    def signer(self) -> str | None:
        value = self.body.get("signer")
        return str(value) if value is not None else None

    def to_json(self) -> dict[str, Any]:
        return {**self.body, "hash": self.hash}


@dataclass
class ChainReport:
    """What ``verify`` found: entries checked, the head, and the first fault (None: intact)."""

    entries: int = 0
    documents: int = 0
    head: str = GENESIS
    head_seq: int = 0
    error: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def normalise_text(text: str) -> str:
    """The text as signed: NFC, so the same words always have the same hash."""
    return unicodedata.normalize("NFC", text)


def text_sha256(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def entry_hash(body: dict[str, Any]) -> str:
    """SHA-256 of the entry's canonical JSON (sorted keys, no spaces, UTF-8), ``prev`` in it."""
    return hashlib.sha256(canonical(body)).hexdigest()


def unsignable(text: str) -> str | None:
    """Why ``text`` may not be part of a signed document (None if it may): an invisible or
    direction-changing character makes the words on the screen and in the PDF differ."""
    for char in text:
        if char in INVISIBLE:
            return (
                f"contains U+{ord(char):04X}, an invisible character: a signed text must read "
                "the same on every screen and on paper"
            )
    return None


def check_signature_image(png: bytes) -> str | None:
    """Why ``png`` is not a handwritten signature we keep (None if it is one): a real PNG,
    bounded in bytes and pixels, with ink on a background (an empty pad is no signature, nor
    is a canvas that is all ink). It decodes the image: call it off the event loop."""
    if len(png) > MAX_IMAGE_BYTES:
        return f"the signature image is larger than {MAX_IMAGE_BYTES // 1024} KiB"
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        return "the signature image is not a PNG"
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.format != "PNG":
                return "the signature image is not a PNG"
            width, height = image.size
            # From the header, before decoding: a small file may claim a huge canvas.
            if not (0 < width <= MAX_IMAGE_WIDTH and 0 < height <= MAX_IMAGE_HEIGHT):
                return (
                    f"the signature image must be at most {MAX_IMAGE_WIDTH}×{MAX_IMAGE_HEIGHT} "
                    "pixels"
                )
            image.load()
            rgba = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return "the signature image is not a readable PNG"
    # Ink: on white, something darker than light grey (signature_pad draws on transparency).
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat = ImageOps.grayscale(Image.alpha_composite(white, rgba))
    darkest, lightest = flat.getextrema()
    if int(darkest) > 200:  # type: ignore[arg-type]
        return "the signature image is empty (nothing was drawn)"
    # A drawn signature leaves most of the pad blank: an image with no light pixel at all (a
    # palette PNG without its palette decodes as solid black) is no handwriting.
    if int(lightest) < 230:  # type: ignore[arg-type]
        return "the signature image is all ink (no blank background): it is not a drawn signature"
    return None
