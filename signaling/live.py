"""The control plane's live parts, wired together: ``SessionRegistry`` (the hearings in session,
their locks and SFU rooms), ``Presence`` (joining, leaving, the lobby), ``Negotiation`` (SDP and ICE
over Socket.IO), ``Moderation``, ``WhipWhepSessions`` and ``TokenExpiry``.

The methods below only forward: they are the entry points the request handlers call today, and
go once those call the parts themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from sfu import Worker
from signaling.expiry import TokenExpiry
from signaling.hearings import HearingService
from signaling.live_state import Connection, HearingSession, LeftReason
from signaling.models import Hearing, Participant
from signaling.moderation import Moderation
from signaling.negotiation import Negotiation
from signaling.outbox import Outbox
from signaling.presence import Presence
from signaling.registry import SessionRegistry
from signaling.roles import Actor
from signaling.whip_sessions import WhipWhepSessions


class LiveHearings:
    def __init__(
        self,
        service: HearingService,
        worker: Worker,
        outbox: Outbox,
        ice_servers: list[dict[str, Any]],
    ) -> None:
        self.sessions = SessionRegistry(service, worker, outbox)
        self.sidecars = self.sessions.sidecars
        self.presence = Presence(self.sessions, ice_servers)
        self.negotiation = Negotiation(self.sessions)
        self.moderation = Moderation(self.sessions, self.presence)
        self.whip_whep = WhipWhepSessions(self.sessions, self.presence)
        self.expiry = TokenExpiry(self.sessions, self.presence)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.sessions.spawn(coro)

    def stats(self) -> dict[str, int]:
        return self.sessions.stats()

    async def close(self) -> None:
        await self.sessions.close()

    def is_joined(self, sid: str) -> bool:
        return self.sessions.is_joined(sid)

    def socket_actor(self, sid: str) -> tuple[HearingSession, Connection]:
        return self.sessions.socket_actor(sid)

    async def join(
        self,
        sid: str,
        token: object,
        connected: Callable[[], bool] = lambda: True,
        hearing_id: str | None = None,
    ) -> dict[str, Any]:
        return await self.presence.join(sid, token, connected, hearing_id)

    async def leave(self, sid: str, reason: LeftReason) -> None:
        await self.presence.leave(sid, reason)

    async def participant_changed(self, participant: Participant) -> None:
        await self.presence.participant_changed(participant)

    async def publish(self, sid: str, sdp: str, sources: dict[str, str]) -> str:
        return await self.negotiation.publish(sid, sdp, sources)

    async def subscriber_answer(self, sid: str, sdp: str) -> None:
        await self.negotiation.subscriber_answer(sid, sdp)

    async def ice_candidate(
        self, sid: str, target: str, candidate: str | None, sdp_mid: str | None, index: int | None
    ) -> None:
        await self.negotiation.ice_candidate(sid, target, candidate, sdp_mid, index)

    async def pause_subscription(self, sid: str, publication_id: str, paused: bool) -> None:
        await self.negotiation.pause_subscription(sid, publication_id, paused)

    async def admit(self, hearing_id: str, participant_id: str, actor: Actor) -> dict[str, Any]:
        return await self.moderation.admit(hearing_id, participant_id, actor)

    async def deny(
        self, hearing_id: str, participant_id: str, actor: Actor, reason: str | None
    ) -> dict[str, Any]:
        return await self.moderation.deny(hearing_id, participant_id, actor, reason)

    async def remove(
        self, hearing_id: str, participant_id: str, actor: Actor, reason: str | None
    ) -> dict[str, Any]:
        return await self.moderation.remove(hearing_id, participant_id, actor, reason)

    async def mute(
        self, hearing_id: str, actor: Actor, participant_id: str, kind: str, muted: bool
    ) -> dict[str, Any]:
        return await self.moderation.mute(hearing_id, actor, participant_id, kind, muted)

    async def media_status(self, sid: str, target: str, connected: bool, state: str) -> None:
        await self.moderation.media_status(sid, target, connected, state)

    async def raise_hand(self, sid: str) -> None:
        await self.moderation.raise_hand(sid)

    async def lower_hand(self, sid: str, participant_id: str) -> None:
        await self.moderation.lower_hand(sid, participant_id)

    def alarm(self, hearing_id: str, alarm: dict[str, Any]) -> None:
        self.moderation.alarm(hearing_id, alarm)

    async def end(self, hearing_id: str, actor: Actor) -> Hearing:
        return await self.moderation.end(hearing_id, actor)

    async def whip_publish(self, hearing_id: str, token: object, sdp: str) -> tuple[str, str]:
        return await self.whip_whep.whip_publish(hearing_id, token, sdp)

    async def whep_play(
        self, hearing_id: str, token: object, sdp: str, source: str | None
    ) -> tuple[str, str]:
        return await self.whip_whep.whep_play(hearing_id, token, sdp, source)

    async def delete_resource(self, hearing_id: str, resource_id: str, via: str) -> None:
        await self.whip_whep.delete_resource(hearing_id, resource_id, via)
