"""The recorder sidecar: records every hearing in session, from the SFU's taps, into
`<data-dir>/recordings/<hearing id>/`, and builds the composite archive when the hearing ends.

It is driven by the control plane through the sidecar calls (`signaling/sidecars.py`) and knows
nothing of Socket.IO or tokens; what the court must hear about goes out through `alarm`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import av

from recorder import archive
from recorder.manifest import MANIFEST, ChainError, Manifest
from recorder.recording import SYSTEM, Alarm, HearingRecording
from recorder.segments import sha256_file
from recorder.summary import summarize
from recorder.track import RETRY_AFTER_FAILURE, MediaSource

log = logging.getLogger("cloudcourt.recorder")

RECORDINGS = "recordings"
FILE_NAME = re.compile(r"(t\d+-(audio|video)/\d{6}\.(webm|mkv)|manifest\.jsonl|archive\.mp4)")
HEARING_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class RecordingError(Exception):
    """A request the recorder cannot do; `code` is "not_found" or "conflict"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ArchiveJob:
    state: str = "pending"  # pending | building | ready | failed
    progress: float = 0.0
    error: str | None = None


# The control plane's record of a hearing (signaling.models.Hearing: `state`, `ended_at`), or
# None if it has none: consulted at start-up for recordings a crash left open.
HearingLookup = Callable[[str], Awaitable[Any]]


class Recorder:
    def __init__(self, data_dir: Path, alarm: Alarm, hearing: HearingLookup) -> None:
        self.root = data_dir / RECORDINGS
        self.alarm = alarm
        self.hearing = hearing
        self.recordings: dict[str, HearingRecording] = {}
        self._ready: set[str] = set()
        # Publications seen per hearing (also before it went in session): (participant, room, pub)
        self._publications: dict[str, dict[str, tuple[dict[str, Any], Any, Any]]] = {}
        self._tapped: dict[str, set[str]] = {}
        self.archives: dict[str, ArchiveJob] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._archive_slot = asyncio.Semaphore(1)  # one composite build at a time

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recorder task failed", exc_info=task.exception())

    def directory(self, hearing_id: str) -> Path:
        if not HEARING_ID.fullmatch(hearing_id):
            raise RecordingError("not_found", f"no recording for hearing {hearing_id!r}")
        return self.root / hearing_id

    # -- start-up: recordings a crash or a shutdown interrupted ---------------------------------

    async def start(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for directory in sorted(p for p in self.root.iterdir() if (p / MANIFEST).exists()):
            hearing_id = directory.name
            manifest = Manifest(directory)
            try:
                await asyncio.to_thread(manifest.repair)
                entries = await asyncio.to_thread(manifest.load)
            except (ChainError, OSError) as exc:
                log.error("recording of hearing %s cannot be continued: %s", hearing_id, exc)
                continue
            state = summarize(entries)["state"]
            if state in ("recording", "paused", "interrupted"):
                await self._continue(hearing_id, directory)
            elif state == "stopped" and summarize(entries)["archive"] is None:
                self._spawn(self._archive(hearing_id))

    async def _continue(self, hearing_id: str, directory: Path) -> None:
        """A recording without `stop`: go on with it — unless its hearing ended meanwhile (the
        crash came between the end and the `stop` entry), then close it and build its archive."""
        hearing = await self.hearing(hearing_id)
        recording = HearingRecording(hearing_id, directory, self.alarm)
        try:
            if hearing is not None and hearing.state != "ended":
                await recording.resume_after_restart()
                self.recordings[hearing_id] = recording
                self._ready.add(hearing_id)
                return
            if hearing is None:
                reason = "closed after a restart: the hearing no longer exists"
                ended = 0.0  # unknown: the recording ends with the last thing recorded
            else:
                reason = "closed after a restart: the hearing had ended"
                ended_at = hearing.ended_at
                ended = datetime.fromisoformat(ended_at).timestamp() if ended_at else 0.0
            await recording.close_after_restart(ended, reason)
        except (ChainError, OSError) as exc:
            log.error("recording of hearing %s cannot be continued: %s", hearing_id, exc)
            return
        self._spawn(self._archive(hearing_id))

    # -- the sidecar calls ----------------------------------------------------------------------

    def hearing_changed(self, hearing: Any) -> None:
        if hearing.state == "in_session" and hearing.id not in self.recordings:
            self._spawn(self._begin(hearing.id))

    def publication_added(
        self, hearing_id: str, participant: Any, room: Any, publication: Any
    ) -> None:
        who = {"id": participant.id, "name": participant.name, "role": str(participant.role)}
        self._publications.setdefault(hearing_id, {})[publication.id] = (who, room, publication)
        if hearing_id in self._ready:
            self._tap(hearing_id, publication.id)

    def hearing_ended(self, hearing: Any) -> None:
        self._spawn(self._end(hearing.id))

    async def close(self) -> None:
        """Server shutdown: seal what is open; the hearing itself has not ended."""
        for hearing_id in list(self._ready):
            recording = self.recordings.pop(hearing_id)
            self._ready.discard(hearing_id)
            await recording.stop("interrupted", "server shut down")
        for task in list(self._tasks):
            task.cancel()

    # -- internals ------------------------------------------------------------------------------

    async def _begin(self, hearing_id: str) -> None:
        recording = HearingRecording(hearing_id, self.directory(hearing_id), self.alarm)
        self.recordings[hearing_id] = recording
        try:
            await recording.begin(SYSTEM)
        except OSError as exc:
            del self.recordings[hearing_id]
            recording.disk_failed("manifest", exc)
            return
        self._ready.add(hearing_id)
        for publication_id in list(self._publications.get(hearing_id, {})):
            self._tap(hearing_id, publication_id)

    def _tap(self, hearing_id: str, publication_id: str) -> None:
        tapped = self._tapped.setdefault(hearing_id, set())
        if publication_id in tapped:
            return
        participant, room, publication = self._publications[hearing_id][publication_id]
        try:
            source: MediaSource = room.tap(publication_id)
        except Exception:  # the publication ended meanwhile
            self._publications[hearing_id].pop(publication_id, None)
            return
        tapped.add(publication_id)
        try:
            self.recordings[hearing_id].add_track(participant, source)
        except ValueError as exc:  # a codec the recorder cannot write
            source.close()
            self.recordings[hearing_id].disk_failed(publication.kind, exc)

    async def _end(self, hearing_id: str) -> None:
        self._publications.pop(hearing_id, None)
        self._tapped.pop(hearing_id, None)
        recording = self.recordings.get(hearing_id)
        if recording is None or hearing_id not in self._ready:
            return
        self._ready.discard(hearing_id)
        await recording.stop("stop", "hearing ended")
        del self.recordings[hearing_id]
        log.info("recording of hearing %s stopped", hearing_id)
        await self._archive(hearing_id)

    async def _archive(self, hearing_id: str) -> None:
        job = self.archives[hearing_id] = ArchiveJob()
        directory = self.directory(hearing_id)
        async with self._archive_slot:
            job.state = "building"
            started = time.monotonic()

            def progress(value: float) -> None:
                job.progress = round(value, 3)

            def work() -> dict[str, Any]:
                manifest = Manifest(directory)
                summary = summarize(manifest.load())
                path = archive.build(directory, summary, progress)
                info = archive_entry(path)
                return manifest.append("archive", **info)

            try:
                entry = await asyncio.to_thread(work)
            except Exception as exc:
                job.state, job.error = "failed", str(exc)[:500]
                log.exception("composite archive of hearing %s failed", hearing_id)
                self.alarm(
                    hearing_id,
                    "archive_failed",
                    f"the composite archive could not be built: {exc}"[:300],
                    {},
                )
                return
            job.state, job.progress = "ready", 1.0
            log.info(
                "composite archive of hearing %s ready (%d bytes, built in %.1f s)",
                hearing_id,
                entry["bytes"],
                time.monotonic() - started,
            )

    # -- what the HTTP API asks -----------------------------------------------------------------

    async def _entries(self, hearing_id: str) -> list[dict[str, Any]]:
        recording = self.recordings.get(hearing_id)
        if recording is not None:
            return list(recording.manifest.entries)
        directory = self.directory(hearing_id)
        if not (directory / MANIFEST).exists():
            return []
        try:
            return await asyncio.to_thread(Manifest(directory).load)
        except ChainError as exc:
            raise RecordingError(
                "conflict", f"the recording's manifest is damaged: {exc}"
            ) from None

    async def status(self, hearing_id: str, base_url: str) -> dict[str, Any]:
        summary = summarize(await self._entries(hearing_id))
        files = f"{base_url}/api/hearings/{hearing_id}/recordings/files"
        recording = self.recordings.get(hearing_id)
        state = summary["state"]
        if recording is not None and hearing_id in self._ready:
            state = recording.state
            if time.monotonic() - recording.last_failure < RETRY_AFTER_FAILURE + 1:
                state = "failed"
        tracks_url = f"{base_url}/api/hearings/{hearing_id}/recordings/tracks"
        originals = [
            {
                "track": t["track"],
                "participant": t["participant"],
                "kind": t["kind"],
                "codec": t["codec"],
                "segments": len(t["segments"]),
                "duration_seconds": t["duration_ms"] / 1000,
                "bytes": t["bytes"],
                "start_ms": t["start_ms"],
                "end_ms": t["end_ms"],
                "first_segment": _segment_json(files, t["segments"][0]) if t["segments"] else None,
                "last_segment": _segment_json(files, t["segments"][-1]) if t["segments"] else None,
                "segments_url": f"{tracks_url}/{t['track']}/segments",
                "gaps": t["gaps"],
            }
            for t in summary["tracks"].values()
        ]
        job = self.archives.get(hearing_id)
        entry = summary["archive"]
        if entry is not None:
            archive_json: dict[str, Any] = {
                "state": "ready",
                "progress": 1.0,
                "url": f"{files}/{archive.ARCHIVE}",
                "bytes": entry["bytes"],
                "sha256": entry["sha256"],
                "duration_seconds": entry["duration_seconds"],
            }
        elif job is not None:
            archive_json = {"state": job.state, "progress": job.progress}
            if job.error:
                archive_json["error"] = job.error
        else:
            archive_json = {"state": "none" if state != "stopped" else "pending", "progress": 0.0}
        return {
            "hearing_id": hearing_id,
            "state": state,
            "chain_head": summary["chain_head"],
            "manifest_entries": summary["entries"],
            "manifest_url": f"{files}/{MANIFEST}",
            "started_at": summary["events"][0]["at"] if summary["events"] else None,
            "duration_seconds": summary["duration_ms"] / 1000,
            "originals": originals,
            "archive": archive_json,
            "events": summary["events"],
        }

    async def segments(
        self, hearing_id: str, track_id: str, offset: int, limit: int, base_url: str
    ) -> dict[str, Any]:
        """One page of a track's sealed segments, in order (a 3-hour track has ~10,800)."""
        track = summarize(await self._entries(hearing_id))["tracks"].get(track_id)
        if track is None:
            raise RecordingError("not_found", f"no track {track_id!r} in this recording")
        files = f"{base_url}/api/hearings/{hearing_id}/recordings/files"
        segments = track["segments"]
        page = segments[offset : offset + limit]
        following = offset + len(page)
        return {
            "track": track_id,
            "total": len(segments),
            "offset": offset,
            "limit": limit,
            "segments": [_segment_json(files, s) for s in page],
            "next": (
                f"{base_url}/api/hearings/{hearing_id}/recordings/tracks/{track_id}/segments"
                f"?offset={following}&limit={limit}"
                if following < len(segments)
                else None
            ),
        }

    def file(self, hearing_id: str, name: str) -> Path:
        """A sealed file of the recording that may be downloaded."""
        if not FILE_NAME.fullmatch(name):
            raise RecordingError("not_found", f"no recording file {name!r}")
        path = self.directory(hearing_id) / name
        if not path.is_file():
            raise RecordingError("not_found", f"no recording file {name!r}")
        return path

    async def set_paused(
        self, hearing_id: str, paused: bool, actor: dict[str, Any], reason: str
    ) -> dict[str, Any]:
        recording = self.recordings.get(hearing_id)
        if recording is None or hearing_id not in self._ready:
            raise RecordingError(
                "conflict", "the hearing is not being recorded (it is not in session)"
            )
        if recording.paused == paused:
            raise RecordingError(
                "conflict", f"the recording is already {'paused' if paused else 'running'}"
            )
        return await recording.set_paused(paused, actor, reason)


def _segment_json(files_url: str, segment: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": f"{files_url}/{segment['file']}",
        "bytes": segment["bytes"],
        "sha256": segment["sha256"],
        "start_ms": segment["start_ms"],
        "end_ms": segment["end_ms"],
        "keyframe_start": segment.get("keyframe_start", False),
        **({"recovered": True} if segment.get("recovered") else {}),
    }


def archive_entry(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        duration = (container.duration or 0) / 1_000_000
    return {
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "duration_seconds": round(duration, 3),
    }
