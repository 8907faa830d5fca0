"""SFU callbacks translated into the Socket.IO events of docs/PROTOCOL.md.

The SFU calls these synchronously from its own code paths, so they only queue events (the outbox
keeps them in order) or spawn a task; they never block and never raise into the SFU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sfu import Publication, PublicationInfo, TrackInfo
from signaling import consumption
from signaling.rooms import tell_about
from signaling.workers import PeerHandle, PublicationView, RoomHandle

if TYPE_CHECKING:
    from signaling.live_state import Connection, HearingSession
    from signaling.models import Participant
    from signaling.outbox import Outbox
    from signaling.sidecars import Sidecars

log = logging.getLogger("cloudcourt.live")


def publication_json(publication: PublicationView) -> dict[str, Any]:
    return {
        "id": publication.id,
        "participant_id": publication.peer_id,
        "kind": publication.kind,
        "codec": publication.codec,
        "muted": publication.muted,
        "source": publication.source,
    }


def publication_info(publication: PublicationView) -> PublicationInfo:
    """What the sidecars are told of a publication: the worker's mirror as it is, or an
    in-process publication's `info()`."""
    if isinstance(publication, Publication):
        return publication.info()
    assert isinstance(publication, PublicationInfo)
    return publication


def live_publications(
    sessions: Iterable[HearingSession],
) -> Iterator[tuple[str, Participant, PublicationInfo]]:
    """Every publication now in a hearing's room, with whose it is: what a sidecar process is
    told again after it restarted."""
    for session in sessions:
        room = session.room
        if room is None:
            continue
        for publication in list(room.publications.values()):
            conn = session.connections.get(publication.peer_id)
            if conn is not None:
                yield session.id, conn.participant, publication_info(publication)


def track_json(track: TrackInfo) -> dict[str, Any]:
    return {
        "mid": track.mid,
        "publication_id": track.publication_id,
        "participant_id": track.peer_id,
        "kind": track.kind,
        "muted": track.muted,
        "source": track.source,
    }


class RoomEvents:
    """RoomListener for one hearing's room."""

    def __init__(self, outbox: Outbox, sidecars: Sidecars, session: HearingSession) -> None:
        self.outbox = outbox
        self.sidecars = sidecars
        self.session = session

    def on_publication(self, room: RoomHandle, publication: PublicationView) -> None:
        try:
            # A mute imposed before the track existed holds from its first packet.
            if self.session.mute_state(publication.peer_id).muted(publication.kind):
                room.set_muted(publication.id, True)
        except Exception:
            log.exception("could not mute new publication %s", publication.id)
        conn = self.session.connections.get(publication.peer_id)
        if conn is not None:
            self.sidecars.publication_added(
                self.session.id, conn.participant, publication_info(publication)
            )
        # The SFU forwards it to nobody until told who receives it.
        consumption.publication_added(self.session, publication)
        tell_about(
            self.outbox,
            self.session,
            publication.peer_id,
            "track_published",
            {"publication": publication_json(publication)},
            to_self=True,
        )

    def on_unpublication(self, room: RoomHandle, publication: PublicationView) -> None:
        self.sidecars.publication_removed(self.session.id, publication.id)
        tell_about(
            self.outbox,
            self.session,
            publication.peer_id,
            "track_unpublished",
            {
                "publication_id": publication.id,
                "participant_id": publication.peer_id,
                "kind": publication.kind,
            },
            to_self=True,
        )

    def on_active_speaker(self, room: RoomHandle, peer_id: str | None, level: int) -> None:
        payload = {"participant_id": peer_id, "level": level}
        if peer_id is None:
            self.outbox.emit("active_speaker", payload, to=self.session.room_name)
        else:  # only to those who hear them
            tell_about(self.outbox, self.session, peer_id, "active_speaker", payload, to_self=True)

    def on_lost(self, room: RoomHandle, reason: str) -> None:
        """The hearing's worker died: its media is gone until every peer is placed again (their
        publications come back as new ones; the lost room ended the old ones before this)."""
        log.warning("hearing %s lost its media: %s", self.session.id, reason)
        self.sidecars.media_interrupted(self.session.id, time.time(), reason)


class PeerEvents:
    """PeerListener for a participant's connection (Socket.IO or WHIP)."""

    def __init__(
        self, outbox: Outbox, conn: Connection, closed: Callable[[PeerHandle, str], None]
    ) -> None:
        self.outbox = outbox
        self.conn = conn
        # Called with the peer and the reason; must not block (it spawns the clean-up).
        self.closed = closed

    def _deliverable(self, peer: PeerHandle) -> str | None:
        """The socket to tell, if this peer is still the participant's current one."""
        if self.conn.peer is not peer or self.conn.sid is None:
            return None
        return self.conn.sid

    def on_subscriber_offer(self, peer: PeerHandle, sdp: str) -> None:
        sid = self._deliverable(peer)
        if sid is None:
            return
        tracks = [track_json(t) for t in peer.tracks()]
        self.outbox.emit(
            "subscriber_offer", {"sdp": sdp, "type": "offer", "tracks": tracks}, to=sid
        )

    def on_subscriptions(self, peer: PeerHandle, tracks: list[TrackInfo]) -> None:
        sid = self._deliverable(peer)
        if sid is None:
            return
        self.outbox.emit("subscriptions", {"tracks": [track_json(t) for t in tracks]}, to=sid)

    def on_closed(self, peer: PeerHandle, reason: str) -> None:
        self.closed(peer, reason)


class WhepEvents:
    """PeerListener for a WHEP playback session: it has no socket; only its end matters."""

    def __init__(self, closed: Callable[[str], None]) -> None:
        # Called with the reason; must not block (it spawns the clean-up).
        self.closed = closed

    def on_subscriber_offer(self, peer: PeerHandle, sdp: str) -> None:
        return None

    def on_subscriptions(self, peer: PeerHandle, tracks: list[TrackInfo]) -> None:
        return None

    def on_closed(self, peer: PeerHandle, reason: str) -> None:
        self.closed(reason)
