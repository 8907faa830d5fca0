"""HTTP routes of the recorder: state and files of a hearing's recording, pause and resume.

Everything here is for the court only: the admin key or a judge/clerk token of that hearing
(credentials are checked before the hearing is looked up, as on every route of one hearing).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from recorder.recording import Alarm
from recorder.service import SOURCE, Recorder, RecordingError
from signaling.auth import admin_or_moderator
from signaling.context import SERVICES, services
from signaling.errors import Code, CourtError
from signaling.http_api import read_json, reply
from signaling.live import LiveHearings
from signaling.roles import Actor
from signaling.sidecars import alarm_json
from signaling.validation import query_int, reject_unknown, reject_unknown_params, require_object

RECORDER: web.AppKey[Recorder] = web.AppKey("recorder", Recorder)
MAX_REASON = 500
PAGE_DEFAULT, PAGE_MAX = 500, 1000  # segments per page: ~8 and ~17 minutes of one track

routes = web.RouteTableDef()


def alarm_sink(live: LiveHearings) -> Alarm:
    """The recorder's alarms, as `alarm` events to the judge console and the log."""

    def alarm(hearing_id: str, code: str, message: str, detail: dict[str, Any]) -> None:
        live.alarm(hearing_id, alarm_json(SOURCE, code, message, **detail))

    return alarm


_CODES = {"not_found": Code.NOT_FOUND, "conflict": Code.CONFLICT, "invalid": Code.BAD_REQUEST}


def _court_error(exc: RecordingError) -> CourtError:
    return CourtError(_CODES[exc.code], exc.message)


async def _authorised(request: web.Request) -> tuple[Recorder, str, Actor]:
    s = services(request)
    hearing_id = request.match_info["hearing_id"]
    actor = await admin_or_moderator(request, hearing_id, s.tokens, s.settings.admin_key)
    await s.hearings.get(hearing_id)  # 404 for an unknown hearing, after the credentials
    return request.app[RECORDER], hearing_id, actor


def actor_json(actor: Actor) -> dict[str, Any]:
    """Who did it, as the manifest records it."""
    return {"actor": actor.label, "actor_role": actor.role.value if actor.role else "admin"}


@routes.get("/api/hearings/{hearing_id}/recordings")
async def recordings(request: web.Request) -> web.Response:
    recorder, hearing_id, _ = await _authorised(request)
    try:
        status = await recorder.status(hearing_id, services(request).settings.public_url)
    except RecordingError as exc:
        raise _court_error(exc) from None
    return reply(status)


@routes.get("/api/hearings/{hearing_id}/recordings/state")
async def recording_state(request: web.Request) -> web.Response:
    """The light answer the judge console polls (the full one above walks the whole manifest)."""
    recorder, hearing_id, _ = await _authorised(request)
    try:
        state = await recorder.light(hearing_id, services(request).settings.public_url)
    except RecordingError as exc:
        raise _court_error(exc) from None
    return reply(state)


def _page(request: web.Request) -> tuple[int, int]:
    query = request.query
    reject_unknown_params(query, ("offset", "limit"))
    return (
        query_int(query, "offset", 0, 0, 10**9),
        query_int(query, "limit", PAGE_DEFAULT, 1, PAGE_MAX),
    )


@routes.get("/api/hearings/{hearing_id}/recordings/tracks/{track}/segments")
async def track_segments(request: web.Request) -> web.Response:
    recorder, hearing_id, _ = await _authorised(request)
    offset, limit = _page(request)
    base_url = services(request).settings.public_url
    try:
        page = await recorder.segments(
            hearing_id, request.match_info["track"], offset, limit, base_url
        )
    except RecordingError as exc:
        raise _court_error(exc) from None
    return reply(page)


@routes.get("/api/hearings/{hearing_id}/recordings/files/{name:.+}")
async def recording_file(request: web.Request) -> web.StreamResponse:
    recorder, hearing_id, _ = await _authorised(request)
    try:
        path = recorder.file(hearing_id, request.match_info["name"])
    except RecordingError as exc:
        raise _court_error(exc) from None
    # FileResponse answers Range requests (206) so players can seek in long files.
    return web.FileResponse(path, headers={"Cache-Control": "private, no-store"})


async def _pause_or_resume(request: web.Request, paused: bool) -> web.Response:
    recorder, hearing_id, actor = await _authorised(request)
    body = require_object(await read_json(request))
    reject_unknown(body, ("reason",))
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise CourtError(
            Code.BAD_REQUEST,
            f"'reason' is required: a non-empty string of at most {MAX_REASON} characters",
        )
    try:
        entry = await recorder.set_paused(hearing_id, paused, actor_json(actor), reason.strip())
    except RecordingError as exc:
        raise _court_error(exc) from None
    except OSError as exc:
        raise CourtError(
            Code.INTERNAL,
            f"the recording's manifest cannot be written ({exc.strerror or exc}): nothing "
            "changed, the recording is still "
            f"{'running' if paused else 'paused'}",
        ) from None
    return reply({"state": "paused" if paused else "recording", "entry": entry})


@routes.post("/api/hearings/{hearing_id}/recording/pause")
async def pause(request: web.Request) -> web.Response:
    return await _pause_or_resume(request, True)


@routes.post("/api/hearings/{hearing_id}/recording/resume")
async def resume(request: web.Request) -> web.Response:
    return await _pause_or_resume(request, False)


def add_routes(app: web.Application, recorder: Recorder) -> None:
    app[RECORDER] = recorder
    app.add_routes(routes)

    async def start(app: web.Application) -> None:
        await recorder.start(await app[SERVICES].store.list_hearings())

    app.on_startup.append(start)
