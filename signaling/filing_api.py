"""HTTP routes of the online-filing export (docs/FILING.md): ``GET /api/disputes/{id}/filing``
reads the package of a failed or filed dispute; ``POST`` files a failed dispute online, moving
it failed → filed with the hash of the package it was filed with.

The package carries the parties whole (ID numbers, phones): it is the court's own intake, so
only the court's side may have it — the dispute's liaison judge, admin and command accounts, the
admin key. Reading it changes nothing (a GET is safe, and a crawler or fuzzer must not file a
dispute); filing is the explicit POST, which the intake site's officer may also make on the
party's behalf (its reply names the package by its hash only).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from typing import IO, Any

from aiohttp import web

from signaling import filing
from signaling.account_auth import account_caller
from signaling.accounts import Account
from signaling.dispute_sessions import sessions_of
from signaling.disputes import Dispute, DisputeState, actor_label
from signaling.disputes_api import EVIDENCE
from signaling.errors import Code, CourtError, conflict, forbidden
from signaling.http_api import no_body, reply
from signaling.openapi import Response, operation
from signaling.replies_sessions import FilingExport, FilingFiled
from signaling.schemas import NoFields
from signaling.schemas_parse import query
from signaling.schemas_sessions import FilingQuery

log = logging.getLogger("cloudcourt.filing")

routes = web.RouteTableDef()
EXPORTABLE = (DisputeState.FAILED, DisputeState.FILED)


async def _allowed(request: web.Request, *, filing_only: bool) -> tuple[Account | None, Dispute]:
    """The caller and the dispute, if the caller may read its package — or, ``filing_only``,
    file it (which the intake site's officer also may, on the party's behalf, as the state
    machine's own rule says: signaling/dispute_access.py; the reply then carries no parties)."""
    caller = await account_caller(request)
    sessions = sessions_of(request)
    dispute = await sessions.dispute_for(caller, request.match_info["dispute_id"])
    if await sessions.may_file(caller, dispute):
        return caller, dispute
    if filing_only and await sessions.is_intake_officer(caller, dispute):
        return caller, dispute
    raise forbidden(
        "the filing package carries the parties' ID numbers whole: it is for the court's "
        "intake, the dispute's liaison judge, command or admin"
    )


async def _package(
    request: web.Request, caller: Account | None, dispute: Dispute
) -> dict[str, Any]:
    """The export of ``dispute``, checked against the schema; a package that does not validate
    is refused (409) and logged, never sent: the court's intake would reject it, or worse, take
    in something that is not what the schema promises."""
    if dispute.state not in EXPORTABLE:
        raise conflict(
            f"dispute {dispute.id} is {dispute.state.value}: only a failed mediation is filed "
            "(and a filed dispute's package read again)"
        )
    sessions = sessions_of(request)
    disputes = sessions.disputes
    failure = await disputes.failure_record(dispute.id)
    site = await sessions.sites.get(dispute.intake_site_id)
    if failure is None or site is None:
        raise conflict(f"dispute {dispute.id} has no failure record or intake site to file with")
    export = filing.build(
        dispute,
        site,
        await disputes.evidence(dispute.id),
        await disputes.events(dispute.id),
        failure,
        await sessions.hearings.store.hearings_of_dispute(dispute.id),
        actor_label(caller),
    )
    found = filing.problems(export)
    if found:
        log.error(
            "filing export of dispute %s does not validate against %s: %s",
            dispute.id,
            filing.SCHEMA_FILE,
            "; ".join(found),
        )
        raise conflict(
            f"the filing package of dispute {dispute.id} does not validate against its schema "
            f"({found[0]}); it was not sent, and the server log has the details"
        )
    return export


async def _zip(
    request: web.Request, dispute: Dispute, export: dict[str, Any]
) -> web.StreamResponse:
    """The zip, built off the event loop into an anonymous temporary file (the evidence may be
    hundreds of MiB: neither the loop, where the SFU runs, nor memory carries it) and sent from
    there. The file has no name (O_TMPFILE), so it is gone once closed, even if the server dies
    mid-download. Each build is new, so a Range header is ignored and the whole zip is sent
    (RFC 9110 §14.2 lets a server do so)."""
    files = request.app[EVIDENCE]
    items = await sessions_of(request).disputes.evidence(dispute.id)
    # Each file is checked against its recorded hash first (409 on a missing or altered one).
    paths = {item.id: await files.verified(item) for item in items}
    try:
        temp = await asyncio.to_thread(_nameless_file)
    except OSError as exc:
        raise _cannot_build(dispute, exc) from None
    with temp:
        try:
            await asyncio.to_thread(
                filing.write_zip, temp, export, items, lambda item: paths[item.id]
            )
        except filing.EvidenceMissing as exc:
            raise conflict(str(exc)) from None
        except OSError as exc:
            raise _cannot_build(dispute, exc) from None
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="filing-{dispute.id}.zip"',
                "Cache-Control": "private, no-store",
            }
        )
        response.content_length = temp.tell()
        temp.seek(0)
        await response.prepare(request)
        while chunk := await asyncio.to_thread(temp.read, _CHUNK):
            await response.write(chunk)
        await response.write_eof()
    return response


_CHUNK = 1 << 20


def _nameless_file() -> IO[bytes]:
    return tempfile.TemporaryFile("w+b", prefix="cloudcourt-filing-")


def _cannot_build(dispute: Dispute, exc: OSError) -> CourtError:
    log.error("filing zip of dispute %s cannot be built: %s", dispute.id, exc)
    return CourtError(
        Code.INTERNAL,
        f"the server cannot build the filing zip ({exc.strerror or exc}); try again later",
    )


@routes.get("/api/disputes/{dispute_id}/filing")
@operation(
    "the online-filing package of a failed or filed dispute (parties whole: the court's intake "
    "only); ?format=zip adds the evidence files, each named by its SHA-256",
    {
        200: Response(
            "the export (signaling/filing_schema.json), or the zip of export.json and evidence",
            FilingExport,
        )
    },
    security="account",
    query=FilingQuery,
    errors={409: "the dispute is not failed or filed; an evidence file is missing or altered"},
)
async def get_filing(request: web.Request) -> web.StreamResponse:
    caller, dispute = await _allowed(request, filing_only=False)
    wanted = query(FilingQuery, request.query)
    export = await _package(request, caller, dispute)
    if wanted.format == "zip":
        return await _zip(request, dispute, export)
    return reply(export)


@routes.post("/api/disputes/{dispute_id}/filing")
@operation(
    "file a failed dispute online: its package is built and validated, and the dispute moves "
    "failed → filed, the event recording the package's SHA-256",
    {200: FilingFiled},
    security="account",
    body=NoFields,
    body_required=False,
    errors={409: "the dispute is not failed"},
)
async def file_online(request: web.Request) -> web.Response:
    caller, dispute = await _allowed(request, filing_only=True)
    await no_body(request)
    if dispute.state is not DisputeState.FAILED:
        raise conflict(f"dispute {dispute.id} is {dispute.state.value}: only a failed one is filed")
    export = await _package(request, caller, dispute)
    digest = filing.sha256(filing.encode(export))
    moved = await sessions_of(request).disputes.transition(
        dispute.id,
        DisputeState.FILED,
        actor_label(caller),
        "调解不成，网上立案 (SPC online mediation rules, Art. 21)",
        {"export_sha256": digest, "format": filing.FORMAT},
    )
    log.info("dispute %s filed online by %s, package %s", dispute.id, actor_label(caller), digest)
    return reply(
        {
            "dispute_id": moved.id,
            "dispute_state": moved.state.value,
            "export_sha256": digest,
        }
    )


def add_routes(app: web.Application) -> None:
    app.add_routes(routes)
