"""A channel between two processes: length-prefixed JSON frames over a Unix stream socket.

The control plane drives each SFU worker and sidecar over one of these (docs/SFU.md, "processes
and channel"). Four kinds of frame:

    request   {"id": 17, "m": "peer.publisher_offer", "a": {...}}     a reply is expected
    notify    {"m": "peer.consume", "a": {...}}                       no reply
    response  {"id": 17, "r": {...}} | {"id": 17, "err": {"type": ..., "message": ...}}
    event     {"e": "publication.added", "a": {...}}

The sending side never awaits `drain()`: a worker forwarding media must not wait for a slow
control plane. Droppable events (heartbeats, load) are held back, the latest of each name
winning, while the peer is behind; past `high_water` buffered bytes the channel closes itself
("overflow"), and the peer's supervisor treats that as a wedged process.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sfu.errors import SfuError

log = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
# Above this many buffered bytes droppable events wait (latest wins) instead of being written.
DROP_ABOVE = 256 * 1024

Args = dict[str, Any]
RequestHandler = Callable[[Args], Any]
EventHandler = Callable[[Args], None]


class ChannelClosed(ConnectionError):
    """The other end is gone (or this end closed): pending and later requests fail with it."""


class NotFound(SfuError):
    """A room, peer, publication or tap the worker does not have (closed or moved meanwhile)."""


class RemoteError(RuntimeError):
    """The other end failed with an unexpected error (a bug there); its message is not for users."""


def encode(message: Args) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> Args:
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("a frame must hold a JSON object")
    return message


def _error(exc: BaseException) -> Args:
    if isinstance(exc, NotFound):
        return {"type": "NotFound", "message": str(exc)}
    if isinstance(exc, SfuError):
        return {"type": "SfuError", "message": str(exc)}
    return {"type": "Internal", "message": f"{type(exc).__name__}: {exc}"}


def _exception(err: Any) -> Exception:
    kind = err.get("type") if isinstance(err, dict) else None
    message = str(err.get("message", "")) if isinstance(err, dict) else str(err)
    if kind in ("SfuError", "NotFound"):
        return SfuError(message)  # callers (signaling's negotiation) already handle SfuError
    return RemoteError(message)


class Channel:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        name: str,
        max_frame: int = 1 << 20,
        high_water: int = 4 << 20,
    ) -> None:
        self.name = name
        self.max_frame = max_frame
        self.high_water = high_water
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.last_received = time.monotonic()
        self.dropped_events = 0
        self._reader = reader
        self._writer = writer
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._requests: dict[str, RequestHandler] = {}
        self._events: dict[str, EventHandler] = {}
        self._held: dict[str, Args] = {}  # droppable events waiting for the peer to catch up
        self._tasks: set[asyncio.Task[None]] = set()
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    async def from_fd(cls, fd: int, name: str, **kw: Any) -> Channel:
        """The child's end, inherited as a file descriptor (`--channel-fd 3`)."""
        return await cls.from_socket(socket.socket(fileno=fd), name, **kw)

    @classmethod
    async def from_socket(cls, sock: socket.socket, name: str, **kw: Any) -> Channel:
        sock.setblocking(False)
        # The reader's limit is how much it buffers before pausing the socket: a whole frame,
        # so a large one (an SDP offer) is not read in many pause/resume rounds.
        limit = max(1 << 16, int(kw.get("max_frame", 1 << 20)))
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=limit)
        return cls(reader, writer, name=name, **kw)

    # -- handlers ---------------------------------------------------------------------------------

    def on_request(self, method: str, handler: RequestHandler) -> None:
        """Serve requests and notifies of `method`; the handler may be sync or async."""
        self._requests[method] = handler

    def on_event(self, event: str, handler: EventHandler) -> None:
        self._events[event] = handler

    # -- sending ----------------------------------------------------------------------------------

    async def request(self, method: str, args: Args, timeout: float) -> Any:  # noqa: ASYNC109 (the per-method timeout is the contract)
        """Call `method` on the other end. Raises SfuError (its refusal), RemoteError (its bug),
        ChannelClosed (it is gone, also while waiting) or TimeoutError."""
        if self.closed.done():
            raise ChannelClosed(f"{self.name}: {self.closed.result()}")
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._send({"id": request_id, "m": method, "a": args})
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._pending.pop(request_id, None)

    def notify(self, method: str, args: Args) -> None:
        """Call `method` without waiting; a failure comes back as an `error` event."""
        self._send({"m": method, "a": args})

    def emit(self, event: str, args: Args, *, droppable: bool = False) -> None:
        if droppable and self._buffered() > DROP_ABOVE:
            if event in self._held:
                self.dropped_events += 1
            self._held[event] = args
            if self._flusher is None:
                self._flusher = asyncio.ensure_future(self._flush_when_drained())
            return
        self._send({"e": event, "a": args})

    async def _flush_when_drained(self) -> None:
        """Send the held events once the peer has caught up: a task of its own, so that no
        sender ever waits for the peer."""
        try:
            await self._writer.drain()
        except Exception:  # the connection is gone: nothing to flush to
            return
        finally:
            self._flusher = None
        if self._held and not self.closed.done():
            self._send_held()

    def _send_held(self) -> None:
        held, self._held = self._held, {}
        for event, args in held.items():
            self._writer.write(encode({"e": event, "a": args}))

    def _buffered(self) -> int:
        transport = self._writer.transport
        return 0 if transport.is_closing() else transport.get_write_buffer_size()

    def _send(self, message: Args) -> None:
        if self.closed.done():
            return
        if self._held and self._buffered() <= DROP_ABOVE:
            self._send_held()
        self._writer.write(encode(message))
        if self._buffered() > self.high_water:
            log.error(
                "channel %s: the other end is %d bytes behind: closing", self.name, self._buffered()
            )
            self._finish("overflow", abort=True)

    # -- receiving --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read and dispatch frames until EOF (or a bad frame); then fail pending requests."""
        reason = "eof"
        try:
            while not self.closed.done():
                header = await self._reader.readexactly(HEADER.size)
                (length,) = HEADER.unpack(header)
                if length > self.max_frame:
                    log.error("channel %s: a frame of %d bytes: closing", self.name, length)
                    reason = "bad frame"
                    break
                body = await self._reader.readexactly(length)
                self.last_received = time.monotonic()
                try:
                    message = decode(body)
                except ValueError:
                    log.error("channel %s: an unparsable frame: closing", self.name)
                    reason = "bad frame"
                    break
                if self._dispatch(message):
                    # An async handler was started: let its synchronous prefix run before the
                    # next frame is read, so requests take effect in arrival order.
                    await asyncio.sleep(0)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            reason = "eof"
        finally:
            self._finish(reason)

    def _dispatch(self, message: Args) -> bool:
        """Handle one frame; True when it started a task."""
        if "e" in message:
            handler = self._events.get(str(message["e"]))
            if handler is not None:
                try:
                    handler(message.get("a") or {})
                except Exception:
                    log.exception("channel %s: handling event %s failed", self.name, message["e"])
            return False
        if "m" not in message:
            future = self._pending.get(message.get("id", -1))
            if future is not None and not future.done():
                if "err" in message:
                    future.set_exception(_exception(message["err"]))
                else:
                    future.set_result(message.get("r"))
            return False
        method = str(message["m"])
        request_id = message.get("id")
        args = message.get("a") or {}
        handler = self._requests.get(method)
        try:
            if handler is None:
                raise RemoteError(f"unknown method {method}")
            result = handler(args)
        except Exception as exc:
            self._failed(method, request_id, args, exc)
            return False
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(self._finish_request(method, request_id, args, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return True
        if request_id is not None:
            self._send({"id": request_id, "r": result})
        return False

    async def _finish_request(
        self, method: str, request_id: Any, args: Args, pending: Awaitable[Any]
    ) -> None:
        try:
            result = await pending
        except Exception as exc:
            self._failed(method, request_id, args, exc)
            return
        if request_id is not None:
            self._send({"id": request_id, "r": result})

    def _failed(self, method: str, request_id: Any, args: Args, exc: Exception) -> None:
        if not isinstance(exc, SfuError):
            log.error("channel %s: %s failed", self.name, method, exc_info=exc)
        if request_id is not None:
            self._send({"id": request_id, "err": _error(exc)})
        else:  # a notify has no caller to answer: tell the other end what went wrong
            self.emit(
                "error",
                {
                    "method": method,
                    "room": args.get("room"),
                    "peer": args.get("peer"),
                    "message": str(exc),
                },
            )

    # -- ending -----------------------------------------------------------------------------------

    def _finish(self, reason: str, *, abort: bool = False) -> None:
        if not self.closed.done():
            self.closed.set_result(reason)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChannelClosed(f"{self.name}: {reason}"))
        self._pending.clear()
        if self._flusher is not None:
            self._flusher.cancel()
        transport = self._writer.transport
        if abort:
            transport.abort()
        elif not transport.is_closing():
            transport.close()

    async def close(self) -> None:
        """Close this end (what is buffered is still written); `run` then returns."""
        self._finish("closed")
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
