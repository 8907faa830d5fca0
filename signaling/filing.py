"""The online-filing export of a dispute whose mediation failed (docs/FILING.md).

SPC online mediation rules (2021) Art. 21: when mediation fails, the mediator records why, and
the matter goes on to filing with what it gathered. This module builds that package from the
dispute's records — the complaint (the parties whole, with ID numbers and phones, because it is
for the court's own intake), the claims, the evidence with each file's SHA-256 and size, the
failure record, the consents and every transition — and checks it against the published schema
(signaling/filing_schema.json) before anyone is given it. The national platforms (人民法院在线服务,
诉讼服务网) remain the system of record; this is what their intake takes in.
"""

from __future__ import annotations

import functools
import hashlib
import json
import zipfile
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import IO, Any

from jsonschema import Draft202012Validator

from signaling.disputes import (
    TYPE_LABELS,
    Dispute,
    DisputeEvent,
    Evidence,
    Side,
    event_json,
    party_json,
)
from signaling.models import Hearing, HearingKind, utc_now
from signaling.sites import Site

FORMAT = "cloudcourt.filing/1"
SCHEMA_FILE = "filing_schema.json"


@functools.cache
def schema() -> dict[str, Any]:
    """The export's JSON Schema (2020-12), shipped with the package."""
    text = resources.files("signaling").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema())


def problems(export: dict[str, Any]) -> list[str]:
    """What in ``export`` breaks the schema, each as ``<path>: <message>`` (none: it is valid)."""
    found = []
    for error in sorted(_validator().iter_errors(export), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path) or "(the export)"
        found.append(f"{path}: {error.message}")
    return found


def evidence_name(item: Evidence) -> str:
    """An evidence file's name in the zip: its hash, so that two files of the same name stay
    apart and the receiving system can check each by its name alone."""
    return f"evidence/{item.sha256}"


def _site_json(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "kind": site.kind.value,
        "name": site.name,
        "county": site.county,
        "township": site.township,
        "village": site.village,
        "address": site.address,
    }


def build(
    dispute: Dispute,
    site: Site,
    evidence: Iterable[Evidence],
    events: Iterable[DisputeEvent],
    failure: DisputeEvent,
    hearings: Iterable[Hearing],
    generated_by: str,
) -> dict[str, Any]:
    """The export of ``dispute`` (docs/FILING.md): ``failure`` is the event that failed it,
    ``hearings`` those held for it (the mediation sessions are listed)."""
    parties = [party_json(p, whole=True) for p in dispute.parties]
    return {
        "format": FORMAT,
        "generated_at": utc_now(),
        "generated_by": generated_by,
        "dispute": {
            "id": dispute.id,
            "number": dispute.number,
            "type": dispute.type.value,
            "type_label": TYPE_LABELS[dispute.type],
            "state": dispute.state.value,
            "received_at": dispute.received_at,
            "created_at": dispute.created_at,
            "intake_site": _site_json(site),
            "handler": dispute.handler.to_json(),
            "mediator_id": dispute.mediator_id,
            "judge_id": dispute.judge_id,
            "ladder": {"version": dispute.ladder_version, "rule_id": dispute.rule_id},
            "mediation_ended_at": dispute.mediation_ended_at,
        },
        "complaint": {
            "applicants": [p for p in parties if p["side"] == Side.APPLICANT.value],
            "respondents": [p for p in parties if p["side"] == Side.RESPONDENT.value],
            "claims": dispute.summary,
        },
        "evidence": [
            {
                "id": e.id,
                "filename": e.filename,
                "media_type": e.media_type,
                "size": e.size,
                "sha256": e.sha256,
                "uploaded_by": e.uploaded_by,
                "uploaded_at": e.uploaded_at,
                "file": evidence_name(e),
            }
            for e in evidence
        ],
        "failure": {
            "at": failure.at,
            "by": failure.actor,
            "reason": failure.reason,
            "from_state": failure.from_state.value if failure.from_state else None,
            "detail": failure.detail,
        },
        "consents": [
            {
                "party_id": p.id,
                "name": p.name,
                "side": p.side.value,
                "online_mediation": bool(p.consents.get("online_mediation", False)),
                "electronic_service": bool(p.consents.get("electronic_service", False)),
            }
            for p in dispute.parties
        ],
        "mediation_sessions": [
            {
                "hearing_id": h.id,
                "title": h.title,
                "scheduled_at": h.scheduled_at,
                "started_at": h.started_at,
                "ended_at": h.ended_at,
                "state": h.state.value,
            }
            for h in hearings
            if h.kind is HearingKind.MEDIATION
        ],
        "history": [event_json(e) for e in events],
    }


def encode(export: dict[str, Any]) -> bytes:
    """The export as the bytes sent (UTF-8 JSON, Chinese as itself): what its hash is of."""
    return json.dumps(export, ensure_ascii=False, indent=2).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class EvidenceMissing(Exception):
    """An evidence file is gone or no longer matches its recorded hash."""


def write_zip(
    target: IO[bytes],
    export: dict[str, Any],
    evidence: Iterable[Evidence],
    path_of: Callable[[Evidence], Path],
) -> None:
    """``export.json`` and each evidence file (named by its hash) in one zip written to ``target``,
    each file copied through in chunks as it is hashed (a package of many 50 MiB files is
    never held in memory; run it off the event loop). A file that is missing or whose bytes no
    longer hash to the recorded SHA-256 refuses the whole package (``EvidenceMissing``; the
    caller discards ``target``): a filing must not carry evidence other than what was taken
    in."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", encode(export))
        seen: set[str] = set()
        for item in evidence:
            name = evidence_name(item)
            if name in seen:  # the same file taken in twice: one copy serves both entries
                continue
            seen.add(name)
            try:
                source = path_of(item).open("rb")
            except OSError as exc:
                raise EvidenceMissing(f"evidence {item.id} ({item.filename}) is missing") from exc
            digest = hashlib.sha256()
            with source, archive.open(name, "w") as entry:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    entry.write(chunk)
            if digest.hexdigest() != item.sha256:
                raise EvidenceMissing(
                    f"evidence {item.id} ({item.filename}) no longer matches its SHA-256"
                )


_CHUNK = 1024 * 1024
