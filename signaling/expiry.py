"""Tokens expire while they are in use: a socket or a WHIP/WHEP session opened with a token lasts
as long as the connection, which can be hours past the token's ``exp``. This task ends such
presences shortly after their token expires (docs/PROTOCOL.md, docs/API.md).

One periodic sweep rather than a timer per connection: it cannot leak a timer when a connection
ends some other way, and comparing a few integers per connection once a second costs nothing.
"""

from __future__ import annotations

import asyncio
import logging

from signaling.live import LiveHearings

log = logging.getLogger("cloudcourt.live")

# How late after its token's expiry (plus the tokens' clock leeway) a presence may still last.
SWEEP_SECONDS = 1.0


async def expire_tokens(live: LiveHearings, interval: float = SWEEP_SECONDS) -> None:
    """Run until cancelled (LiveHearings.close cancels it with its other tasks)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await live.expire_due()
        except Exception:
            # One bad sweep must not end the sweeping: the next one may well succeed.
            log.exception("ending connections with expired tokens failed")
