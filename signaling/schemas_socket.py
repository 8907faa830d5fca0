"""The payload of every client → server Socket.IO event of docs/PROTOCOL.md, as a model.

``EVENT_PAYLOADS`` is what ``socket_events`` validates each event's payload with, and what the
protocol's event table is checked against (tests/test_signaling_socket.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from pydantic_core import PydanticCustomError

from signaling.schemas import Id, NoFields, Reason, Strict
from signaling.schemas_rooms import CloseRoom, Move, NewRoom, WatchRoom


def _not_blank(sdp: str) -> str:
    if not sdp.strip():
        raise PydanticCustomError("court_rule", "must be a non-empty string")
    return sdp


Sdp = Annotated[str, StringConstraints(min_length=1), AfterValidator(_not_blank)]
# What a published track may be labelled as (the `sources` of `publish`).
Source = Literal["camera", "microphone", "screen"]
Mid = Annotated[str, StringConstraints(min_length=1, max_length=32)]
MAX_SOURCES = 8
Target = Literal["publisher", "subscriber"]
# RTCPeerConnection.connectionState values (and "unknown"): what `media_status` may report.
PcState = Literal["new", "connecting", "connected", "disconnected", "failed", "closed", "unknown"]


class Join(Strict):
    # Checked by the token service, which says what is wrong with it (unauthorized).
    token: str | None = None
    # The hearing the client means (its page's URL): a token of another one is refused.
    hearing_id: Id | None = None


class Offer(Strict):
    sdp: Sdp
    type: Literal["offer"] = "offer"
    sources: dict[Mid, Source] = Field(default_factory=dict, max_length=MAX_SOURCES)


class Answer(Strict):
    sdp: Sdp
    type: Literal["answer"] = "answer"


class Candidate(Strict):
    """RTCIceCandidateInit, as a browser's ``candidate.toJSON()`` gives it."""

    candidate: str
    sdpMid: str | None = None
    sdpMLineIndex: int | None = Field(None, ge=0, le=1000)
    usernameFragment: str | None = None


class IceCandidate(Strict):
    target: Target
    # null (or absent): the end of candidates.
    candidate: Candidate | None = None


class ParticipantRef(Strict):
    participant_id: Id


class Deny(ParticipantRef):
    reason: Reason | None = None


class Remove(Deny):
    pass


class Mute(ParticipantRef):
    kind: Literal["audio", "video"]
    muted: bool


class PauseSubscription(Strict):
    publication_id: Id
    paused: bool


class MediaStatus(Strict):
    target: Target
    connected: bool
    state: PcState = "unknown"


EVENT_PAYLOADS: dict[str, type[BaseModel]] = {
    "join": Join,
    "publish": Offer,
    "subscriber_answer": Answer,
    "ice_candidate": IceCandidate,
    "admit": ParticipantRef,
    "deny": Deny,
    "mute": Mute,
    "remove": Remove,
    "end_hearing": NoFields,
    "leave": NoFields,
    "pause_subscription": PauseSubscription,
    "raise_hand": NoFields,
    "media_status": MediaStatus,
    "lower_hand": ParticipantRef,
    "open_room": NewRoom,
    "close_room": CloseRoom,
    "move": Move,
    "watch_room": WatchRoom,
}
