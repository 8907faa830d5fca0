"""Logging: one line per event on stderr, and an access log that never shows query strings."""

from __future__ import annotations

import logging
import sys

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest

from sfu.throttle import Throttle

# Libraries whose errors a client can cause at will (a malformed Socket.IO or Engine.IO packet):
# their tracebacks would let anyone flood the log, so they are cut to a throttled line.
CLIENT_FACING = ("engineio.server", "socketio.server")
MAX_LINE = 300


class OneThrottledLine(logging.Filter):
    """A record becomes one short line without its traceback, and at most one per interval;
    with ``only``, just the records of those exceptions (the others pass as they are)."""

    def __init__(
        self, interval: float = 10.0, only: tuple[type[BaseException], ...] | None = None
    ) -> None:
        super().__init__()
        self._throttle = Throttle(interval)
        self._only = only

    def filter(self, record: logging.LogRecord) -> bool:
        if self._only is not None and not (
            record.exc_info and isinstance(record.exc_info[1], self._only)
        ):
            return True
        skipped = self._throttle.allow()
        if skipped is None:
            return False
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f": {type(exc).__name__}: {exc}"
        if skipped:
            text += f" ({skipped} more not logged)"
        record.msg, record.args = text[:MAX_LINE], ()
        record.exc_info = record.exc_text = record.stack_info = None
        return True


def setup(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiortc/aioice narrate every ICE check at INFO; only their warnings matter to an operator.
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    for name in CLIENT_FACING:
        lib = logging.getLogger(name)
        # A level set here also keeps Engine.IO from adding a stream handler of its own (it
        # does for a logger left at NOTSET), which printed every traceback a second time.
        lib.setLevel(logging.ERROR)
        _filter_once(lib, OneThrottledLine())
    # A request line or header aiohttp cannot parse is the client's error, logged with a
    # traceback by aiohttp; errors of the server's own are logged as they are.
    _filter_once(logging.getLogger("aiohttp.server"), OneThrottledLine(only=(HttpProcessingError,)))


def _filter_once(logger: logging.Logger, new: logging.Filter) -> None:
    if not any(type(f) is type(new) for f in logger.filters):
        logger.addFilter(new)


class AccessLogger(AbstractAccessLogger):
    """Method, path, status, time. The query string is left out because join links carry the
    participant's token there, and logs are read by more people than tokens should be."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %d %.1fms",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )
