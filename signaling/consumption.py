"""Who receives what: the SFU forwards a publication only to the peers told to `consume` it.

The SFU knows peers and publications, not hearings or roles, so the decision lives here: a
participant receives the publications of those `rooms.receives` says (their room, and for a
moderator the rooms they look into), a WHEP playback its source's. A room change is a `resync`:
consume what is now wanted, unconsume what no longer is; the publisher is not renegotiated and
the per-packet path never asks about rooms.

Everything here is synchronous and never raises into its callers (an SFU listener among them): a
peer closed meanwhile is skipped, its replacement is told when it is made (`Presence.new_peer`).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Collection
from typing import TYPE_CHECKING

from sfu import SfuError
from signaling.rooms import receives

if TYPE_CHECKING:
    from signaling.live_state import Connection, HearingSession, WhepPlayback
    from signaling.workers import PeerHandle, PublicationView, RoomHandle

log = logging.getLogger("cloudcourt.live")

# The participant each playback shows. Kept here until `WhepPlayback` carries its source
# itself; weak, so an ended playback leaves nothing behind.
_sources: weakref.WeakKeyDictionary[WhepPlayback, str] = weakref.WeakKeyDictionary()


def wanted(session: HearingSession, conn: Connection, room: RoomHandle) -> set[str]:
    """Publications this participant's subscriber connection receives (docs/ROOMS.md)."""
    return {p.id for p in room.publications.values() if receives(session, conn, p.peer_id)}


def source_publications(room: RoomHandle, source_id: str) -> list[str]:
    """The publications of a WHEP playback's source, in the order they were published."""
    return [p.id for p in room.publications.values() if p.peer_id == source_id]


def wanted_by_playback(playback: WhepPlayback, room: RoomHandle) -> set[str]:
    source = _sources.get(playback)
    return set(source_publications(room, source)) if source is not None else set()


def playback_started(session: HearingSession, playback: WhepPlayback, source_id: str) -> None:
    """The playback's WHEP answer is out: from now on it also gets its source's new
    publications. Consumes again what the source published while the offer was negotiated
    (consume is idempotent). Not before the answer: a consume ahead of the WHEP offer would make
    the SFU offer a subscriber connection of its own."""
    _sources[playback] = source_id
    if session.room is not None:
        _consume(playback.peer, wanted_by_playback(playback, session.room))


def resync(session: HearingSession) -> None:
    """Every subscribing peer of the hearing consumes all it should and nothing else (after a
    room change or a re-placement)."""
    room = session.room
    if room is None:
        return
    everything = set(room.publications)
    for conn in session.connections.values():
        if conn.peer is not None and conn.peer.can_subscribe:
            want = wanted(session, conn, room)
            _consume(conn.peer, want)
            _unconsume(conn.peer, everything - want)
    for playback in session.playbacks.values():
        if playback in _sources:
            _consume(playback.peer, wanted_by_playback(playback, room))


def publication_added(session: HearingSession, publication: PublicationView) -> None:
    """A new publication: to the subscriber connections of those who receive its publisher, and
    to the playbacks of its publisher."""
    ids = [publication.id]
    for conn in session.connections.values():
        peer = conn.peer
        if peer is not None and peer.can_subscribe and receives(session, conn, publication.peer_id):
            _consume(peer, ids)
    for playback in session.playbacks.values():
        if _sources.get(playback) == publication.peer_id:
            _consume(playback.peer, ids)


def _consume(peer: PeerHandle, ids: Collection[str]) -> None:
    if not ids:
        return
    try:
        peer.consume(ids)
    except SfuError as exc:  # closed meanwhile: its replacement consumes when it is made
        log.debug("peer %s cannot consume: %s", peer.id, exc)


def _unconsume(peer: PeerHandle, ids: Collection[str]) -> None:
    if not ids:
        return
    try:
        peer.unconsume(ids)
    except SfuError as exc:  # closed meanwhile: its replacement consumes only what it should
        log.debug("peer %s cannot unconsume: %s", peer.id, exc)
