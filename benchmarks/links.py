"""How a generated peer reaches the server: its signaling link.

- `PipeLink`: the self-contained mode. The benchmark's coordinator relays the peer's messages to
  the SFU worker process (or the baseline relay) holding its hearing.
- `SocketLink`: a running `cloudcourt serve`, over Socket.IO exactly as docs/PROTOCOL.md says
  (join with a pre-admitted token, `publish`, `subscriber_offer` → `subscriber_answer`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from benchmarks.channel import Channel

OfferHandler = Callable[[str], Awaitable[str]]
SIGNAL_TIMEOUT = 30.0


class Link:
    """A peer's signaling: join, publish an offer, answer the server's offers."""

    on_offer: OfferHandler | None = None

    async def join(self, publish: bool) -> None:
        raise NotImplementedError

    async def publish(self, sdp: str) -> str:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class PipeLink(Link):
    def __init__(self, channel: Channel, hearing: str, peer_id: str) -> None:
        self._channel = channel
        self._hearing = hearing
        self._peer_id = peer_id
        self._answer: asyncio.Future[str] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _signal(self, *message: Any) -> None:
        self._channel.send(("signal", message))

    async def join(self, publish: bool) -> None:
        if not publish:  # a publisher exists for the server once it offers
            self._signal("subscribe", self._hearing, self._peer_id)

    async def publish(self, sdp: str) -> str:
        self._answer = asyncio.get_running_loop().create_future()
        self._signal("publish", self._hearing, self._peer_id, sdp)
        return await asyncio.wait_for(self._answer, SIGNAL_TIMEOUT)

    def deliver(self, message: tuple[Any, ...]) -> None:
        """A message from the server for this peer: ("answer"|"offer"|"error", peer_id, text)."""
        kind, _, text = message
        if kind == "answer" and self._answer is not None and not self._answer.done():
            self._answer.set_result(text)
        elif kind == "error" and self._answer is not None and not self._answer.done():
            self._answer.set_exception(RuntimeError(f"server refused: {text}"))
        elif kind == "offer" and self.on_offer is not None:
            task = asyncio.ensure_future(self._answer_offer(text))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer_offer(self, sdp: str) -> None:
        assert self.on_offer is not None
        answer = await self.on_offer(sdp)
        self._signal("subscriber_answer", self._hearing, self._peer_id, answer)


class SocketLink(Link):
    def __init__(self, url: str, token: str) -> None:
        self._url = url
        self._token = token
        self._sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        self._sio.on("subscriber_offer", self._on_subscriber_offer)
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[str] = []

    async def _call(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        ack = await self._sio.call(event, payload, timeout=SIGNAL_TIMEOUT)
        if not (isinstance(ack, dict) and ack.get("ok") is True):
            raise RuntimeError(f"{event} refused: {ack!r}")
        return ack

    async def join(self, publish: bool) -> None:
        await self._sio.connect(self._url, transports=["websocket"], wait_timeout=SIGNAL_TIMEOUT)
        ack = await self._call("join", {"token": self._token})
        if ack.get("state") != "admitted":
            raise RuntimeError("joined into the lobby: issue load-test tokens with admitted=true")

    async def publish(self, sdp: str) -> str:
        return str((await self._call("publish", {"sdp": sdp, "type": "offer"}))["sdp"])

    async def _on_subscriber_offer(self, data: dict[str, Any]) -> None:
        # Publishers are publish-only peers here: they leave the offer unanswered, so the server
        # never connects a subscriber connection to them.
        if self.on_offer is not None:
            task = asyncio.ensure_future(self._answer_offer(data["sdp"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer_offer(self, sdp: str) -> None:
        assert self.on_offer is not None
        try:
            answer = await self.on_offer(sdp)
            await self._call("subscriber_answer", {"sdp": answer, "type": "answer"})
        except Exception as exc:  # reported with the peer's figures, not raised into socketio
            self.errors.append(repr(exc))

    async def close(self) -> None:
        if self._sio.connected:
            await self._sio.disconnect()
