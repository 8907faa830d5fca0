"""The recorder sidecar: records every hearing in session, from the SFU's taps, into
`<data-dir>/recordings/<hearing id>/`, and builds the composite archive when the hearing ends.

It is driven by the control plane through the sidecar calls (`signaling/sidecars.py`) and knows
nothing of Socket.IO or tokens; what the court must hear about goes out through `alarm`. It opens
the taps it records with the `OpenTap` it is given: in the control plane's process or in its own
(`cloudcourt recorder`), from an in-process SFU or from a worker process over UDP.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import av

from livestream.clock import CourtClock
from recorder import archive
from recorder.manifest import (
    MANIFEST,
    ChainError,
    Manifest,
    chains,
    check_chain,
    first_entry,
)
from recorder.recording import (
    SYSTEM,
    TRACK_DIR,
    Alarm,
    HearingRecording,
    RecordingError,
    light_json,
)
from recorder.segments import sha256_file
from recorder.summary import Tally, summarize
from sfu import PublicationInfo
from sfu.tap import MediaSource, OpenTap

log = logging.getLogger("cloudcourt.recorder")

RECORDINGS = "recordings"
FILE_NAME = re.compile(
    r"(t\d+-(audio|video)/\d{6}\.(webm|mkv)|manifest(-[1-9]\d*)?\.jsonl|archive\.mp4)"
)
HEARING_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
LOCK_FILE = ".recorder.lock"  # in recordings/; never a hearing's name (HEARING_ID)
LOCK_WAIT = 30.0  # s: an old recorder seals within its close grace (10 s)
SOURCE = "recorder"  # the `alarm` event's `source` for every alarm of the recorder
MISSING = "recording_missing"
__all__ = ["SOURCE", "Recorder", "RecordingError", "recording_directory", "recording_file"]


@dataclass
class ArchiveJob:
    """An archive being built (or failed: kept to say why); gone once its entry is written."""

    state: str = "pending"  # pending | building | failed
    progress: float = 0.0
    error: str | None = None
    abort: archive.Abort = field(default_factory=archive.Abort)


FINISHED_TALLIES = 32  # tallies of finished recordings kept for the console's poll


# The control plane's record of a hearing (signaling.models.Hearing: `state`, `ended_at`), or
# None if it has none: consulted at start-up for recordings a crash left open.
HearingLookup = Callable[[str], Awaitable[Any]]


class Recorder:
    def __init__(
        self,
        data_dir: Path,
        alarm: Alarm,
        hearing: HearingLookup,
        clock: CourtClock | None = None,
        *,
        open_tap: OpenTap,
        archive_jobs: int = 1,
    ) -> None:
        self.root = data_dir / RECORDINGS
        self.alarm = alarm
        self.hearing = hearing
        self.open_tap = open_tap
        self.clock = clock  # the archive's clock: the court's zone (Beijing time if None)
        self.recordings: dict[str, HearingRecording] = {}
        self._ready: set[str] = set()
        # Hearings whose end came while their recording may still be beginning: `_begin` and
        # `_end` of one hearing run one after the other (its lock), and nothing begins again.
        self._ended: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        # Publications seen per hearing and not yet tapped (the hearing is not in session yet):
        # (participant, publication). Once tapped, only the id is kept, in `_tapped`.
        self._publications: dict[str, dict[str, tuple[dict[str, Any], PublicationInfo]]] = {}
        self._tapped: dict[str, set[str]] = {}
        # Alarms standing for a hearing outside its recording (there is none, or it has not
        # begun): code → (message, detail). A recording keeps its own (`HearingRecording`).
        self._standing: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}
        self.archives: dict[str, ArchiveJob] = {}
        self._finished: dict[str, tuple[tuple[int, int], Tally]] = {}  # (size, mtime) → tally
        self._tasks: set[asyncio.Task[Any]] = set()
        # Composite builds at a time (--archive-jobs): each is an ffmpeg on 2 threads at idle
        # priority, and a burst of hearings ending together must not take every core.
        self._archive_slot = asyncio.Semaphore(archive_jobs)
        self._closing = False
        self._lock_fd: int | None = None

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recorder task failed", exc_info=task.exception())

    def directory(self, hearing_id: str) -> Path:
        return recording_directory(self.root, hearing_id)

    # -- start-up: recordings a crash or a shutdown interrupted ---------------------------------

    async def start(self, hearings: Iterable[Any] = ()) -> None:
        """Go on with (or close) every recording a crash or a shutdown left open; then begin
        every hearing of ``hearings`` (the control plane's) in session that has no recording:
        the recorder is told of a hearing only when its state changes, so one already in
        session now would otherwise never be recorded."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        await self._take_lock()
        recorded: set[str] = set()
        for directory in sorted(self.root.iterdir()):
            if not HEARING_ID.fullmatch(directory.name) or not directory.is_dir():
                continue
            names = chains(directory)
            if not names and not any(TRACK_DIR.fullmatch(p.name) for p in directory.iterdir()):
                continue  # never recorded anything
            recorded.add(directory.name)
            summary = None  # damaged, missing or empty: see `_continue`
            try:
                # Only read here: what a crash left is repaired once the hearing is looked up.
                if names and (entries := await asyncio.to_thread(self._load, directory, names)):
                    summary = summarize(entries)
            except (ChainError, OSError):
                pass
            if summary is None or summary["state"] in ("recording", "paused", "interrupted"):
                await self._continue(directory.name, directory)
            elif summary["state"] == "stopped" and summary["archive"] is None:
                self._spawn(self._archive(directory.name))
        for hearing in hearings:
            if hearing.state == "in_session" and hearing.id not in recorded:
                await self._begin_in_session(hearing.id)

    async def _take_lock(self) -> None:
        """One recorder at a time on a data directory: after a kill -9 of the server, its
        recorder process still seals what it had open (its channel ended) while the new server
        starts; the new one waits for it (the lock goes with its process) before it recovers
        those recordings."""
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        waited = 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited == 0.0:
                    log.warning("another recorder still works in %s: waiting for it", self.root)
                if waited >= LOCK_WAIT:
                    log.error("the other recorder in %s did not finish: going on", self.root)
                    break
            await asyncio.sleep(0.1)
            waited += 0.1
        self._lock_fd = fd

    async def _begin_in_session(self, hearing_id: str) -> None:
        """At start-up, a hearing in session with nothing recorded. A folder without a first
        entry is a server that stopped before writing it; no folder at all (it was removed, or
        the server stopped before making it) is a hole in the record the court must hear of."""
        directory = self.directory(hearing_id)
        if directory.exists():
            log.warning("hearing %s is in session and was never recorded: begins now", hearing_id)
            await self._begin(hearing_id)
            return
        message = (
            f"no recording of this hearing in session was found at start-up ({directory} does not "
            "exist): recording begins again now, and whatever was recorded before is not in the "
            "record: tell the technician"
        )
        detail = {"directory": str(directory)}
        self._standing.setdefault(hearing_id, {})[MISSING] = (message, detail)
        self.alarm(hearing_id, MISSING, message, detail)
        await self._begin(hearing_id, "hearing in session; its recording was not found at start-up")

    @staticmethod
    def _load(directory: Path, names: list[str]) -> list[dict[str, Any]]:
        return Manifest(directory, name=names[-1]).load()

    async def _continue(self, hearing_id: str, directory: Path) -> None:
        """A recording without `stop`: go on with it — unless its hearing ended meanwhile (the
        crash came between the end and the `stop` entry), then close it and build its archive.
        A damaged one goes on in a new chain while its hearing is in session (and is left as it
        is once the hearing has ended)."""
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
        if (
            hearing.state == "in_session"
            and hearing.id not in self.recordings
            and hearing.id not in self._ended
        ):
            self._spawn(self._begin(hearing.id))

    def publication_added(
        self, hearing_id: str, participant: Any, publication: PublicationInfo
    ) -> None:
        who = {"id": participant.id, "name": participant.name, "role": str(participant.role)}
        self._publications.setdefault(hearing_id, {})[publication.id] = (who, publication)
        if hearing_id in self._ready:
            self._tap(hearing_id, publication.id)

    def publication_removed(self, hearing_id: str, publication_id: str) -> None:
        # A tapped one ends by itself (its tap does); one not yet tapped must not be.
        self._publications.get(hearing_id, {}).pop(publication_id, None)

    def media_interrupted(self, hearing_id: str, at: float, reason: str) -> None:
        recording = self.recordings.get(hearing_id)
        if recording is not None and hearing_id in self._ready:
            log.warning("hearing %s: its media was interrupted (%s)", hearing_id, reason)
            recording.media_lost(at, reason)

    def room_changed(self, hearing_id: str, change: dict[str, Any]) -> None:
        recording = self.recordings.get(hearing_id)
        if recording is not None and hearing_id in self._ready:
            recording.note_room(change)

    def standing_alarms(self, hearing_id: str) -> list[dict[str, Any]]:
        """The alarms that still stand for the hearing (a damaged chain, a recording missing at
        start-up, a disk that still refuses it), as the `alarm` event carries them: for the
        control plane to tell each moderator who comes in, since one raised while nobody was
        connected (at start-up) reached nobody."""
        found = [(code, *alarm) for code, alarm in self._standing.get(hearing_id, {}).items()]
        recording = self.recordings.get(hearing_id)
        if recording is not None:
            found += recording.standing()
        return [
            {"source": SOURCE, "code": code, "message": message, "detail": detail}
            for code, message, detail in found
        ]

    def alarmed_hearings(self) -> set[str]:
        """The hearings that may have standing alarms (those recorded, or alarmed outside a
        recording): for a recorder in another process to push them as they change."""
        return set(self._standing) | set(self.recordings)

    def hearing_ended(self, hearing: Any) -> None:
        self._ended.add(hearing.id)
        self._spawn(self._end(hearing.id))

    async def close(self, grace: float = 10.0) -> None:
        """Server shutdown: seal what is open (the hearing itself has not ended) and stop any
        archive being built, ffmpeg included; `start` builds it again next time."""
        self._closing = True
        for job in self.archives.values():
            job.abort.set()
        for hearing_id in list(self._ready):
            recording = self.recordings.pop(hearing_id)
            self._ready.discard(hearing_id)
            await recording.stop("interrupted", "server shut down")
        if self._tasks:
            _, stuck = await asyncio.wait(list(self._tasks), timeout=grace)
            for task in stuck:
                task.cancel()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # the next recorder may go on
            self._lock_fd = None

    def _lock(self, hearing_id: str) -> asyncio.Lock:
        return self._locks.setdefault(hearing_id, asyncio.Lock())

    # -- internals ------------------------------------------------------------------------------

    async def _begin(self, hearing_id: str, reason: str = "hearing in session") -> None:
        async with self._lock(hearing_id):
            if hearing_id in self.recordings or hearing_id in self._ended or self._closing:
                return
            recording = HearingRecording(hearing_id, self.directory(hearing_id), self.alarm)
            self.recordings[hearing_id] = recording
            try:
                await recording.begin(SYSTEM, reason)
            except OSError as exc:
                del self.recordings[hearing_id]
                code, message, detail = recording.disk_failed("manifest", exc)
                # Nothing begins it again before the next start-up: it stands till the end.
                self._standing.setdefault(hearing_id, {})[code] = (message, detail)
                return
            if self._closing:  # the server shut down while it began: continued at the next start
                del self.recordings[hearing_id]
                await recording.stop("interrupted", "server shut down")
                return
            self._ready.add(hearing_id)
            for publication_id in list(self._publications.get(hearing_id, {})):
                self._tap(hearing_id, publication_id)

    def _tap(self, hearing_id: str, publication_id: str) -> None:
        # The publication is not held once tapped: the tap is what reads it.
        participant, publication = self._publications[hearing_id].pop(publication_id)
        tapped = self._tapped.setdefault(hearing_id, set())
        if publication_id in tapped:
            return
        tapped.add(publication_id)
        self._spawn(self._record(hearing_id, participant, publication))

    async def _record(
        self, hearing_id: str, participant: dict[str, Any], publication: PublicationInfo
    ) -> None:
        recording = self.recordings[hearing_id]
        try:
            source: MediaSource = await self.open_tap(hearing_id, publication)
        except Exception as exc:  # it ended meanwhile, or its worker restarted
            log.info("hearing %s: publication %s not recorded: %s", hearing_id, publication.id, exc)
            return
        if self.recordings.get(hearing_id) is not recording or hearing_id not in self._ready:
            source.close()  # the recording stopped while the tap opened
            return
        try:
            recording.add_track(participant, source, publication.source)
        except ValueError as exc:  # a codec the recorder cannot write
            source.close()
            recording.disk_failed(publication.kind, exc)

    async def _end(self, hearing_id: str) -> None:
        try:
            # After a `_begin` under way: it finishes, then its recording is stopped here.
            async with self._lock(hearing_id):
                self._publications.pop(hearing_id, None)
                self._tapped.pop(hearing_id, None)
                recording = self.recordings.get(hearing_id)
                if recording is None or hearing_id not in self._ready:
                    return
                self._ready.discard(hearing_id)
                stopped = await recording.stop("stop", "hearing ended")
                del self.recordings[hearing_id]
                log.info("recording of hearing %s stopped", hearing_id)
        finally:
            # Every `_begin` of this hearing was started before its end (tasks start in order)
            # and so has taken the lock before this: nothing is left to guard against.
            self._ended.discard(hearing_id)
            self._locks.pop(hearing_id, None)
            self._standing.pop(hearing_id, None)
        if stopped:  # else the next start-up writes the `stop` (the hearing ended) and builds it
            await self._archive(hearing_id)

    async def _archive(self, hearing_id: str) -> None:
        if self._closing:
            return  # `start` builds it next time
        job = self.archives[hearing_id] = ArchiveJob()
        directory = self.directory(hearing_id)
        async with self._archive_slot:
            job.state = "building"
            started = time.monotonic()

            def progress(value: float) -> None:
                job.progress = round(value, 3)

            def work() -> dict[str, Any]:
                manifest = Manifest(directory, name=chains(directory)[-1])
                summary = summarize(manifest.load())
                path = archive.build(
                    directory, summary, progress, abort=job.abort, clock=self.clock
                )
                info = archive_entry(path)
                return manifest.append("archive", **info)

            try:
                entry = await asyncio.to_thread(work)
            except archive.Aborted:
                del self.archives[hearing_id]
                log.info("composite archive of hearing %s stopped by shutdown", hearing_id)
                return
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
            del self.archives[hearing_id]  # the manifest's archive entry says the rest
            log.info(
                "composite archive of hearing %s ready (%d bytes, built in %.1f s)",
                hearing_id,
                entry["bytes"],
                time.monotonic() - started,
            )

    # -- what the HTTP API asks -----------------------------------------------------------------

    async def _entries(self, hearing_id: str) -> tuple[str, list[dict[str, Any]]]:
        """The current chain's name and entries."""
        recording = self.recordings.get(hearing_id)
        if recording is not None:
            return recording.manifest.path.name, list(recording.manifest.entries)
        directory = self.directory(hearing_id)
        names = await asyncio.to_thread(chains, directory)
        if not names:
            return MANIFEST, []
        try:
            return names[-1], await asyncio.to_thread(self._load, directory, names)
        except ChainError as exc:
            raise RecordingError(
                "conflict", f"the recording's manifest {names[-1]} is damaged: {exc}"
            ) from None

    def _live_state(self, hearing_id: str) -> str | None:
        """The state of a recording under way (None if there is none)."""
        recording = self.recordings.get(hearing_id)
        if recording is None or hearing_id not in self._ready:
            return None
        if recording.failing:
            return "failed"
        return recording.state

    async def _finished_tally(self, hearing_id: str) -> Tally:
        """The tally of a recording not under way, read again only when its manifest changed."""
        directory = self.directory(hearing_id)
        names = await asyncio.to_thread(chains, directory)
        path = directory / (names[-1] if names else MANIFEST)
        try:
            stat = path.stat()
        except OSError:  # no manifest (or its directory is not one): nothing recorded
            return Tally()
        key = (stat.st_size, stat.st_mtime_ns)
        cached = self._finished.get(hearing_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        tally = Tally()
        try:
            await asyncio.to_thread(Manifest(directory, on_entry=tally.add, name=path.name).load)
        except ChainError as exc:
            raise RecordingError(
                "conflict", f"the recording's manifest is damaged: {exc}"
            ) from None
        self._finished.pop(hearing_id, None)
        self._finished[hearing_id] = (key, tally)
        while len(self._finished) > FINISHED_TALLIES:
            del self._finished[next(iter(self._finished))]
        return tally

    async def light(self, hearing_id: str, base_url: str) -> dict[str, Any]:
        """What the judge console polls every few seconds: state, duration, counters, chain head,
        the pause in force, the archive. Costs the same for a 3-hour hearing as for a minute."""
        recording = self.recordings.get(hearing_id)
        if recording is not None:
            body, entry = recording.light(), None
        else:
            tally = await self._finished_tally(hearing_id)
            body, entry = light_json(tally), tally.archive
        body["state"] = self._live_state(hearing_id) or body["state"]
        files = f"{base_url}/api/hearings/{hearing_id}/recordings/files"
        job = self.archives.get(hearing_id)
        return {
            "hearing_id": hearing_id,
            **body,
            "archive": _archive_json(body["state"], entry, job, files),
        }

    async def status(self, hearing_id: str, base_url: str) -> dict[str, Any]:
        """Everything about the recording but the segments themselves (those come page by page);
        folded and built in a thread: a long hearing's manifest has tens of thousands of entries."""
        chain, entries = await self._entries(hearing_id)
        live_state = self._live_state(hearing_id)
        job = self.archives.get(hearing_id)
        return await asyncio.to_thread(
            self._status_json, hearing_id, chain, entries, live_state, job, base_url
        )

    def _chains_json(
        self, hearing_id: str, current: str, entries: list[dict[str, Any]], files: str
    ) -> list[dict[str, Any]]:
        """Every chain of the recording, in order: those before the current one are damaged (so
        the recorder found them), each as the first entry of the chain after it describes it."""
        directory = self.directory(hearing_id)
        names = [n for n in chains(directory) if n != current] + [current]
        found: list[dict[str, Any]] = []
        for i, name in enumerate(names):
            if name == current:
                found.append({"file": name, "url": f"{files}/{name}", "state": "current"})
                continue
            following = names[i + 1]
            first = entries[0] if following == current and entries else None
            first = first or first_entry(directory / following)
            described = (first or {}).get("previous_chain") or {}
            if described.get("file") != name:  # the next chain does not say: look now
                check = check_chain(directory / name)
                described = {
                    "error": check.error or "not continued (no chain after it describes it)",
                    "verified_entries": len(check.entries),
                    "last_verified_hash": check.head,
                }
            found.append(
                {
                    "file": name,
                    "url": f"{files}/{name}",
                    "state": "damaged",
                    **{
                        k: described.get(k)
                        for k in ("error", "verified_entries", "last_verified_hash")
                    },
                }
            )
        return found

    def _status_json(
        self,
        hearing_id: str,
        chain: str,
        entries: list[dict[str, Any]],
        live_state: str | None,
        job: ArchiveJob | None,
        base_url: str,
    ) -> dict[str, Any]:
        summary = summarize(entries)
        files = f"{base_url}/api/hearings/{hearing_id}/recordings/files"
        state = live_state or summary["state"]
        tracks_url = f"{base_url}/api/hearings/{hearing_id}/recordings/tracks"
        originals = [
            {
                "track": t["track"],
                "participant": t["participant"],
                "kind": t["kind"],
                "source": t["source"],
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
        return {
            "hearing_id": hearing_id,
            "state": state,
            "chain_head": summary["chain_head"],
            "manifest_entries": summary["entries"],
            "manifest_url": f"{files}/{chain}",
            "chains": self._chains_json(hearing_id, chain, entries, files),
            "started_at": summary["events"][0]["at"] if summary["events"] else None,
            "duration_seconds": summary["duration_ms"] / 1000,
            "originals": originals,
            "archive": _archive_json(state, summary["archive"], job, files),
            "events": summary["events"],
        }

    async def segments(
        self, hearing_id: str, track_id: str, offset: int, limit: int, base_url: str
    ) -> dict[str, Any]:
        """One page of a track's sealed segments, in order (a 3-hour track has ~10,800)."""
        _, entries = await self._entries(hearing_id)
        track = (await asyncio.to_thread(summarize, entries))["tracks"].get(track_id)
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
        return recording_file(self.root, hearing_id, name)

    async def set_paused(
        self, hearing_id: str, paused: bool, actor: dict[str, Any], reason: str
    ) -> dict[str, Any]:
        recording = self.recordings.get(hearing_id)
        if hearing_id in self._ended:
            raise RecordingError("conflict", "the hearing has ended: its recording is stopped")
        if recording is None or hearing_id not in self._ready:
            raise RecordingError(
                "conflict", "the hearing is not being recorded (not in session, or ended)"
            )
        return await recording.set_paused(paused, actor, reason)


def recording_directory(root: Path, hearing_id: str) -> Path:
    """Where a hearing's recording is under ``root`` (`<data-dir>/recordings`)."""
    if not HEARING_ID.fullmatch(hearing_id):
        raise RecordingError("not_found", f"no recording for hearing {hearing_id!r}")
    return root / hearing_id


def recording_file(root: Path, hearing_id: str, name: str) -> Path:
    """A sealed file of a recording that may be downloaded: only a name of the recording's
    own (a segment, a manifest chain, the archive), and only once it exists. Pure path logic,
    so the control plane serves files without asking a recorder in another process."""
    if not FILE_NAME.fullmatch(name):
        raise RecordingError("not_found", f"no recording file {name!r}")
    path = recording_directory(root, hearing_id) / name
    if not path.is_file():
        raise RecordingError("not_found", f"no recording file {name!r}")
    return path


def _archive_json(
    state: str, entry: dict[str, Any] | None, job: ArchiveJob | None, files: str
) -> dict[str, Any]:
    if entry is not None:
        return {
            "state": "ready",
            "progress": 1.0,
            "url": f"{files}/{archive.ARCHIVE}",
            "bytes": entry["bytes"],
            "sha256": entry["sha256"],
            "duration_seconds": entry["duration_seconds"],
        }
    if job is not None:
        body: dict[str, Any] = {"state": job.state, "progress": job.progress}
        if job.error:
            body["error"] = job.error
        return body
    return {"state": "none" if state != "stopped" else "pending", "progress": 0.0}


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
