"""Roles and the grants each one carries.

The SFU only understands "may publish" and "may subscribe"; everything a role means beyond that
(moderation, being hidden, being kept off WebRTC altogether) is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    JUDGE = "judge"
    CLERK = "clerk"
    PARTY = "party"
    AGENT = "agent"
    WITNESS = "witness"
    MEDIATOR = "mediator"
    SITE = "site"
    RECORDER = "recorder"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Grants:
    publish: bool = False
    subscribe: bool = False
    moderate: bool = False
    # Hidden participants (the recorder) take part without appearing in anyone's participant list.
    hidden: bool = False

    @property
    def webrtc(self) -> bool:
        """Whether the role may use Socket.IO, WHIP or WHEP at all (viewers watch public HLS)."""
        return self.publish or self.subscribe

    def to_json(self) -> dict[str, bool]:
        return {
            "publish": self.publish,
            "subscribe": self.subscribe,
            "moderate": self.moderate,
            "hidden": self.hidden,
        }


_SPEAKER = Grants(publish=True, subscribe=True)
_MODERATOR = Grants(publish=True, subscribe=True, moderate=True)

GRANTS: dict[Role, Grants] = {
    Role.JUDGE: _MODERATOR,
    Role.CLERK: _MODERATOR,
    Role.PARTY: _SPEAKER,
    Role.AGENT: _SPEAKER,
    Role.WITNESS: _SPEAKER,
    Role.MEDIATOR: _SPEAKER,
    Role.SITE: _SPEAKER,
    Role.RECORDER: Grants(subscribe=True, hidden=True),
    Role.VIEWER: Grants(),
}

ROLE_NAMES: tuple[str, ...] = tuple(r.value for r in Role)


def grants_for(role: Role | str) -> Grants:
    return GRANTS[Role(role)]


def parse_role(value: object) -> Role | None:
    """The Role named by ``value``, or None if it names none."""
    if isinstance(value, str) and value in ROLE_NAMES:
        return Role(value)
    return None


def outranks(actor: Role | None, target: Role) -> bool:
    """Whether ``actor`` may issue tokens for, or moderate, ``target``.

    ``None`` is the administrator. A clerk runs the session for the judge, so a clerk may neither
    mint a judge token nor mute or remove the judge; the judge and the administrator may do both.
    """
    if actor is None or actor is Role.JUDGE:
        return True
    if actor is Role.CLERK:
        return target is not Role.JUDGE
    return False


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a moderation action: the administrator (role None) or a participant."""

    role: Role | None
    participant_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is None

    @property
    def may_moderate(self) -> bool:
        return self.role is None or grants_for(self.role).moderate

    @property
    def label(self) -> str:
        """What ``by`` fields in events name."""
        return self.participant_id or "admin"


ADMIN = Actor(role=None)
