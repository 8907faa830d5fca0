"""How the browser clients' files are served: their security headers and a file route.

The headers belong with the pages: the Content-Security-Policy holds because the pages' code has
no inline script or style. The routes that read tokens, and the vendored npm files, are the
control plane's (signaling/pages.py); this module knows nothing of the server (DESIGN.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

# Pages change with the code; a stale cached module would mix two versions of the client.
NO_CACHE = {"Cache-Control": "no-cache"}

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
    **NO_CACHE,
    **_FILE_HEADERS,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _missing(request: web.Request) -> web.HTTPNotFound:
    # JSON like every other error reply (the server's error middleware passes it on).
    return web.HTTPNotFound(
        text=json.dumps({"error": f"no such file: {request.path}"}),
        content_type="application/json",
    )


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
            raise _missing(request)
        if path.suffix == ".html":
            return page(path)
        return web.FileResponse(path, headers=_FILE_HEADERS)

    app.router.add_get(prefix + "{path:.+}", serve)
