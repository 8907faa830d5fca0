"""Public streams over HTTP: the judge's live start/stop and masking, the public catalog, the HLS
files under /live/ and /vod/, and the public portal's pages.

A hearing that is not public is invisible here: never in the catalog, and every /live/ and /vod/
path of it is 404 exactly like a hearing that does not exist.

The livestream runs in this process (`livestream.sidecar.Livestream`, with the in-process SFU) or
in its own (`signaling.remote_livestream.RemoteLivestream`, with SFU worker processes): either is
a `StreamService`. Nothing the public asks for (the catalog, /live/, /vod/) waits on it: those
are answered from the stream's files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from aiohttp import web

from livestream.catalog import Filters, select
from livestream.disk_state import StreamState
from livestream.encoder import EncoderSettings
from livestream.playlist import (
    LIVE_PLAYLIST,
    MASTER_PLAYLIST,
    POSTER,
    VOD_PLAYLIST,
    media_playlist,
)
from signaling.auth import admin_or_moderator
from signaling.context import Services, services
from signaling.errors import conflict, forbidden, not_found
from signaling.http_api import no_body, read_json, reply
from signaling.models import Hearing, HearingState
from signaling.openapi import HandlerT, Response, operation
from signaling.schemas import CatalogQuery, MaskBody, NoFields
from signaling.schemas_parse import body, query
from signaling.schemas_replies import Catalog, LiveState, MaskReply
from web import PORTAL_DIR
from web import routes as web_routes


class StreamService(Protocol):
    """The public streams as the routes drive them."""

    @property
    def delay(self) -> float: ...
    @property
    def settings(self) -> EncoderSettings: ...

    def is_live(self, hearing_id: str) -> bool: ...

    async def start_stream(self, hearing: Hearing, masked: set[str]) -> bool:
        """False if the hearing ended meanwhile."""
        ...

    async def stop_stream(self, hearing_id: str) -> int:
        """How many segments not yet public were deleted."""
        ...

    def set_masked(self, hearing_id: str, participant_id: str, masked: bool) -> None: ...

    def state(self, hearing_id: str) -> StreamState: ...

    def directory(self, hearing_id: str) -> Path: ...


routes = web.RouteTableDef()

_SEGMENT = re.compile(r"^seg[0-9]{6}(-low)?\.ts$")
# Live playlists change every segment; a segment or a closed playlist never changes.
_LIVE_PLAYLIST_CACHE = "no-cache, max-age=0"
_IMMUTABLE_CACHE = "public, max-age=86400"
_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
}


async def _moderated_public(request: web.Request) -> tuple[Services, Hearing]:
    """Credentials first (as every moderator route), then: the hearing must be public (403) and
    not ended (409)."""
    s = services(request)
    hearing_id = request.match_info["hearing_id"]
    await admin_or_moderator(request, hearing_id, s.tokens, s.settings.admin_key)
    hearing = await s.hearings.get(hearing_id)
    if not hearing.public:
        raise forbidden("this hearing is not public; a closed hearing is never streamed")
    if hearing.state is HearingState.ENDED:
        raise conflict("the hearing has ended")
    return s, hearing


def _live_json(s: Services, hearing: Hearing, **extra: object) -> dict[str, object]:
    return {
        "hearing_id": hearing.id,
        "live": s.livestream.is_live(hearing.id),
        "delay_seconds": s.livestream.delay,
        "playlist_url": f"/live/{hearing.id}/index.m3u8",
        **extra,
    }


_ON_AIR_ERRORS = {
    403: "not a moderator of the hearing, or the hearing is not public",
    409: "the hearing has ended",
}


@routes.get("/api/hearings/{hearing_id}/live")
@operation(
    "the public stream's state, for the judge console", {200: LiveState}, security="moderator"
)
async def live_state(request: web.Request) -> web.Response:
    """The judge console's view of the stream; also for closed hearings (never on air)."""
    s = services(request)
    hearing_id = request.match_info["hearing_id"]
    await admin_or_moderator(request, hearing_id, s.tokens, s.settings.admin_key)
    hearing = await s.hearings.get(hearing_id)
    return reply(_live_json(s, hearing))


@routes.post("/api/hearings/{hearing_id}/live/start")
@operation(
    "put the public hearing on air (after the broadcast delay)",
    {200: Response("on air", LiveState)},
    security="moderator",
    body=NoFields,
    body_required=False,
    errors=_ON_AIR_ERRORS,
)
async def live_start(request: web.Request) -> web.Response:
    s, hearing = await _moderated_public(request)
    await no_body(request)
    masked = {p.id for p in await s.hearings.participants(hearing.id) if p.masked}
    # The hearing may have ended while we read: the livestream knows and refuses.
    if not await s.livestream.start_stream(hearing, masked):
        raise conflict("the hearing has ended")
    return reply(_live_json(s, hearing))


@routes.post("/api/hearings/{hearing_id}/live/stop")
@operation(
    "take it off air now; segments not yet public are deleted",
    {200: Response("off air", LiveState)},
    security="moderator",
    body=NoFields,
    body_required=False,
    errors=_ON_AIR_ERRORS,
)
async def live_stop(request: web.Request) -> web.Response:
    s, hearing = await _moderated_public(request)
    await no_body(request)
    deleted = await s.livestream.stop_stream(hearing.id)
    return reply(_live_json(s, hearing, discarded_segments=deleted))


@routes.post("/api/hearings/{hearing_id}/participants/{participant_id}/mask")
@operation(
    "mask (or unmask) a participant's picture in the public stream",
    {200: MaskReply},
    security="moderator",
    body=MaskBody,
    body_required=False,
    errors={409: "the hearing has ended"},
)
async def mask(request: web.Request) -> web.Response:
    s = services(request)
    hearing_id = request.match_info["hearing_id"]
    await admin_or_moderator(request, hearing_id, s.tokens, s.settings.admin_key)
    await s.hearings.get_unended(hearing_id)
    masked = body(MaskBody, await read_json(request, required=False)).masked
    participant = await s.hearings.participant(hearing_id, request.match_info["participant_id"])
    participant = await s.hearings.set_masked(participant, masked)
    await s.presence.participant_changed(participant)
    s.livestream.set_masked(hearing_id, participant.id, masked)
    return reply({"participant_id": participant.id, "masked": participant.masked})


def _filters(request: web.Request) -> Filters:
    wanted = query(CatalogQuery, request.query)
    date_from, date_to = wanted.bounds()
    return Filters(
        status=wanted.status,
        court=wanted.court or None,
        case_type=wanted.case_type or None,
        date_from=date_from,
        date_to=date_to,
        q=wanted.q or None,
        limit=wanted.limit,
        offset=wanted.offset,
    )


@routes.get("/api/catalog")
@operation("public hearings: live, upcoming, on demand", {200: Catalog}, query=CatalogQuery)
async def catalog(request: web.Request) -> web.Response:
    s = services(request)
    filters = _filters(request)
    hearings = await s.hearings.list(include_private=False)
    return reply(select(hearings, s.livestream.state, filters))


async def _stream_file(request: web.Request, *, vod: bool) -> web.StreamResponse:
    s = services(request)
    hearing_id, name = request.match_info["hearing_id"], request.match_info["name"]
    hearing = await s.store.get_hearing(hearing_id)
    if hearing is None or not hearing.public:
        raise not_found("no such stream")
    directory = s.livestream.directory(hearing.id)
    if vod and not (directory / VOD_PLAYLIST).is_file():
        raise not_found("this hearing has no on-demand stream (yet)")
    kind = VOD_PLAYLIST if vod else LIVE_PLAYLIST
    playlist_cache = _IMMUTABLE_CACHE if vod else _LIVE_PLAYLIST_CACHE
    variants = {f"{r.name}.m3u8": r for r in s.livestream.settings.renditions}
    if name == "index.m3u8":
        # The master playlist, once the stream has one (streams made before there were two
        # renditions have only their media playlist, which then stands in).
        if not (directory / kind).is_file():
            raise not_found("no such stream file")
        master = (directory / MASTER_PLAYLIST).is_file()
        file, cache = (MASTER_PLAYLIST if master else kind), playlist_cache
    elif name in variants:
        file, cache = media_playlist(kind, variants[name]), playlist_cache
    elif _SEGMENT.match(name):
        file, cache = name, _IMMUTABLE_CACHE
    elif name == POSTER:
        file, cache = POSTER, "public, max-age=30"
    else:
        raise not_found("no such stream file")
    path = directory / file
    if not path.is_file():
        raise not_found("no such stream file")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": _CONTENT_TYPES[path.suffix],
            "Cache-Control": cache,
            # Anyone may embed a public hearing's player.
            "Access-Control-Allow-Origin": "*",
        },
    )


def _hls(prefix: str) -> Callable[[HandlerT], HandlerT]:
    return operation(
        f"{prefix} HLS: index.m3u8 (master), high.m3u8, low.m3u8, segNNNNNN.ts, "
        "segNNNNNN-low.ts, poster.jpg (public hearings only; anything else is 404)",
        {
            200: Response(
                "the playlist, a segment or the poster",
                ("application/vnd.apple.mpegurl", "video/mp2t", "image/jpeg"),
            )
        },
    )


@routes.get("/live/{hearing_id}/{name}")
@_hls("live")
async def live_file(request: web.Request) -> web.StreamResponse:
    return await _stream_file(request, vod=False)


@routes.get("/vod/{hearing_id}/{name}")
@_hls("on-demand")
async def vod_file(request: web.Request) -> web.StreamResponse:
    return await _stream_file(request, vod=True)


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/portal/")


@routes.get("/portal")
async def portal_slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/portal/")


@routes.get("/portal/")
async def portal(request: web.Request) -> web.StreamResponse:
    return web_routes.page(PORTAL_DIR / "index.html")


def add_routes(app: web.Application) -> None:
    app.add_routes(routes)
    web_routes.add_files(app, "/portal/", PORTAL_DIR)
