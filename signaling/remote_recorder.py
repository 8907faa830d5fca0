"""The recorder as recording_api sees it when it runs as `cloudcourt recorder` (its own process).

Its questions go over the channel (`recording.status`, `.light`, `.segments`, `.set_paused`);
what is plain path logic on the data directory (`file`) is answered here, so downloads never
wait on the recorder; the standing alarms, which presence reads synchronously when a moderator
comes in, are the last the recorder pushed. While the recorder restarts, its questions get a
RecordingError("unavailable"): recording_api answers 503, "the recorder is restarting".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from recorder.process import EV_STANDING, LIGHT, SEGMENTS, SET_PAUSED, STATUS
from recorder.recording import RecordingError
from recorder.service import RECORDINGS, recording_file
from sfu.channel import Args
from signaling.models import Hearing
from signaling.sidecar_processes import (
    Present,
    SidecarDown,
    SidecarProcess,
    sidecar_argv,
)
from signaling.sidecars import AlarmSink
from signaling.workers import WorkerPool

UNAVAILABLE = "unavailable"  # RecordingError code: the recorder is restarting


class RemoteRecorder(SidecarProcess):
    def __init__(
        self,
        data_dir: Path,
        *,
        pool: WorkerPool,
        hearings: Callable[[], Awaitable[list[Hearing]]],
        hearing: Callable[[str], Awaitable[Hearing | None]],
        present: Present,
        alarm: AlarmSink,
        archive_jobs: int,
        timezone: str,
    ) -> None:
        super().__init__(
            "recorder",
            sidecar_argv(
                "recorder",
                data_dir,
                "--archive-jobs",
                str(archive_jobs),
                "--timezone",
                timezone,
            ),
            pool=pool,
            hearings=hearings,
            hearing=hearing,
            present=present,
            alarm=alarm,
        )
        self.root = data_dir / RECORDINGS
        self._standing: dict[str, list[dict[str, Any]]] = {}
        self.on_event(EV_STANDING, self._on_standing)

    async def start(self, hearings: Iterable[Hearing] = ()) -> None:
        """Spawn it (it is given every hearing itself, at each start)."""
        await self.launch()

    def _on_standing(self, a: Args) -> None:
        alarms = [dict(alarm) for alarm in a.get("alarms") or ()]
        if alarms:
            self._standing[str(a["hearing"])] = alarms
        else:
            self._standing.pop(str(a["hearing"]), None)

    def standing_alarms(self, hearing_id: str) -> list[dict[str, Any]]:
        return list(self._standing.get(hearing_id, ()))

    def hearing_ended(self, hearing: Hearing) -> None:
        super().hearing_ended(hearing)
        self._standing.pop(hearing.id, None)

    async def _ask(self, method: str, args: Args) -> dict[str, Any]:
        try:
            answer = await self.request(method, args)
        except (SidecarDown, TimeoutError):
            raise RecordingError(UNAVAILABLE, "the recorder is restarting") from None
        if "error" in answer:
            raise RecordingError(str(answer["error"]["code"]), str(answer["error"]["message"]))
        if "os_error" in answer:  # the recorder's disk refused it (recording_api says so)
            refused = answer["os_error"]
            raise OSError(refused["errno"], str(refused["strerror"]))
        result: dict[str, Any] = answer["ok"]
        return result

    async def status(self, hearing_id: str, base_url: str) -> dict[str, Any]:
        return await self._ask(STATUS, {"hearing": hearing_id, "base_url": base_url})

    async def light(self, hearing_id: str, base_url: str) -> dict[str, Any]:
        return await self._ask(LIGHT, {"hearing": hearing_id, "base_url": base_url})

    async def segments(
        self, hearing_id: str, track_id: str, offset: int, limit: int, base_url: str
    ) -> dict[str, Any]:
        return await self._ask(
            SEGMENTS,
            {
                "hearing": hearing_id,
                "track": track_id,
                "offset": offset,
                "limit": limit,
                "base_url": base_url,
            },
        )

    async def set_paused(
        self, hearing_id: str, paused: bool, actor: dict[str, Any], reason: str
    ) -> dict[str, Any]:
        return await self._ask(
            SET_PAUSED,
            {"hearing": hearing_id, "paused": paused, "actor": actor, "reason": reason},
        )

    def file(self, hearing_id: str, name: str) -> Path:
        return recording_file(self.root, hearing_id, name)
