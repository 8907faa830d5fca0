"""HTTP routes of the recorder: state and files of a hearing's recording, pause and resume.

Everything here is for the court only: the admin key or a judge/clerk token of that hearing
(credentials are checked before the hearing is looked up, as on every route of one hearing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from recorder.recording import Alarm
from recorder.service import SOURCE, RecordingError
from signaling.auth import admin_or_moderator
from signaling.context import services
from signaling.errors import Code, CourtError
from signaling.http_api import read_json, reply
from signaling.moderation import Moderation
from signaling.openapi import HandlerT, Response, operation
from signaling.remote_recorder import UNAVAILABLE
from signaling.roles import Actor
from signaling.schemas import ReasonBody, SegmentsQuery
from signaling.schemas_parse import body, query
from signaling.schemas_replies import PauseReply, Recording, RecordingState, SegmentPage
from signaling.sidecars import alarm_json


class RecorderService(Protocol):
    """The recorder in this process (`recorder.service.Recorder`) or in its own
    (`signaling.remote_recorder.RemoteRecorder`)."""

    async def start(self, hearings: Iterable[Any] = ()) -> None: ...

    async def status(self, hearing_id: str, base_url: str) -> dict[str, Any]: ...

    async def light(self, hearing_id: str, base_url: str) -> dict[str, Any]: ...

    async def segments(
        self, hearing_id: str, track_id: str, offset: int, limit: int, base_url: str
    ) -> dict[str, Any]: ...

    async def set_paused(
        self, hearing_id: str, paused: bool, actor: dict[str, Any], reason: str
    ) -> dict[str, Any]: ...

    def file(self, hearing_id: str, name: str) -> Path: ...


RECORDER: web.AppKey[RecorderService] = web.AppKey("recorder", RecorderService)

routes = web.RouteTableDef()


def alarm_sink(moderation: Moderation) -> Alarm:
    """The recorder's alarms, as `alarm` events to the judge console and the log."""

    def alarm(hearing_id: str, code: str, message: str, detail: dict[str, Any]) -> None:
        moderation.alarm(hearing_id, alarm_json(SOURCE, code, message, **detail))

    return alarm


RESTARTING = "the recorder's process is restarting (served with --sfu-workers N): ask again"
_CODES = {"not_found": Code.NOT_FOUND, "conflict": Code.CONFLICT, "invalid": Code.BAD_REQUEST}


def _court_error(exc: RecordingError) -> Exception:
    if exc.code == UNAVAILABLE:  # the recorder's process is restarting: ask again shortly
        return web.HTTPServiceUnavailable(text=exc.message, headers={"Retry-After": "1"})
    return CourtError(_CODES[exc.code], exc.message)


async def _authorised(request: web.Request) -> tuple[RecorderService, str, Actor]:
    s = services(request)
    hearing_id = request.match_info["hearing_id"]
    actor = await admin_or_moderator(request, hearing_id, s.tokens, s.settings.admin_key)
    await s.hearings.get(hearing_id)  # 404 for an unknown hearing, after the credentials
    return request.app[RECORDER], hearing_id, actor


def actor_json(actor: Actor) -> dict[str, Any]:
    """Who did it, as the manifest records it."""
    return {"actor": actor.label, "actor_role": actor.role.value if actor.role else "admin"}


@routes.get("/api/hearings/{hearing_id}/recordings")
@operation(
    "the hearing's recording: track summaries, archive, chain head, state",
    {200: Recording},
    security="moderator",
    errors={409: "a damaged manifest of an ended hearing", 503: RESTARTING},
)
async def recordings(request: web.Request) -> web.Response:
    recorder, hearing_id, _ = await _authorised(request)
    try:
        status = await recorder.status(hearing_id, services(request).settings.public_url)
    except RecordingError as exc:
        raise _court_error(exc) from None
    return reply(status)


@routes.get("/api/hearings/{hearing_id}/recordings/state")
@operation(
    "the recording's state, duration, counters, chain head, pause, archive (light: what the "
    "judge console polls)",
    {200: RecordingState},
    security="moderator",
    errors={409: "a damaged manifest of an ended hearing", 503: RESTARTING},
)
async def recording_state(request: web.Request) -> web.Response:
    """The light answer the judge console polls (the full one above walks the whole manifest)."""
    recorder, hearing_id, _ = await _authorised(request)
    try:
        state = await recorder.light(hearing_id, services(request).settings.public_url)
    except RecordingError as exc:
        raise _court_error(exc) from None
    return reply(state)


@routes.get("/api/hearings/{hearing_id}/recordings/tracks/{track}/segments")
@operation(
    "one page of a track's sealed segments",
    {200: SegmentPage},
    security="moderator",
    query=SegmentsQuery,
    errors={409: "a damaged manifest of an ended hearing", 503: RESTARTING},
)
async def track_segments(request: web.Request) -> web.Response:
    recorder, hearing_id, _ = await _authorised(request)
    page_wanted = query(SegmentsQuery, request.query)
    base_url = services(request).settings.public_url
    try:
        page = await recorder.segments(
            hearing_id,
            request.match_info["track"],
            page_wanted.offset,
            page_wanted.limit,
            base_url,
        )
    except RecordingError as exc:
        raise _court_error(exc) from None
    return reply(page)


@routes.get("/api/hearings/{hearing_id}/recordings/files/{name:.+}")
@operation(
    "download a sealed segment, a manifest or the archive (HTTP Range: 206)",
    {
        200: Response("the file", ("video/webm", "application/octet-stream")),
        206: Response("the requested range", ("video/webm", "application/octet-stream")),
    },
    security="moderator",
)
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
    reason = body(ReasonBody, await read_json(request)).reason
    try:
        entry = await recorder.set_paused(hearing_id, paused, actor_json(actor), reason)
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


def _pause_or_resume_operation(action: str) -> Callable[[HandlerT], HandlerT]:
    return operation(
        f"{action} the recording, with a reason (written in the manifest)",
        {200: Response("the manifest entry written", PauseReply)},
        security="moderator",
        body=ReasonBody,
        errors={
            409: "not recorded, or already paused/running",
            500: "the manifest cannot be written; nothing changed",
            503: RESTARTING,
        },
    )


@routes.post("/api/hearings/{hearing_id}/recording/pause")
@_pause_or_resume_operation("pause")
async def pause(request: web.Request) -> web.Response:
    return await _pause_or_resume(request, True)


@routes.post("/api/hearings/{hearing_id}/recording/resume")
@_pause_or_resume_operation("resume")
async def resume(request: web.Request) -> web.Response:
    return await _pause_or_resume(request, False)


def add_routes(app: web.Application, recorder: RecorderService) -> None:
    """The routes; the recorder is started by the app with the SFU (signaling/app.py)."""
    app[RECORDER] = recorder
    app.add_routes(routes)
