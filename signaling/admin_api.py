"""Operators' views of the control plane: `GET /api/admin/workers`, the SFU worker processes
and which hearings they host (admin key only: hearing ids are visible)."""

from __future__ import annotations

from aiohttp import web

from signaling.auth import require_admin
from signaling.context import services
from signaling.http_api import reply
from signaling.openapi import operation
from signaling.schemas_workers import Workers

routes = web.RouteTableDef()


@routes.get("/api/admin/workers")
@operation(
    "the SFU worker processes: state, restarts, load and the hearings placed on each",
    {200: Workers},
    security="admin",
)
async def workers(request: web.Request) -> web.Response:
    s = services(request)
    require_admin(request, s.tokens, s.settings.admin_key)
    return reply({**s.pool.describe(), "sidecars": s.sessions.sidecars.describe()})


def add_routes(app: web.Application) -> None:
    app.add_routes(routes)
