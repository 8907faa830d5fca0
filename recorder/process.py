"""`cloudcourt recorder`: the recorder in a process of its own, driven over a channel.

The control plane's sidecar framework (signaling/sidecar_processes.py) runs this: it hands
`build` a host — the channel, a tap opener that reads the worker's plain RTP over UDP, the
control plane's hearing records, alarms to the judge console — and the recorder's own options.
Here the recorder's part of the channel: what recording_api asks (`recording.status`, `.light`,
`.segments`, `.set_paused`) and the standing alarms, pushed as they change (`alarms.standing`)
since the control plane must read them synchronously when a moderator comes in.

This package knows nothing of the control plane: the host is typed by sfu.sidecar_host.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from livestream.clock import CourtClock
from recorder.recording import RecordingError
from recorder.service import SOURCE, Recorder
from sfu.sidecar_host import SidecarHost as Host

log = logging.getLogger("cloudcourt.recorder")

STATUS = "recording.status"
LIGHT = "recording.light"
SEGMENTS = "recording.segments"
SET_PAUSED = "recording.set_paused"
EV_STANDING = "alarms.standing"
STANDING_EVERY = 1.0  # seconds between checks of the standing alarms

Args = dict[str, Any]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cloudcourt recorder", add_help=False)
    p.add_argument("--archive-jobs", type=int, default=1)
    p.add_argument("--timezone", default=None)
    return p


class HostedRecorder(Recorder):
    """The recorder with its channel: requests answered, standing alarms pushed."""

    def __init__(self, host: Host, archive_jobs: int, timezone: str | None) -> None:
        def alarm(hearing_id: str, code: str, message: str, detail: dict[str, Any]) -> None:
            host.alarm(
                hearing_id, {"source": SOURCE, "code": code, "message": message, "detail": detail}
            )
            # A moderator coming in a moment later must find it standing: pushed now (once the
            # step that raised it has recorded it), not at the next check.
            loop.call_soon(self._push, hearing_id)

        loop = asyncio.get_running_loop()

        super().__init__(
            host.data_dir,
            alarm,
            host.hearing,
            clock=CourtClock.named(timezone) if timezone else None,
            open_tap=host.open_tap,
            archive_jobs=archive_jobs,
        )
        self.channel = host.channel
        host.add_load(self.archive_load)
        self._pushed: dict[str, list[dict[str, Any]]] = {}
        self._pusher: asyncio.Task[None] | None = None
        channel = host.channel
        channel.on_request(STATUS, self._answer(lambda a: self.status(a["hearing"], a["base_url"])))
        channel.on_request(LIGHT, self._answer(lambda a: self.light(a["hearing"], a["base_url"])))
        channel.on_request(
            SEGMENTS,
            self._answer(
                lambda a: self.segments(
                    a["hearing"], a["track"], int(a["offset"]), int(a["limit"]), a["base_url"]
                )
            ),
        )
        channel.on_request(
            SET_PAUSED,
            self._answer(
                lambda a: self.set_paused(
                    a["hearing"], bool(a["paused"]), dict(a["actor"]), str(a["reason"])
                )
            ),
        )

    def archive_load(self) -> Args:
        """Composite builds by state, for the `load` event (`cloudcourt_recorder_archive_jobs`)."""
        jobs = {"pending": 0, "building": 0, "failed": 0}
        for job in self.archives.values():
            jobs[job.state] = jobs.get(job.state, 0) + 1
        return {"archive_jobs": jobs}

    @staticmethod
    def _answer(
        call: Callable[[Args], Awaitable[dict[str, Any]]],
    ) -> Callable[[Args], Awaitable[Args]]:
        """A RecordingError is an answer (the API shows it), not a failure of the channel; so
        is a disk that refused the write (the API says what it refused, and nothing changed)."""

        async def answer(a: Args) -> Args:
            try:
                return {"ok": await call(a)}
            except RecordingError as exc:
                return {"error": {"code": exc.code, "message": exc.message}}
            except OSError as exc:
                return {"os_error": {"errno": exc.errno, "strerror": exc.strerror or str(exc)}}

        return answer

    async def start(self, hearings: Any = ()) -> None:
        await super().start(hearings)
        if self._pusher is None:
            self._pusher = asyncio.get_running_loop().create_task(self._push_standing())

    async def close(self, grace: float = 10.0) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
        await super().close(grace)

    async def _push_standing(self) -> None:
        """Each hearing's standing alarms whenever they changed (a failure that stands for a
        while, then clears, is `failing` for RETRY_AFTER_FAILURE s: seen within a second)."""
        while True:
            for hearing_id in self.alarmed_hearings() | set(self._pushed):
                self._push(hearing_id)
            await asyncio.sleep(STANDING_EVERY)

    def _push(self, hearing_id: str) -> None:
        alarms = self.standing_alarms(hearing_id)
        if alarms != self._pushed.get(hearing_id, []):
            self.channel.emit(EV_STANDING, {"hearing": hearing_id, "alarms": alarms})
        if alarms:
            self._pushed[hearing_id] = alarms
        else:
            self._pushed.pop(hearing_id, None)


def build(host: Host, argv: list[str]) -> HostedRecorder:
    options = parser().parse_args(argv)
    if options.archive_jobs < 1:
        raise SystemExit("cloudcourt recorder: --archive-jobs must be at least 1")
    return HostedRecorder(host, options.archive_jobs, options.timezone)
