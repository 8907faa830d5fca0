"""Roles and the grants each one carries.

The SFU only understands "may publish" and "may subscribe"; everything a role means beyond that
(moderation, being hidden, being kept off WebRTC altogether) is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HearingKind(StrEnum):
    """What a hearing is for: it decides who leads it (``grants_for``, ``outranks``).

    Kept here rather than in ``models``: the grants depend on it, and ``models`` imports this.
    """

    HEARING = "hearing"  # a court hearing, led by the judge (and the clerk for them)
    # A mediation session of a dispute, led by its mediator (the one appointed and accepted
    # under the SPC online mediation rules, Arts. 10-15); a judge called in still outranks them.
    MEDIATION = "mediation"


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

# What changes in a mediation: the mediator leads it. Nothing else differs from GRANTS.
MEDIATION_GRANTS: dict[Role, Grants] = {**GRANTS, Role.MEDIATOR: _MODERATOR}

ROLE_NAMES: tuple[str, ...] = tuple(r.value for r in Role)
# Who holds the moderate grant, as refusals name them.
LEADERS = "judge or clerk; in a mediation, the mediator"


def grants_for(role: Role | str, kind: HearingKind = HearingKind.HEARING) -> Grants:
    """The grants of ``role`` in a hearing of ``kind``."""
    table = MEDIATION_GRANTS if kind is HearingKind.MEDIATION else GRANTS
    return table[Role(role)]


def parse_role(value: object) -> Role | None:
    """The Role named by ``value``, or None if it names none."""
    if isinstance(value, str) and value in ROLE_NAMES:
        return Role(value)
    return None


def outranks(actor: Role | None, target: Role, kind: HearingKind = HearingKind.HEARING) -> bool:
    """Whether ``actor`` may issue tokens for, or moderate, ``target`` in a hearing of ``kind``.

    ``None`` is the administrator. A clerk runs the session for the judge, so a clerk may neither
    mint a judge token nor mute or remove the judge; the judge and the administrator may do both.
    In a mediation the mediator leads, over everyone but the judge called in (who guides the
    mediation, 诉前指导调解, and may not be muted by the mediator), the clerk and fellow
    mediators; a clerk there may not act on the mediator either.
    """
    if actor is None or actor is Role.JUDGE:
        return True
    mediation = kind is HearingKind.MEDIATION
    if actor is Role.CLERK:
        return target is not Role.JUDGE and not (mediation and target is Role.MEDIATOR)
    if actor is Role.MEDIATOR and mediation:
        return target not in (Role.JUDGE, Role.CLERK, Role.MEDIATOR)
    return False


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a moderation action: the administrator (role None) or a participant."""

    role: Role | None
    participant_id: str | None = None
    # The kind of the hearing the participant's token is for: it decides what the role may do.
    kind: HearingKind = HearingKind.HEARING

    @property
    def is_admin(self) -> bool:
        return self.role is None

    @property
    def may_moderate(self) -> bool:
        return self.role is None or grants_for(self.role, self.kind).moderate

    def outranks(self, target: Role) -> bool:
        return outranks(self.role, target, self.kind)

    @property
    def label(self) -> str:
        """What ``by`` fields in events name."""
        return self.participant_id or "admin"


ADMIN = Actor(role=None)
