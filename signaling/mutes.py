"""Who muted what: a moderator's mute and a participant's own mute are kept apart so that a
participant can lift their own mute but never one a moderator imposed."""

from __future__ import annotations

from dataclasses import dataclass, field

from signaling.errors import forbidden

KINDS = ("audio", "video")


@dataclass
class MuteState:
    by_moderator: set[str] = field(default_factory=set)
    by_self: set[str] = field(default_factory=set)

    def muted(self, kind: str) -> bool:
        return kind in self.by_moderator or kind in self.by_self

    def any(self) -> bool:
        """Whether anything is muted (and so worth remembering)."""
        return bool(self.by_moderator or self.by_self)

    def to_json(self) -> dict[str, bool]:
        return {kind: self.muted(kind) for kind in KINDS}

    def apply(self, kind: str, muted: bool, *, as_moderator: bool) -> bool:
        """Record a mute request; True if the effective state of ``kind`` changed."""
        before = self.muted(kind)
        if as_moderator:
            # A moderator's unmute lifts only a moderator's mute: switching on someone's
            # microphone or camera against their own choice is not the court's to do.
            (self.by_moderator.add if muted else self.by_moderator.discard)(kind)
        elif muted:
            self.by_self.add(kind)
        elif kind in self.by_moderator:
            raise forbidden(f"a moderator muted your {kind}; only a moderator can unmute it")
        else:
            self.by_self.discard(kind)
        return self.muted(kind) != before
