"""One hearing's recording: its directory, manifest, tracks, pause state and disk thread.

All disk work that must happen in order — sealing segments, appending to the manifest — runs on
one thread per recording, so the event loop never waits on fsync and the manifest's order is the
order things happened in. Writing frames into an open segment stays on the event loop (it only
fills PyAV's buffer).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from recorder import summary
from recorder.manifest import Manifest
from recorder.segments import PART, Segment, recover
from recorder.timeline import PublisherClock
from recorder.track import MediaSource, TrackRecorder

log = logging.getLogger("cloudcourt.recorder")

# (hearing id, alarm code, English sentence, detail) → the judge console and the log.
Alarm = Callable[[str, str, str, dict[str, Any]], None]
ALARM_EVERY = 30.0  # s: the same failure is not repeated to the judge more often than this

SYSTEM = {"actor": "system"}
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
TRACK_DIR = re.compile(r"t\d+-(audio|video)")


class HearingRecording:
    def __init__(self, hearing_id: str, directory: Path, alarm: Alarm) -> None:
        self.hearing_id = hearing_id
        self.directory = directory
        self.manifest = Manifest(directory)
        self.alarm = alarm
        self.state = "recording"
        self.epoch = 0.0
        self.tracks: dict[str, TrackRecorder] = {}
        self.clocks: dict[str, PublisherClock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: set[asyncio.Future[Any]] = set()
        self._disk = ThreadPoolExecutor(1, thread_name_prefix=f"recorder-{hearing_id}")
        self._loop = asyncio.get_running_loop()
        self._last_alarm: dict[str, float] = {}
        self.last_failure = float("-inf")  # time.monotonic() of the last disk failure
        self._track_count = 0

    @property
    def paused(self) -> bool:
        return self.state == "paused"

    async def _on_disk(self, action: Callable[..., Any], *args: Any) -> Any:
        return await self._loop.run_in_executor(self._disk, action, *args)

    # -- life cycle -----------------------------------------------------------------------------

    async def begin(self, actor: dict[str, Any]) -> None:
        """A new recording: the directory and its first manifest entry."""

        def create() -> None:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.epoch = time.time()
            self.manifest.append(
                "start",
                hearing=self.hearing_id,
                epoch=self.epoch,
                reason="hearing in session",
                **actor,
            )

        await self._on_disk(create)
        log.info("recording of hearing %s started in %s", self.hearing_id, self.directory)

    async def resume_after_restart(self) -> dict[str, Any]:
        """The server died (or stopped) during the hearing: seal what it left, log the gap."""
        entry = await self._on_disk(self._recover)
        self.state = summary.summarize(self.manifest.entries)["state"]
        log.warning(
            "recording of hearing %s continues after a restart: gap of %.1f s, %d segment(s) "
            "recovered",
            self.hearing_id,
            entry["gap"]["seconds"],
            entry["recovered_segments"],
        )
        return entry

    def _recover(self) -> dict[str, Any]:
        repaired = self.manifest.repair()
        entries = self.manifest.load()
        self.epoch = entries[0]["epoch"]
        known = {e["file"] for e in entries if e["type"] == "segment"}
        recovered = []
        for track_dir in sorted(p for p in self.directory.iterdir() if TRACK_DIR.fullmatch(p.name)):
            for path in sorted(track_dir.iterdir()):
                name = f"{track_dir.name}/{path.name}"
                if path.name.endswith(".recovering"):
                    path.unlink()  # an earlier recovery died half way; its source is still here
                elif path.name.endswith(PART) or name not in known:
                    # A sealed file the manifest never heard of gets the same treatment as a torn
                    # one: its contents are read back and it is logged as recovered.
                    part = (
                        path
                        if path.name.endswith(PART)
                        else path.rename(path.with_name(path.name + PART))
                    )
                    info = recover(part)
                    if info is not None:
                        recovered.append(
                            self.manifest.append("segment", track=track_dir.name, **info)
                        )
        self._track_count = sum(1 for e in self.manifest.entries if e["type"] == "track")
        ends = [e["end_ms"] for e in self.manifest.entries if e["type"] == "segment"]
        last_event_ms = max([summary.at_ms_of(e, self.epoch) for e in self.manifest.entries] or [0])
        gap_from = max([*ends, last_event_ms])
        gap_to = round((time.time() - self.epoch) * 1000)
        return self.manifest.append(
            "restart",
            reason="recorder restarted",
            gap={
                "from_ms": gap_from,
                "to_ms": gap_to,
                "seconds": round((gap_to - gap_from) / 1000, 3),
            },
            recovered_segments=len(recovered),
            repaired_manifest=repaired,
            **SYSTEM,
        )

    def add_track(self, participant: dict[str, Any], source: MediaSource) -> None:
        info = source.info
        self._track_count += 1
        track_id = f"t{self._track_count:02d}-{info.kind}"
        directory = self.directory / track_id
        clock = self.clocks.setdefault(info.peer_id, PublisherClock())
        track = TrackRecorder(self, track_id, directory, source, clock)
        self.tracks[track_id] = track

        def create() -> None:
            directory.mkdir(mode=0o700, exist_ok=True)
            self.manifest.append(
                "track",
                track=track_id,
                kind=info.kind,
                codec=info.codec,
                clock_rate=info.clock_rate,
                publication=info.publication_id,
                participant=participant,
            )

        async def run() -> None:
            try:
                await self._on_disk(create)
            except OSError as exc:
                self.disk_failed(track_id, exc)
                source.close()
                return
            await track.run()

        task = self._loop.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._track_done)

    def _track_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "recording a track of hearing %s failed", self.hearing_id, exc_info=task.exception()
            )

    async def set_paused(self, paused: bool, actor: dict[str, Any], reason: str) -> dict[str, Any]:
        """Pause or resume; the manifest entry is written before the caller is answered."""
        self.state = "paused" if paused else "recording"
        entry = await self._on_disk(
            lambda: self.manifest.append("pause" if paused else "resume", reason=reason, **actor)
        )
        if not paused:
            for track in self.tracks.values():
                track.source.request_keyframe()
        return entry

    async def stop(self, kind: str, reason: str) -> None:
        """Close every track (sealing its last segment) and log why recording stopped: `stop`
        when the hearing ended, `interrupted` when the server shuts down mid-hearing."""
        for track in self.tracks.values():
            track.source.close()  # the reader sees the end after what is queued
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        self.state = "stopped"
        try:
            await self._on_disk(lambda: self.manifest.append(kind, reason=reason, **SYSTEM))
        except OSError as exc:
            self.disk_failed("manifest", exc)
        self._disk.shutdown(wait=True)

    async def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        return await self._on_disk(lambda: self.manifest.append(kind, **fields))

    # -- called by the tracks -------------------------------------------------------------------

    def seal(self, track_id: str, segment: Segment, frame_ms: int) -> None:
        def work() -> None:
            try:
                info = segment.seal(frame_ms)
                self.manifest.append("segment", track=track_id, **info)
            except Exception as exc:
                self._loop.call_soon_threadsafe(self.disk_failed, track_id, exc)

        future: Future[None] = self._disk.submit(work)
        wrapped = asyncio.wrap_future(future, loop=self._loop)
        self._pending.add(wrapped)
        wrapped.add_done_callback(self._pending.discard)

    def disk_failed(self, track_id: str, exc: BaseException) -> None:
        log.error("hearing %s: recording %s failed: %s", self.hearing_id, track_id, exc)
        now = self.last_failure = time.monotonic()
        if now - self._last_alarm.get(track_id, -ALARM_EVERY) < ALARM_EVERY:
            return
        self._last_alarm[track_id] = now
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            code = "recording_disk_error"
            message = (
                f"the recording cannot be written to disk ({exc.strerror}); the hearing continues "
                "but is not being recorded: free disk space or fix the data directory"
            )
        else:
            code = "recording_error"
            message = f"recording {track_id} failed ({exc}); the hearing continues"
        self.alarm(
            self.hearing_id,
            code,
            message,
            {"track": track_id, "directory": str(self.directory)},
        )
