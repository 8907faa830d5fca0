"""How the control plane drives its sidecars (recorder, livestream), in its process or in theirs.

Sidecars know nothing of Socket.IO or of who is connected: they are told when a hearing changes
state, when a publication appears (and whose it is, for captions and manifests) or ends, when a
hearing's media worker died (the gap in its media), how its rooms change, and when the hearing
ends. They are handed no SFU object: each opens the taps it reads with the `sfu.tap.OpenTap` it
was built with, wherever it and the hearing's worker run (signaling/tap_openers.py). Every call
returns at once and never raises into the control plane: a failing sidecar must not stop a
hearing. What a sidecar has to tell the court (a full disk, a stream that stopped) goes out as an
alarm to the hearing's moderators; an alarm that still stands (a damaged record) a sidecar also
offers as data, `standing_alarms`, for the control plane to tell each moderator who comes in
later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from sfu import PublicationInfo
from signaling.models import Hearing

log = logging.getLogger("cloudcourt.sidecars")

# (hearing id, alarm) -> delivered to the judge console and the log; see `alarm_json`.
AlarmSink = Callable[[str, dict[str, Any]], None]


def alarm_json(source: str, code: str, message: str, **detail: Any) -> dict[str, Any]:
    """The `alarm` event's payload (docs/PROTOCOL.md): `code` is stable for the UI's texts,
    `message` is the operator's English sentence."""
    return {"source": source, "code": code, "message": message, "detail": detail}


def alarms_from(source: str, sink: AlarmSink) -> Callable[[str, str, str], None]:
    """``(hearing id, code, message)`` from a sidecar that knows nothing of the event's shape."""

    def alarm(hearing_id: str, code: str, message: str) -> None:
        sink(hearing_id, alarm_json(source, code, message))

    return alarm


class Publisher(Protocol):
    """Whose publication it is, as a sidecar sees them (captions, masks, manifests): a
    `models.Participant`, or its copy in a sidecar's process."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...  # the protocol's role word: "judge", "party", ...
    @property
    def masked(self) -> bool: ...


class Sidecar(Protocol):
    def hearing_changed(self, hearing: Hearing) -> None: ...

    def publication_added(
        self, hearing_id: str, participant: Publisher, publication: PublicationInfo
    ) -> None: ...

    def publication_removed(self, hearing_id: str, publication_id: str) -> None: ...

    def media_interrupted(self, hearing_id: str, at: float, reason: str) -> None:
        """The worker hosting the hearing died at ``at`` (Unix time): its media is gone until the
        participants are placed again (their publications come back as new ones)."""
        ...

    def room_changed(self, hearing_id: str, change: dict[str, Any]) -> None:
        """A room of the hearing was opened or closed, or someone moved between rooms: ``change``
        is `{at: Unix time, by, participant, from, to: room ids or None, action: "move" | "open"
        | "close", room: the room's JSON without members}`."""
        ...

    def hearing_ended(self, hearing: Hearing) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class StandingAlarms(Protocol):
    """A sidecar whose alarms can stand: each as `alarm_json` makes it."""

    def standing_alarms(self, hearing_id: str) -> list[dict[str, Any]]: ...


@runtime_checkable
class Supervised(Protocol):
    """A sidecar in a process of its own (signaling/sidecar_processes.py), with its figures."""

    @property
    def name(self) -> str: ...

    def describe(self) -> dict[str, Any]: ...

    def stats(self) -> dict[str, int | float]: ...


class Sidecars:
    """Fans each control-plane event out to every sidecar, one failure at a time."""

    def __init__(self, sidecars: list[Sidecar] | None = None) -> None:
        self.all: list[Sidecar] = list(sidecars or [])

    def add(self, sidecar: Sidecar) -> None:
        self.all.append(sidecar)

    def hearing_changed(self, hearing: Hearing) -> None:
        for sidecar in self.all:
            _guarded(sidecar.hearing_changed, hearing)

    def publication_added(
        self, hearing_id: str, participant: Publisher, publication: PublicationInfo
    ) -> None:
        for sidecar in self.all:
            _guarded(sidecar.publication_added, hearing_id, participant, publication)

    def publication_removed(self, hearing_id: str, publication_id: str) -> None:
        for sidecar in self.all:
            _guarded(sidecar.publication_removed, hearing_id, publication_id)

    def media_interrupted(self, hearing_id: str, at: float, reason: str) -> None:
        for sidecar in self.all:
            _guarded(sidecar.media_interrupted, hearing_id, at, reason)

    def room_changed(self, hearing_id: str, change: dict[str, Any]) -> None:
        for sidecar in self.all:
            _guarded(sidecar.room_changed, hearing_id, change)

    def hearing_ended(self, hearing: Hearing) -> None:
        for sidecar in self.all:
            _guarded(sidecar.hearing_ended, hearing)

    def standing_alarms(self, hearing_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for sidecar in self.all:
            if isinstance(sidecar, StandingAlarms):
                try:
                    found += sidecar.standing_alarms(hearing_id)
                except Exception:
                    log.exception("standing alarms of sidecar %s failed", type(sidecar).__name__)
        return found

    def describe(self) -> list[dict[str, Any]]:
        """The sidecar processes for GET /api/admin/workers (`sidecars`); none in-process."""
        return [s.describe() for s in self.all if isinstance(s, Supervised)]

    def stats(self) -> dict[str, dict[str, int | float]]:
        """Per sidecar process (the `sidecar` label of /metrics), its `SidecarProcess.stats()`."""
        return {s.name: s.stats() for s in self.all if isinstance(s, Supervised)}

    async def close(self) -> None:
        for sidecar in self.all:
            try:
                await sidecar.close()
            except Exception:
                log.exception("closing sidecar %s failed", type(sidecar).__name__)


def _guarded(action: Callable[..., None], *args: Any) -> None:
    try:
        action(*args)
    except Exception:
        log.exception("sidecar step %s failed", getattr(action, "__qualname__", action))
