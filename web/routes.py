"""HTTP routes of the browser clients: the pages, their static files and the npm libraries.

Everything a browser loads comes from this server (court networks are often closed): the
npm packages installed into ``web/node_modules`` by the set-up scripts are served under
``/vendor/``. ``/join/{hearing_id}?token=…`` is the page a token's ``join_url`` points at; the
page picks the judge console, the participant room or the site kiosk from the token's role.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from signaling.errors import Code, CourtError

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
NODE_MODULES = WEB_DIR / "node_modules"

# URL name under /vendor/ → file inside node_modules (the packages' own minified builds).
VENDOR_FILES = {
    "socket.io.min.js": "socket.io-client/dist/socket.io.min.js",
    "socket.io.min.js.map": "socket.io-client/dist/socket.io.min.js.map",
    "hls.min.js": "hls.js/dist/hls.min.js",
    "hls.min.js.map": "hls.js/dist/hls.min.js.map",
}

# Pages change with the code; a stale cached module would mix two versions of the client.
_NO_CACHE = {"Cache-Control": "no-cache"}


def _vendor_missing(name: str) -> CourtError:
    return CourtError(
        Code.INTERNAL,
        f"browser library {name} is not installed; run scripts/serve (it runs npm ci in web/)",
    )


async def vendor(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    rel = VENDOR_FILES.get(name)
    if rel is None:
        raise web.HTTPNotFound()
    path = NODE_MODULES / rel
    if not path.is_file():
        raise _vendor_missing(name)
    return web.FileResponse(path, headers=_NO_CACHE)


async def join_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "join.html", headers=_NO_CACHE)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/join/{hearing_id}", join_page)
    app.router.add_get("/vendor/{name}", vendor)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
