"""Socket.IO packets that cannot break the server.

python-socketio decodes a packet before any handler runs, and trusts its shape: JSON nested
deeper than Python's recursion limit raises RecursionError there, invalid JSON ValueError, a packet
type it does not know, an event without a name (``2``) or binary packets from a socket that is not
connected raise in its dispatch; each escaped into Engine.IO, which logged a traceback and dropped
the packet, so the client got neither an ack nor an ``error``. And an event named ``connect``,
``disconnect`` or ``*`` would run the server's own handler of that name.

``SafePacket`` decodes every such packet as the event ``MALFORMED_EVENT`` instead, carrying the
event name the client seems to have meant and what is wrong; the catch-all handler answers it with
``bad_request`` with a fixed text. An event a client names ``MALFORMED_EVENT`` is refused like
``connect``. This protocol has no binary packets, so those are malformed too.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from engineio import json as engineio_json
from socketio import packet

from sfu.throttle import Throttle

log = logging.getLogger("cloudcourt.socket")

MALFORMED_EVENT = "\x00malformed"
NOT_JSON = "the payload is not valid JSON, or is nested too deeply"
NOT_AN_EVENT = "the packet is not a Socket.IO event this server accepts"

# Names python-socketio dispatches to the server's own handlers: a client sending one would run
# the connect or disconnect handler, or the catch-all without the event name it expects; and the
# name refused packets are handed on as, whose arguments the catch-all trusts.
RESERVED_EVENTS = ("connect", "disconnect", "*", MALFORMED_EVENT)

# '["join", ...': the event name as far as it can be told without parsing the rest.
_EVENT_NAME = re.compile(r'\s*\[\s*"([A-Za-z0-9_\-]{1,64})"')

# Anyone can send malformed packets as fast as the socket goes: one line per interval at most.
_malformed_log = Throttle(10.0)


def event_name_in(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text[:200].decode(errors="replace")
    match = _EVENT_NAME.match(text[:200])
    return match.group(1) if match else ""


class _Refused(list[str]):
    """A list of its own type, so that a client's event named ``MALFORMED_EVENT`` is no refusal."""


def malformed(name: str, problem: str) -> list[str]:
    """The decoded form of a packet that is refused: ``[MALFORMED_EVENT, name, problem]``."""
    return _Refused([MALFORMED_EVENT, name, problem])


class SafeJson:
    """The json module python-socketio calls (``dumps``, ``loads``)."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        try:
            # engineio's loads: the standard one, refusing integers of more than 100 digits.
            return engineio_json.loads(text, **kwargs)
        except (RecursionError, ValueError):
            return malformed(event_name_in(text), NOT_JSON)


class SafePacket(packet.Packet):  # type: ignore[misc]  # python-socketio has no type hints
    """Passed as ``serializer``: unlike ``AsyncServer(json=...)``, it leaves python-socketio's
    Packet class (and Engine.IO's JSON) as they are for everyone else in the process."""

    json = SafeJson
    id: int | None  # the packet's ack id, as Packet sets it

    def decode(self, encoded_packet: str | bytes) -> int:
        try:
            attachments: int = super().decode(encoded_packet)
        except Exception:  # whatever a hostile packet makes the parser raise
            return self._refuse(encoded_packet, NOT_AN_EVENT)
        kind, data = self.packet_type, self.data
        if kind in (packet.CONNECT, packet.DISCONNECT):
            return attachments
        if kind == packet.EVENT and isinstance(data, _Refused):  # JSON that SafeJson refused
            return 0
        if kind == packet.EVENT and isinstance(data, list) and data and isinstance(data[0], str):
            if data[0] in RESERVED_EVENTS:
                # A packet as it should be, with a name no client may send: refused like an
                # unknown name, so not logged either.
                return self._hand_on(data[0], f"unknown event {data[0]!r}")
            return 0
        if kind == packet.ACK and isinstance(data, list):
            return 0
        return self._refuse(encoded_packet, NOT_AN_EVENT)

    def _refuse(self, encoded_packet: str | bytes, problem: str) -> int:
        _malformed_log.log(
            log,
            logging.INFO,
            "refused a malformed Socket.IO packet (%d bytes, starting %r)",
            len(encoded_packet),
            encoded_packet[:16],
        )
        return self._hand_on(event_name_in(encoded_packet), problem)

    def _hand_on(self, name: str, problem: str) -> int:
        self.packet_type = packet.EVENT
        self.namespace = None
        if not isinstance(self.id, int):
            self.id = None
        self.data = malformed(name, problem)
        return 0
