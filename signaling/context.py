"""What the request handlers share, kept on the aiohttp application."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from sfu import Worker
from signaling.config import Settings
from signaling.hearings import HearingService
from signaling.moderation import Moderation
from signaling.presence import Presence
from signaling.registry import SessionRegistry
from signaling.store import Store
from signaling.tokens import TokenService
from signaling.whip_sessions import WhipWhepSessions
from signaling.workers import LocalPool, Pool

if TYPE_CHECKING:  # stream_api reads the services: only the type comes from there
    from signaling.stream_api import StreamService


@dataclass
class Services:
    settings: Settings
    store: Store
    tokens: TokenService
    hearings: HearingService
    sessions: SessionRegistry
    presence: Presence
    moderation: Moderation
    whip_whep: WhipWhepSessions
    pool: Pool
    livestream: StreamService
    started_at: float = field(default_factory=time.monotonic)

    @property
    def worker(self) -> Worker:
        """The in-process worker (tests that look inside the SFU run with the LocalPool)."""
        if not isinstance(self.pool, LocalPool):
            raise AttributeError("the SFU runs in worker processes: there is no in-process worker")
        return self.pool.worker


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
