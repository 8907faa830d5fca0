"""Socket.IO negotiation: an admitted participant's SDP offers and answers, trickled ICE
candidates and switched-off subscriptions, handed to its SFU peer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sfu import SfuError
from signaling.errors import Code, CourtError, forbidden, not_admitted, not_found
from signaling.registry import SessionRegistry
from signaling.workers import PeerHandle


@contextmanager
def _sdp_errors() -> Iterator[None]:
    """Turn the SFU's refusal of an SDP or ICE candidate into the ``sdp`` error the client gets."""
    try:
        yield
    except SfuError as exc:
        raise CourtError(Code.SDP, str(exc)) from None


class Negotiation:
    def __init__(self, sessions: SessionRegistry) -> None:
        self.sessions = sessions

    def _media_peer(self, sid: str, grant: str) -> PeerHandle:
        _, conn = self.sessions.socket_actor(sid)
        if not conn.in_room or conn.peer is None:
            raise not_admitted("you are waiting in the lobby until a moderator admits you")
        if grant and not getattr(conn.grants, grant):
            raise forbidden(f"a {conn.participant.role} token does not have the {grant} grant")
        return conn.peer

    async def publish(self, sid: str, sdp: str, sources: dict[str, str]) -> str:
        peer = self._media_peer(sid, "publish")
        with _sdp_errors():
            return await peer.publisher_offer(sdp, sources=sources)

    async def subscriber_answer(self, sid: str, sdp: str) -> None:
        peer = self._media_peer(sid, "subscribe")
        with _sdp_errors():
            await peer.subscriber_answer(sdp)

    async def ice_candidate(
        self, sid: str, target: str, candidate: str | None, sdp_mid: str | None, index: int | None
    ) -> None:
        """``candidate`` None is the end of candidates. Admission is checked even then: a socket
        in the lobby has no connection to trickle to and must not be told otherwise."""
        peer = self._media_peer(sid, "")
        if candidate is None:
            return  # aiortc needs no signal for the end of candidates
        with _sdp_errors():
            await peer.add_ice_candidate(target, candidate, sdp_mid, index)  # type: ignore[arg-type]

    async def pause_subscription(self, sid: str, publication_id: str, paused: bool) -> None:
        """A subscriber switches one publication off (or on again) for itself only."""
        peer = self._media_peer(sid, "subscribe")
        if not peer.pause_subscription(publication_id, paused):
            raise not_found("no such publication in this hearing")
