"""The SFU's wire types: what crosses the channel between a worker process and the control plane.

Plain frozen values with `to_wire()`/`from_wire()` to and from JSON-ready dicts (the channel
encodes with stdlib json, nothing in the protocol is `bytes`), plus the method and event names of
docs/SFU.md "Processes and channel" (design17 §2), so both ends spell them the same way.

`from_wire` checks every field's type: a frame comes from another process, and a malformed one is
a bug that must fail loudly at the boundary rather than deep inside a listener.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "EVENTS",
    "METHODS",
    "PublicationInfo",
    "TrackInfo",
    "track_from_wire",
    "track_to_wire",
]

# -- control plane → worker: requests (a reply comes back) and notifies (none does) -------------

WORKER_CONFIGURE = "worker.configure"
WORKER_STATS = "worker.stats"
WORKER_SHUTDOWN = "worker.shutdown"
ROOM_CREATE = "room.create"
ROOM_CLOSE = "room.close"
PEER_CREATE = "peer.create"
PEER_CLOSE = "peer.close"
PEER_PUBLISHER_OFFER = "peer.publisher_offer"
PEER_SUBSCRIBER_ANSWER = "peer.subscriber_answer"
PEER_WHEP_OFFER = "peer.whep_offer"
PEER_ICE_CANDIDATE = "peer.ice_candidate"
PEER_CONSUME = "peer.consume"
PEER_UNCONSUME = "peer.unconsume"
PEER_PAUSE = "peer.pause"
PEER_MUTED_KINDS = "peer.muted_kinds"
PUBLICATION_MUTE = "publication.mute"
PUBLICATION_KEYFRAME = "publication.keyframe"
TAP_OPEN = "tap.open"
TAP_CLOSE = "tap.close"

METHODS = frozenset(
    {
        WORKER_CONFIGURE,
        WORKER_STATS,
        WORKER_SHUTDOWN,
        ROOM_CREATE,
        ROOM_CLOSE,
        PEER_CREATE,
        PEER_CLOSE,
        PEER_PUBLISHER_OFFER,
        PEER_SUBSCRIBER_ANSWER,
        PEER_WHEP_OFFER,
        PEER_ICE_CANDIDATE,
        PEER_CONSUME,
        PEER_UNCONSUME,
        PEER_PAUSE,
        PEER_MUTED_KINDS,
        PUBLICATION_MUTE,
        PUBLICATION_KEYFRAME,
        TAP_OPEN,
        TAP_CLOSE,
    }
)

# -- worker → control plane: events ------------------------------------------------------------

EV_READY = "ready"
EV_HEARTBEAT = "hb"  # droppable
EV_LOAD = "load"  # droppable
EV_PUBLICATION_ADDED = "publication.added"
EV_PUBLICATION_REMOVED = "publication.removed"
EV_PUBLICATION_MUTED = "publication.muted"
EV_PUBLICATION_KEYFRAME_REQUESTED = "publication.keyframe_requested"  # droppable
EV_SPEAKER = "speaker"  # droppable
EV_PEER_SUBSCRIBER_OFFER = "peer.subscriber_offer"
EV_PEER_SUBSCRIPTIONS = "peer.subscriptions"
EV_PEER_CLOSED = "peer.closed"
EV_TAP_ENDED = "tap.ended"
EV_ERROR = "error"

EVENTS = frozenset(
    {
        EV_READY,
        EV_HEARTBEAT,
        EV_LOAD,
        EV_PUBLICATION_ADDED,
        EV_PUBLICATION_REMOVED,
        EV_PUBLICATION_MUTED,
        EV_PUBLICATION_KEYFRAME_REQUESTED,
        EV_SPEAKER,
        EV_PEER_SUBSCRIBER_OFFER,
        EV_PEER_SUBSCRIPTIONS,
        EV_PEER_CLOSED,
        EV_TAP_ENDED,
        EV_ERROR,
    }
)
# Events a congested channel may drop (latest wins): they are refreshed periodically anyway.
DROPPABLE_EVENTS = frozenset({EV_HEARTBEAT, EV_LOAD, EV_SPEAKER, EV_PUBLICATION_KEYFRAME_REQUESTED})


# -- values -------------------------------------------------------------------------------------


def _field(wire: Any, name: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(wire, dict):
        raise ValueError(f"expected an object, got {type(wire).__name__}")
    value = wire.get(name)
    # bool is an int in Python; a flag sent where a number belongs is still a malformed frame.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _types(kind)):
        raise ValueError(f"field {name!r}: expected {_names(kind)}, got {value!r}")
    return value


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in _types(kind))


@dataclass(frozen=True)
class PublicationInfo:
    """One publication as the control plane and the sidecars see it (the worker keeps the
    `sfu.Publication` itself). `payload_type` is None until the publisher's offer is answered."""

    id: str
    peer_id: str
    kind: str  # "audio" | "video"
    codec: str  # as negotiated, e.g. "video/VP8"
    clock_rate: int
    payload_type: int | None
    muted: bool
    source: str  # "camera" | "microphone" | "screen"

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "peer_id": self.peer_id,
            "kind": self.kind,
            "codec": self.codec,
            "clock_rate": self.clock_rate,
            "payload_type": self.payload_type,
            "muted": self.muted,
            "source": self.source,
        }

    @classmethod
    def from_wire(cls, wire: Any) -> PublicationInfo:
        return cls(
            id=_field(wire, "id", str),
            peer_id=_field(wire, "peer_id", str),
            kind=_field(wire, "kind", str),
            codec=_field(wire, "codec", str),
            clock_rate=_field(wire, "clock_rate", int),
            payload_type=_field(wire, "payload_type", (int, type(None))),
            muted=_field(wire, "muted", bool),
            source=_field(wire, "source", str),
        )

    def with_muted(self, muted: bool) -> PublicationInfo:
        """A copy with another mute state (the control plane's mirror after `publication.muted`)."""
        return PublicationInfo(
            self.id,
            self.peer_id,
            self.kind,
            self.codec,
            self.clock_rate,
            self.payload_type,
            muted,
            self.source,
        )


@dataclass
class TrackInfo:
    """Which publication a mid of the subscriber connection carries."""

    mid: str
    publication_id: str
    peer_id: str
    kind: str
    muted: bool
    source: str


def track_to_wire(track: TrackInfo) -> dict[str, Any]:
    return {
        "mid": track.mid,
        "publication_id": track.publication_id,
        "peer_id": track.peer_id,
        "kind": track.kind,
        "muted": track.muted,
        "source": track.source,
    }


def track_from_wire(wire: Any) -> TrackInfo:
    return TrackInfo(
        mid=_field(wire, "mid", str),
        publication_id=_field(wire, "publication_id", str),
        peer_id=_field(wire, "peer_id", str),
        kind=_field(wire, "kind", str),
        muted=_field(wire, "muted", bool),
        source=_field(wire, "source", str),
    )
