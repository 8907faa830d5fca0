"""One error type for every refusal, and the aiohttp middleware that renders errors as JSON.

Services raise :class:`CourtError` with a protocol code (docs/PROTOCOL.md); the HTTP layer maps the
code to a status and the Socket.IO layer puts it in the ack, so both transports say the same thing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum

from aiohttp import web

log = logging.getLogger("cloudcourt.http")


class Code(StrEnum):
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_ADMITTED = "not_admitted"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    SDP = "sdp"
    INTERNAL = "internal"


HTTP_STATUS: dict[Code, int] = {
    Code.BAD_REQUEST: 400,
    Code.UNAUTHORIZED: 401,
    Code.FORBIDDEN: 403,
    Code.NOT_ADMITTED: 403,
    Code.NOT_FOUND: 404,
    Code.CONFLICT: 409,
    Code.SDP: 400,
    Code.INTERNAL: 500,
}


class CourtError(Exception):
    """A refusal whose message is safe to show to the client."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]


def bad_request(message: str) -> CourtError:
    return CourtError(Code.BAD_REQUEST, message)


def unauthorized(message: str) -> CourtError:
    return CourtError(Code.UNAUTHORIZED, message)


def forbidden(message: str) -> CourtError:
    return CourtError(Code.FORBIDDEN, message)


def not_admitted(message: str) -> CourtError:
    return CourtError(Code.NOT_ADMITTED, message)


def not_found(message: str) -> CourtError:
    return CourtError(Code.NOT_FOUND, message)


def conflict(message: str) -> CourtError:
    return CourtError(Code.CONFLICT, message)


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": message}, ensure_ascii=False),
        content_type="application/json",
        headers=headers,
    )


def _http_exception_message(request: web.Request, exc: web.HTTPException) -> str:
    # aiohttp's own texts ("404: Not Found") say nothing a client can act on.
    if isinstance(exc, web.HTTPNotFound) and exc.text in (None, "", "404: Not Found"):
        return f"no such resource: {request.method} {request.path}"
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return f"method {request.method} is not allowed on {request.path}; allowed: {allowed}"
    if exc.content_type == "application/json" and exc.text:
        try:
            body = json.loads(exc.text)
        except ValueError:
            body = None
        message = body.get("error") if isinstance(body, dict) else None
        if isinstance(message, str):
            return message
    text = exc.text or exc.reason
    prefix = f"{exc.status}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


_PASS_HEADERS = ("Allow", "WWW-Authenticate", "Accept-Post", "Retry-After")


@web.middleware
async def error_middleware(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    try:
        return await handler(request)
    except CourtError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return json_error(exc.http_status, exc.message, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in _PASS_HEADERS}
        return json_error(exc.status, _http_exception_message(request, exc), headers)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_error(500, "internal server error; the details are in the server log")
