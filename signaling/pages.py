"""The browser clients' pages as the control plane serves them: /join with its token check,
the static files, and the npm libraries under /vendor/.

Everything a browser loads comes from this server (court networks are often closed): the
npm packages installed into ``web/node_modules`` by the set-up scripts are served under
``/vendor/``. ``/join/{hearing_id}?token=…`` is the page a token's ``join_url`` points at; the
page picks the judge console, the participant room or the site kiosk from the token's role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from signaling.context import services
from signaling.errors import Code, CourtError, not_found
from signaling.tokens import TokenError, TokenWrongHearing
from web import NODE_MODULES, STATIC_DIR
from web.routes import NO_CACHE, add_files, page

# URL name under /vendor/ → file inside node_modules (the packages' own minified builds).
VENDOR_FILES = {
    "socket.io.min.js": "socket.io-client/dist/socket.io.min.js",
    "socket.io.min.js.map": "socket.io-client/dist/socket.io.min.js.map",
    "hls.min.js": "hls.js/dist/hls.min.js",
    "hls.min.js.map": "hls.js/dist/hls.min.js.map",
    "signature_pad.min.js": "signature_pad/dist/signature_pad.umd.min.js",
    "signature_pad.min.js.map": "signature_pad/dist/signature_pad.umd.min.js.map",
}


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
    return web.FileResponse(path, headers=NO_CACHE)


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


# The court network's pages (docs/NETWORK.md), each one HTML file under web/static/; who may
# see what on them is the API's to decide, so the pages themselves carry nothing secret.
NETWORK_PAGES = ("login", "admin", "kiosk", "officer", "liaison", "sign")


def _network_page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve(request: web.Request) -> web.StreamResponse:
        path = STATIC_DIR / f"{name}.html"
        if not path.is_file():
            raise not_found(f"no such page: {request.path}")
        return page(path)

    return serve


def add_routes(app: web.Application) -> None:
    app.router.add_get("/join/{hearing_id}", join_page)
    for name in NETWORK_PAGES:
        app.router.add_get(f"/{name}", _network_page(name))
    app.router.add_get("/vendor/{name}", vendor)
    add_files(app, "/static/", STATIC_DIR)
