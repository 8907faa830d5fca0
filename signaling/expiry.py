"""Tokens expire while they are in use: a socket or a WHIP/WHEP session opened with a token lasts
as long as the connection, which can be hours past the token's ``exp``. This task ends such
presences shortly after their token expires (docs/PROTOCOL.md, docs/API.md).

One periodic sweep rather than a timer per connection: it cannot leak a timer when a connection
ends some other way, and comparing a few integers per connection once a second costs nothing.
"""

from __future__ import annotations

import asyncio
import logging

from signaling.live_state import LeftReason
from signaling.presence import Presence
from signaling.registry import SessionRegistry

log = logging.getLogger("cloudcourt.live")

# How late after its token's expiry (plus the tokens' clock leeway) a presence may still last.
SWEEP_SECONDS = 1.0


class TokenExpiry:
    def __init__(self, sessions: SessionRegistry, presence: Presence) -> None:
        self.sessions = sessions
        self.presence = presence

    async def run(self, interval: float = SWEEP_SECONDS) -> None:
        """Run until cancelled (SessionRegistry.close cancels it with its other tasks)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                # One bad sweep must not end the sweeping: the next one may well succeed.
                log.exception("ending connections with expired tokens failed")

    async def sweep(self) -> None:
        """End the presences and playbacks whose token has expired. A token is checked when it is
        used; this is for what it opened and that would otherwise last for hours after."""
        expired = self.sessions.service.tokens.expired
        for session in self.sessions.all():
            if not any(expired(c.expires_at) for c in session.connections.values()) and not any(
                expired(p.expires_at) for p in session.playbacks.values()
            ):
                continue
            async with self.sessions.locked(session):
                for conn in [c for c in session.connections.values() if expired(c.expires_at)]:
                    was_in_room = conn.in_room
                    await self.presence.drop(
                        session,
                        conn,
                        reason=LeftReason.EXPIRED,
                        notify=("removed", {"reason": LeftReason.EXPIRED.value}),
                    )
                    if was_in_room:
                        await self.presence.mark_left(conn.participant)
                    log.info("token of %s in hearing %s expired", conn.participant.id, session.id)
                for playback in [p for p in session.playbacks.values() if expired(p.expires_at)]:
                    await self.sessions.drop_playback(session, playback)
                    log.info(
                        "WHEP playback %s in hearing %s expired", playback.resource_id, session.id
                    )
                await self.sessions.close_idle_room(session)
