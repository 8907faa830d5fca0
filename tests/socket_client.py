"""A bare Socket.IO client for the control-plane tests: records every event, waits on them with
deadlines, and can send a raw (even malformed) event packet."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio

from tests.e2e import Api

_barriers = itertools.count()


class Client:
    """A bare Socket.IO client that records every event it gets."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()
        self.participant_id: str | None = None

        @self.sio.on("*")
        async def any_event(event: str, *args: Any) -> None:
            await self._record(event, args[0] if args else None)

        @self.sio.event
        async def disconnect(*args: Any) -> None:
            await self._record("disconnect", None)

    async def _record(self, event: str, data: Any) -> None:
        self.events.append((event, data))
        async with self._changed:
            self._changed.notify_all()

    async def connect(self) -> Client:
        await self.sio.connect(self.url, transports=["websocket"], wait_timeout=10)
        return self

    async def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        if data is None:
            return await self.sio.call(event, timeout=timeout)
        return await self.sio.call(event, data, timeout=timeout)

    async def join(self, token: str) -> dict:
        ack = await self.call("join", {"token": token})
        if ack.get("ok"):
            self.participant_id = ack["participant"]["id"]
        return ack

    def got(self, event: str) -> list[Any]:
        return [d for e, d in self.events if e == event]

    async def wait(
        self, event: str, pred: Callable[[Any], bool] | None = None, timeout: float = 5
    ) -> Any:
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                for e, d in self.events:
                    if e == event and (pred is None or pred(d)):
                        return d
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.name}: no {event!r} within {timeout}s; got {self.events}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)

    async def call_raw(self, packet_json: str, timeout: float = 10) -> Any:
        """Send an event whose JSON text (``["event", payload]``) is given as is, so that it can
        be malformed or nested deeper than a JSON encoder would go; returns the ack."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def ack(*args: Any) -> None:
            if not done.done():
                done.set_result(args[0] if args else None)

        # python-socketio's own bookkeeping of ack ids, so the server's ack finds this callback.
        ack_id = self.sio._generate_ack_id("/", ack)
        await self.sio.eio.send(f"2{ack_id}{packet_json}")  # Socket.IO EVENT packet
        return await asyncio.wait_for(done, timeout)

    async def barrier(self) -> None:
        """Return once everything the server queued for this socket so far has arrived: the
        server pushes in order, so the error for an unknown event comes after all of it."""
        name = f"barrier_{next(_barriers)}"
        await self.call(name, {})
        await self.wait("error", lambda d: d.get("event") == name)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


def refused(ack: Any, code: str) -> str:
    """The error sentence of an ack that refused with ``code``."""
    assert isinstance(ack, dict) and ack.get("ok") is False, ack
    assert ack.get("code") == code, ack
    assert isinstance(ack.get("error"), str) and ack["error"], ack
    return ack["error"]


async def hearing_and_tokens(api: Api, *roles: str, **kw) -> tuple[dict, list[dict]]:
    hearing = await api.create_hearing()
    return hearing, [
        await api.token(hearing["id"], role, f"{role}-{i}", **kw) for i, role in enumerate(roles)
    ]


MakeClient = Callable[..., Awaitable[Client]]


@contextlib.asynccontextmanager
async def client_factory(url: str) -> AsyncIterator[MakeClient]:
    """``make(name, token=None)``: a connected client, joined with ``token`` (an issued token) if
    one is given; all of them are closed on exit."""
    made: list[Client] = []

    async def make(name: str = "client", token: dict | None = None) -> Client:
        c = Client(url, name)
        made.append(c)
        await c.connect()
        if token is not None:
            await c.join(token["token"])
        return c

    try:
        yield make
    finally:
        await asyncio.gather(*(c.close() for c in made))
