"""Socket.IO packets whose JSON cannot break the server.

python-socketio decodes a packet's JSON before any handler runs. JSON nested deeper than Python's
recursion limit raises RecursionError there, and invalid JSON ValueError; either escapes into
Engine.IO, which logs it and drops the packet, so the client gets neither an ack nor an ``error``.
``SafePacket`` decodes such a payload as the event ``MALFORMED_EVENT`` instead, carrying the event
name the client seems to have meant; the catch-all handler answers it with ``bad_request``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engineio import json as engineio_json
from socketio import packet

MALFORMED_EVENT = "\x00malformed"

# '["join", ...': the event name as far as it can be told without parsing the rest.
_EVENT_NAME = re.compile(r'\s*\[\s*"([A-Za-z0-9_\-]{1,64})"')


def event_name_in(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text[:200].decode(errors="replace")
    match = _EVENT_NAME.match(text[:200])
    return match.group(1) if match else ""


class SafeJson:
    """The json module python-socketio calls (``dumps``, ``loads``)."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        try:
            # engineio's loads: the standard one, refusing integers of more than 100 digits.
            return engineio_json.loads(text, **kwargs)
        except (RecursionError, ValueError):
            return [MALFORMED_EVENT, event_name_in(text)]


class SafePacket(packet.Packet):
    """Passed as ``serializer``: unlike ``AsyncServer(json=...)``, it leaves python-socketio's
    Packet class (and Engine.IO's JSON) as they are for everyone else in the process."""

    json = SafeJson
