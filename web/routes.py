"""HTTP routes of the browser clients: the pages, their static files and the npm libraries.

Everything a browser loads comes from this server (court networks are often closed): the
npm packages installed into ``web/node_modules`` by the set-up scripts are served under
``/vendor/``. ``/join/{hearing_id}?token=…`` is the page a token's ``join_url`` points at; the
page picks the judge console, the participant room or the site kiosk from the token's role.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from signaling.context import services
from signaling.errors import Code, CourtError, not_found
from signaling.tokens import TokenError, TokenWrongHearing

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

# What the pages may load: only this server's scripts and styles (no inline code), media from
# the camera (mediastream:) and from hls.js (blob:, also its worker), sockets and fetches to this
# server ('self' covers ws: and wss: of the page's own host).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# Every file: no guessing of types from the content.
_FILE_HEADERS = {"X-Content-Type-Options": "nosniff"}
# HTML pages: /join's URL carries a participant's token, which must not leave in a Referer; no
# page may be framed (clickjacking the judge's console).
PAGE_HEADERS = {
    **_NO_CACHE,
    **_FILE_HEADERS,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def page(path: Path, status: int = 200) -> web.FileResponse:
    return web.FileResponse(path, status=status, headers=PAGE_HEADERS)


def add_files(app: web.Application, prefix: str, directory: Path) -> None:
    """``GET {prefix}{path}``: the files under ``directory``, and a JSON 404 for anything else
    (aiohttp's static route answers a missing file with an empty body, past the error
    middleware)."""
    root = directory.resolve()

    async def serve(request: web.Request) -> web.StreamResponse:
        path = (root / request.match_info["path"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise not_found(f"no such file: {request.path}")
        if path.suffix == ".html":
            return page(path)
        return web.FileResponse(path, headers=_FILE_HEADERS)

    app.router.add_get(prefix + "{path:.+}", serve)


def _vendor_missing(name: str) -> CourtError:
    return CourtError(
        Code.INTERNAL,
        f"browser library {name} is not installed; run scripts/serve (it runs npm ci in web/)",
    )


async def vendor(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    rel = VENDOR_FILES.get(name)
    if rel is None:
        raise not_found(f"no such file: {request.path}")
    path = NODE_MODULES / rel
    if not path.is_file():
        raise _vendor_missing(name)
    return web.FileResponse(path, headers=_NO_CACHE)


async def join_page(request: web.Request) -> web.StreamResponse:
    """The page, with 403 when the token is signed for another hearing than the URL names: the
    page itself says so (in the visitor's language) and never joins the token's hearing. Any
    other fault of the token is the page's to report when it joins."""
    token = request.query.get("token")
    status = 200
    if token:
        try:
            services(request).tokens.verify(token, hearing_id=request.match_info["hearing_id"])
        except TokenWrongHearing:
            status = 403
        except TokenError:
            pass
    return page(STATIC_DIR / "join.html", status)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/join/{hearing_id}", join_page)
    app.router.add_get("/vendor/{name}", vendor)
    add_files(app, "/static/", STATIC_DIR)
