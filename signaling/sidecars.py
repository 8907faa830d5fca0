"""How the control plane drives its sidecars (recorder, livestream) in the same process.

Sidecars know nothing of Socket.IO or of who is connected: they are told when a hearing changes
state, when a publication appears (and whose it is, for captions and manifests) and when the
hearing ends, and they read media through SFU taps. Every call returns at once and never raises
into the control plane: a failing sidecar must not stop a hearing. What a sidecar has to tell the
court (a full disk, a stream that stopped) goes out as an alarm to the hearing's moderators; an
alarm that still stands (a damaged record) a sidecar also offers as data, `standing_alarms`, for
the control plane to tell each moderator who comes in later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from sfu import Publication, Room
from signaling.models import Hearing, Participant

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


class Sidecar(Protocol):
    def hearing_changed(self, hearing: Hearing) -> None: ...

    def publication_added(
        self, hearing_id: str, participant: Participant, room: Room, publication: Publication
    ) -> None: ...

    def hearing_ended(self, hearing: Hearing) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class StandingAlarms(Protocol):
    """A sidecar whose alarms can stand: each as `alarm_json` makes it."""

    def standing_alarms(self, hearing_id: str) -> list[dict[str, Any]]: ...


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
        self, hearing_id: str, participant: Participant, room: Room, publication: Publication
    ) -> None:
        for sidecar in self.all:
            _guarded(sidecar.publication_added, hearing_id, participant, room, publication)

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
