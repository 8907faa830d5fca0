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
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from recorder import summary
from recorder.manifest import (
    MANIFEST,
    ChainError,
    Manifest,
    chain_name,
    chain_number,
    chains,
    check_chain,
    unrecordable,
)
from recorder.segments import PART, Segment, recover
from recorder.timeline import PublisherClock
from recorder.track import RETRY_AFTER_FAILURE, TrackRecorder
from sfu.tap import MediaSource

log = logging.getLogger("cloudcourt.recorder")
T = TypeVar("T")

# (hearing id, alarm code, English sentence, detail) → the judge console and the log.
Alarm = Callable[[str, str, str, dict[str, Any]], None]
ALARM_EVERY = 30.0  # s: the same failure is not repeated to the judge more often than this

SYSTEM = {"actor": "system"}
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
TRACK_DIR = re.compile(r"t(\d+)-(audio|video)")
SEGMENT_FILE = re.compile(r"(\d{6})\.(webm|mkv)")
DAMAGED = "recording_chain_damaged"


class RecordingError(Exception):
    """A request the recorder cannot do; `code` is "not_found", "conflict" or "invalid"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def recordable(text: str) -> str:
    """``text`` as it can be written to the manifest: a lone surrogate (not text, which the
    canonical UTF-8 cannot hold) is kept as its escape, visibly, instead of losing the track."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class HearingRecording:
    def __init__(self, hearing_id: str, directory: Path, alarm: Alarm) -> None:
        self.hearing_id = hearing_id
        self.directory = directory
        self.tally = summary.Tally()
        self._tally_lock = threading.Lock()  # the disk thread counts, the event loop reads
        self.manifest = Manifest(directory, on_entry=self._count)
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
        # Owned by the disk thread (the event loop hands entries over in a job, so a new chain
        # never iterates a dict that changes meanwhile): track entries not yet in the manifest
        # (a full disk delays them), and per track the media lost since (timeline ms, why) until
        # it writes again.
        self._unlogged_tracks: dict[str, dict[str, Any]] = {}
        self._lost: dict[str, tuple[int, str]] = {}
        # The hearing's media worker died (`media_lost`): (the loss on the timeline in ms, why),
        # until the first segment of the media made again is logged; and the end of the latest
        # segment logged, where such a gap begins.
        self._media_gap: tuple[int, str] | None = None
        self._segments_end_ms = 0
        self._track_entries: dict[str, dict[str, Any]] = {}  # every track's, for a new chain
        self._tracks_before = 0  # track folders numbered up to this belong to earlier chains
        # Set once `stop` begins: no pause or resume is taken after it, so the stop entry is the
        # chain's last and nothing is handed to the disk thread once it is shut down.
        self._stopping = False
        # Alarms that stand for the rest of the hearing (a damaged chain): code → (message,
        # detail); and the last failure, which stands while it is in force (see `failing`).
        self._standing: dict[str, tuple[str, dict[str, Any]]] = {}
        self.failure: tuple[str, str, dict[str, Any]] | None = None

    @property
    def paused(self) -> bool:
        return self.state == "paused"

    @property
    def failing(self) -> bool:
        """Whether a write failed lately: the tracks try again every RETRY_AFTER_FAILURE s, so a
        disk that still refuses them fails again within this."""
        return time.monotonic() - self.last_failure < RETRY_AFTER_FAILURE + 1

    def standing(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The alarms that still stand, as (code, message, detail)."""
        found = [(code, *alarm) for code, alarm in self._standing.items()]
        if self.failure is not None and self.failing:
            found.append(self.failure)
        return found

    def _count(self, entry: dict[str, Any]) -> None:
        with self._tally_lock:
            if entry["n"] == 0:
                self.tally = summary.Tally()  # the manifest is being (re)loaded from its start
            self.tally.add(entry)

    def light(self) -> dict[str, Any]:
        """The tally's figures, consistent with each other (see Recorder.light)."""
        with self._tally_lock:
            return light_json(self.tally)

    async def _on_disk(self, action: Callable[..., T], *args: Any) -> T:
        return await self._loop.run_in_executor(self._disk, action, *args)

    # -- life cycle -----------------------------------------------------------------------------

    async def begin(self, actor: dict[str, Any], reason: str = "hearing in session") -> None:
        """A new recording: the directory and its first manifest entry."""

        def create() -> None:
            self.epoch = time.time()
            try:
                self._start(self.manifest, reason, actor)
            except ChainError as exc:  # a manifest already there that is not ours to continue
                self._new_chain(exc, None)

        await self._on_disk(create)
        log.info("recording of hearing %s started in %s", self.hearing_id, self.directory)

    def _start(
        self, manifest: Manifest, reason: str, actor: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return manifest.append(
            "start", hearing=self.hearing_id, epoch=self.epoch, reason=reason, **fields, **actor
        )

    def _new_chain(self, damage: Exception, pause: dict[str, Any] | None) -> None:
        """On the disk thread: the current chain cannot be continued (``damage`` says why). It is
        left as found — evidence — and recording goes on in a new chain whose first entry names
        it, its last hash that verifies and why; every track still recording is named again, and
        a pause in force (``pause``, its entry) is written again."""
        old = self.manifest.path
        found = check_chain(old)
        if not self.epoch:  # at start-up: the hearing's timeline and pause, as far as they verify
            first = found.entries[0] if found.entries else None
            self.epoch = first["epoch"] if first and first["type"] == "start" else time.time()
            verified = summary.Tally()
            for entry in found.entries:
                verified.add(entry)
            pause = verified.pause if verified.state == "paused" else None
        self._track_count = self._tracks_before = self._highest_track()
        name = chain_name(chain_number(old.name) + 1)
        fresh = Manifest(self.directory, on_entry=self._count, name=name)
        self._start(
            fresh,
            "the manifest is damaged: recording goes on in a new chain",
            SYSTEM,
            previous_chain={
                "file": old.name,
                "error": str(damage),
                "verified_entries": len(found.entries),
                "last_verified_hash": found.head,
                "bytes": found.bytes,
                "sha256": found.sha256,
            },
            tracks_before=self._tracks_before,
        )
        self.manifest = fresh  # only now: until its start is written, no entry may go there
        if pause is not None:
            self.manifest.append(
                "pause", reason=f"still paused: {pause.get('reason')}", since=pause["at"], **SYSTEM
            )
        for track_id, entry in self._track_entries.items():
            if track_id not in self._unlogged_tracks and track_id in self.tracks:
                self.manifest.append("track", **entry, continued=True)
        self._loop.call_soon_threadsafe(self._chain_damaged, self.manifest.entries[0])

    def _append(self, entry_type: str, /, **fields: Any) -> dict[str, Any]:
        """On the disk thread: append to the current chain, or to a new one if it is damaged."""
        try:
            return self.manifest.append(entry_type, **fields)
        except ChainError as exc:
            self._new_chain(exc, self.tally.pause if self.paused else None)
            return self.manifest.append(entry_type, **fields)

    def _highest_track(self) -> int:
        folders = self.directory.iterdir() if self.directory.exists() else ()
        numbers = (int(m.group(1)) for p in folders if (m := TRACK_DIR.fullmatch(p.name)))
        return max([self._track_count, *numbers])

    async def resume_after_restart(self) -> dict[str, Any]:
        """The server died (or stopped) during the hearing: seal what it left, log the gap. A
        chain that cannot be continued is left as found and recording goes on in a new one."""
        entry = await self._on_disk(self._recover, None, True)
        self.state = self.tally.state
        if entry["type"] == "restart":
            log.warning(
                "recording of hearing %s continues after a restart: gap of %.1f s, %d segment(s) "
                "recovered",
                self.hearing_id,
                entry["gap"]["seconds"],
                entry["recovered_segments"],
            )
        first = self.manifest.entries[0]
        if "previous_chain" in first and entry is not first:
            self._chain_damaged(first)  # still the hearing's record: the judge must know
        return entry

    async def close_after_restart(self, ended: float, reason: str) -> None:
        """The hearing ended while the server was down, between its end and the `stop` entry:
        seal what was left and write that `stop` now, with the hearing's end (Unix time ``ended``)
        as the recording's end."""
        self._stopping = True
        entry = await self._on_disk(self._recover, ended, False)
        end_ms = entry["gap"]["to_ms"]
        await self._on_disk(
            lambda: self.manifest.append(
                "stop", reason=reason, end_ms=end_ms, closed_after_restart=True, **SYSTEM
            )
        )
        self.state = "stopped"
        self._disk.shutdown(wait=True)
        log.warning(
            "recording of hearing %s closed after a restart (%s), %d segment(s) recovered",
            self.hearing_id,
            reason,
            entry["recovered_segments"],
        )

    def _recover(self, until: float | None, in_session: bool) -> dict[str, Any]:
        """Seal what a crash left and log the gap up to ``until`` (Unix time; now if None; never
        before the last thing recorded). The current chain is checked first, without changing
        it: if it is damaged (or cut short: sealed segments it does not know of), recording goes
        on in a new chain (``in_session``) or it is left alone (ChainError)."""
        names = chains(self.directory)
        self.manifest = Manifest(
            self.directory, on_entry=self._count, name=names[-1] if names else MANIFEST
        )
        try:
            if not names:
                raise ChainError(f"{MANIFEST} is missing")
            entries = self.manifest.load()
            if not entries and in_session:  # its first entry was never written: begin now
                self.manifest.repair()
                self.epoch = time.time()
                self._track_count = self._highest_track()
                return self._start(self.manifest, "hearing in session", SYSTEM)
            if not entries:
                raise ChainError(f"{self.manifest.path.name} is empty")
            first = entries[0]
            self._tracks_before = first.get("tracks_before", 0)
            unknown = self._unknown_files(entries)
        except (ChainError, OSError) as exc:
            if not in_session:
                raise
            self._new_chain(exc, None)
            return self.manifest.entries[0]
        repaired = self.manifest.repair()
        self.epoch = first["epoch"]
        recovered = []
        for track_id, path in unknown:
            if not path.name.endswith(PART):
                # A sealed file the chain never heard of gets the same treatment as a torn one:
                # its contents are read back and it is logged as recovered.
                path = path.rename(path.with_name(path.name + PART))
            info = recover(path)
            if info is not None:
                recovered.append(self.manifest.append("segment", track=track_id, **info))
        # New tracks are numbered after every old one, also one whose entry a full disk held back.
        self._track_count = self._highest_track()
        ends = [e["end_ms"] for e in self.manifest.entries if e["type"] == "segment"]
        last_event_ms = max([summary.at_ms_of(e, self.epoch) for e in self.manifest.entries] or [0])
        gap_from = max([*ends, last_event_ms])
        until = time.time() if until is None else until
        gap_to = max(gap_from, round((until - self.epoch) * 1000))
        return self.manifest.append(
            "restart",
            cause="recorder",  # its process (or the whole server) started again
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

    def _unknown_files(self, entries: list[dict[str, Any]]) -> list[tuple[str, Path]]:
        """The files of this chain's tracks a crash left outside it: torn `.part` files, and a
        sealed segment sealed just before the crash (one per track at most: the disk thread
        logs each segment before it seals the next). More than that means the chain was cut
        short (ChainError). Folders of earlier chains' tracks, and files of a track before this
        chain named it again, are not this chain's: they are left alone."""
        known: dict[str, set[int]] = {}
        continued: set[str] = set()
        for entry in entries:
            if entry["type"] == "track":
                known.setdefault(entry["track"], set())
                if entry.get("continued"):
                    continued.add(entry["track"])
            elif entry["type"] == "segment":
                track, name = entry["file"].split("/")
                known.setdefault(track, set()).add(int(name[:6]))
        found = []
        for track_dir in sorted(self.directory.iterdir()):
            match = TRACK_DIR.fullmatch(track_dir.name)
            if match is None or (
                track_dir.name not in known and int(match.group(1)) <= self._tracks_before
            ):
                continue
            numbers = known.get(track_dir.name, set())
            floor = min(numbers, default=0) if track_dir.name in continued else 0
            sealed = []
            for path in sorted(track_dir.iterdir()):
                if path.name.endswith(".recovering"):
                    path.unlink()  # an earlier recovery died half way; its source is still here
                elif path.name.endswith(PART):
                    found.append((track_dir.name, path))
                elif (segment := SEGMENT_FILE.fullmatch(path.name)) is not None:
                    number = int(segment.group(1))
                    if (
                        number not in numbers
                        and number > floor
                        and not (track_dir.name in continued and not numbers)
                    ):
                        sealed.append((track_dir.name, path))
            if len(sealed) > 1:
                raise ChainError(
                    f"{len(sealed)} sealed segments of {track_dir.name} are not in "
                    f"{self.manifest.path.name}: it was cut short"
                )
            found += sealed
        return sorted(found, key=lambda item: (item[0], item[1].name))

    def add_track(
        self, participant: dict[str, Any], source: MediaSource, label: str | None = None
    ) -> None:
        """Record one publication; ``label`` is what it shows ("camera", "screen", ...)."""
        info = source.info
        self._track_count += 1
        track_id = f"t{self._track_count:02d}-{info.kind}"
        clock = self.clocks.setdefault(info.peer_id, PublisherClock())
        track = TrackRecorder(self, track_id, self.directory / track_id, source, clock)
        self.tracks[track_id] = track
        entry = {
            "track": track_id,
            "kind": info.kind,
            "codec": info.codec,
            "clock_rate": info.clock_rate,
            "source": label or summary.DEFAULT_SOURCE[info.kind],
            "publication": info.publication_id,
            "participant": {
                k: recordable(v) if isinstance(v, str) else v for k, v in participant.items()
            },
        }

        def register() -> None:
            self._track_entries[track_id] = self._unlogged_tracks[track_id] = entry
            try:
                self._log_track(track_id)
            except Exception as exc:  # tried again before the track's first segment
                self._loop.call_soon_threadsafe(self.disk_failed, track_id, exc)

        self._disk.submit(register)
        task = self._loop.create_task(track.run())
        self._tasks.add(task)
        task.add_done_callback(self._track_done)

    def _track_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "recording a track of hearing %s failed", self.hearing_id, exc_info=task.exception()
            )

    async def set_paused(self, paused: bool, actor: dict[str, Any], reason: str) -> dict[str, Any]:
        """Pause or resume. The state is checked, the entry written and the state changed in one
        job of the disk thread, which does every write of the recording in order: two requests
        at once are taken one after the other, the second seeing the first's state, and a caller
        cancelled meanwhile cannot leave the state and the manifest disagreeing. On any error
        (text that cannot be written, a disk that refuses it) nothing changes and the error is
        raised to the caller."""
        problem = unrecordable(reason)
        if problem is not None:
            raise RecordingError("invalid", f"'reason' {problem}")
        if self._stopping:
            raise RecordingError(
                "conflict",
                "the recording is stopped (the hearing ended, or the server is shutting down)",
            )

        def write() -> dict[str, Any]:
            if self.paused == paused:
                raise RecordingError(
                    "conflict", f"the recording is already {'paused' if paused else 'running'}"
                )
            entry = self._append("pause" if paused else "resume", reason=reason, **actor)
            self.state = "paused" if paused else "recording"
            return entry

        entry = await self._on_disk(write)
        if not paused:
            for track in self.tracks.values():
                track.source.request_keyframe()
        return entry

    async def stop(self, kind: str, reason: str, **fields: Any) -> bool:
        """Close every track (sealing its last segment) and log why recording stopped: `stop`
        when the hearing ended, `interrupted` when the server shuts down mid-hearing. False if
        that entry could not be written (alarmed; the next start-up closes the recording)."""
        self._stopping = True
        for track in self.tracks.values():
            track.source.close()  # the reader sees the end after what is queued
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

        def close() -> None:
            now_ms = round((time.time() - self.epoch) * 1000)
            for track_id in list(self._lost):  # lost until the end: the gap closes here
                self._log_gap(track_id, now_ms)
            if self._media_gap is not None:  # the media never came back before the end
                self._log_media_gap(now_ms)
            self._append(kind, reason=reason, **fields, **SYSTEM)
            self.state = "stopped"

        try:
            await self._on_disk(close)
        except Exception as exc:
            self.disk_failed("manifest", exc)
            return False
        finally:
            self._disk.shutdown(wait=True)
        return True

    # -- called by the tracks -------------------------------------------------------------------

    def seal(self, track_id: str, segment: Segment, frame_ms: int) -> None:
        def work() -> None:
            try:
                info = segment.seal(frame_ms)
            except Exception as exc:
                segment.discard()  # a torn file must not look sealed
                self._lose(track_id, segment.first_ms or 0, exc)
                return
            try:
                self._log_segment(track_id, info)
            except Exception as exc:
                # Sealed but not in the chain: the record must not hold a file the manifest
                # never vouched for, so it goes, and the gap entry will say so.
                segment.discard()
                self._lose(track_id, info["start_ms"], exc)

        self._on_disk_later(work)

    def media_lost(self, at: float, reason: str) -> None:
        """The worker that carried the hearing's media died at ``at`` (Unix time); the
        participants are placed on another and publish again, as new tracks. The first of their
        segments is preceded in the manifest by a `restart` entry with `cause: "media_worker"`
        and the gap, from the latest segment's end to that segment's start (or to the stop,
        if the hearing ends first): the archive and `verify` show it as after a restart."""
        if self._stopping:
            return
        at_ms = max(0, round((at - self.epoch) * 1000))

        def note() -> None:
            if self._media_gap is None:  # a second loss before media came back: one gap
                self._media_gap = (at_ms, reason)

        self._on_disk_later(note)

    def note_room(self, change: dict[str, Any]) -> None:
        """A room of the hearing opened or closed, or someone moved between rooms: a `room`
        entry (who was where is part of the record: a witness out of the main room heard
        nothing of it)."""
        if self._stopping:
            return
        fields = {k: _recordable_json(v) for k, v in change.items() if k != "at"}
        by = fields.pop("by", None)
        actor = {"actor": by} if isinstance(by, str) else SYSTEM

        def write() -> None:
            try:
                self._append("room", **fields, **actor)
            except OSError as exc:
                self._loop.call_soon_threadsafe(self.disk_failed, "manifest", exc)

        self._on_disk_later(write)

    def track_failed(self, track_id: str, from_ms: int, exc: BaseException) -> None:
        """A track lost media from ``from_ms`` on (its open segment could not be written)."""
        self._on_disk_later(lambda: self._lose(track_id, from_ms, exc))

    def _on_disk_later(self, work: Callable[[], None]) -> None:
        future: Future[None] = self._disk.submit(work)
        wrapped = asyncio.wrap_future(future, loop=self._loop)
        self._pending.add(wrapped)
        wrapped.add_done_callback(self._pending.discard)

    # -- on the disk thread: the manifest's view of each track ----------------------------------

    def _log_track(self, track_id: str) -> None:
        entry = self._unlogged_tracks.get(track_id)
        if entry is not None:
            (self.directory / track_id).mkdir(mode=0o700, exist_ok=True)
            self._append("track", **entry)
            del self._unlogged_tracks[track_id]

    def _log_segment(self, track_id: str, info: dict[str, Any]) -> None:
        """The track (if not yet logged), the gap before this segment (if media was lost), the
        segment: in that order, so that the chain never names a file of an unknown track."""
        self._log_track(track_id)
        if self._media_gap is not None and info["start_ms"] >= self._media_gap[0]:
            self._log_media_gap(info["start_ms"])
        if track_id in self._lost:
            lost_ms = self._log_gap(track_id, info["start_ms"])
            self._loop.call_soon_threadsafe(self._writing_again, track_id, lost_ms)
        self._append("segment", track=track_id, **info)
        self._segments_end_ms = max(self._segments_end_ms, info["end_ms"])

    def _log_media_gap(self, to_ms: int) -> None:
        assert self._media_gap is not None
        lost_ms, reason = self._media_gap
        # From where the media logged before it ends (the last segments of the tracks that died
        # are sealed after the loss), never after the loss itself.
        from_ms = min(lost_ms, self._segments_end_ms) if self._segments_end_ms else lost_ms
        to_ms = max(from_ms, to_ms)
        self._append(
            "restart",
            cause="media_worker",
            reason=f"media worker lost ({reason}); participants reconnected",
            gap={"from_ms": from_ms, "to_ms": to_ms, "seconds": round((to_ms - from_ms) / 1000, 3)},
            recovered_segments=0,
            repaired_manifest=False,
            **SYSTEM,
        )
        self._media_gap = None

    def _log_gap(self, track_id: str, to_ms: int) -> int:
        from_ms, reason = self._lost[track_id]
        to_ms = max(from_ms, to_ms)
        self._log_track(track_id)
        self._append(
            "gap",
            track=track_id,
            from_ms=from_ms,
            to_ms=to_ms,
            seconds=round((to_ms - from_ms) / 1000, 3),
            reason=reason,
            **SYSTEM,
        )
        del self._lost[track_id]
        return to_ms - from_ms

    def _lose(self, track_id: str, from_ms: int, exc: BaseException) -> None:
        lost = self._lost.get(track_id)
        reason = f"not written: {getattr(exc, 'strerror', None) or exc}"
        self._lost[track_id] = (min(from_ms, lost[0]) if lost else from_ms, reason)
        self._loop.call_soon_threadsafe(self._seal_failed, track_id, exc)

    # -- back on the event loop -----------------------------------------------------------------

    def _seal_failed(self, track_id: str, exc: BaseException) -> None:
        track = self.tracks.get(track_id)
        if track is not None:
            track.back_off()
        self.disk_failed(track_id, exc)

    def _writing_again(self, track_id: str, lost_ms: int) -> None:
        log.warning(
            "hearing %s: recording %s is written again; %.1f s of it were lost (gap logged)",
            self.hearing_id,
            track_id,
            lost_ms / 1000,
        )

    def _chain_damaged(self, start: dict[str, Any]) -> None:
        previous = start["previous_chain"]
        message = (
            f"the recording's manifest {previous['file']} is damaged ({previous['error']}); it is "
            f"kept as it was found and recording goes on in a new chain, {self.manifest.path.name}:"
            " tell the technician, and keep both files"
        )
        detail = {
            "damaged": previous["file"],
            "chain": self.manifest.path.name,
            "last_verified_hash": previous["last_verified_hash"],
            "directory": str(self.directory),
        }
        self._standing[DAMAGED] = (message, detail)
        self.alarm(self.hearing_id, DAMAGED, message, detail)

    def disk_failed(self, track_id: str, exc: BaseException) -> tuple[str, str, dict[str, Any]]:
        """Log the failure and alarm (at most every ALARM_EVERY s per track); the alarm's
        (code, message, detail)."""
        log.error("hearing %s: recording %s failed: %s", self.hearing_id, track_id, exc)
        now = self.last_failure = time.monotonic()
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            code = "recording_disk_error"
            message = (
                f"the recording cannot be written to disk ({exc.strerror}); the hearing continues "
                "but is not being recorded: free disk space or fix the data directory"
            )
        else:
            code = "recording_error"
            message = f"recording {track_id} failed ({exc}); the hearing continues"
        detail = {"track": track_id, "directory": str(self.directory)}
        self.failure = (code, message, detail)
        if now - self._last_alarm.get(track_id, -ALARM_EVERY) >= ALARM_EVERY:
            self._last_alarm[track_id] = now
            self.alarm(self.hearing_id, code, message, detail)
        return self.failure


def _recordable_json(value: Any) -> Any:
    """`recordable` for every text in a JSON value (room names and people's names)."""
    if isinstance(value, str):
        return recordable(value)
    if isinstance(value, dict):
        return {recordable(str(k)): _recordable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_recordable_json(v) for v in value]
    return value


def light_json(tally: summary.Tally) -> dict[str, Any]:
    """What the console shows of a recording, from its tally alone."""
    pause = tally.pause
    return {
        "state": tally.state,
        "started_at": tally.started_at,
        "duration_seconds": tally.duration_ms / 1000,
        "tracks": tally.tracks,
        "segments": tally.segments,
        "bytes": tally.bytes,
        "manifest_entries": tally.entries,
        "chain_head": tally.chain_head,
        "paused": (
            None
            if pause is None or tally.state != "paused"
            else {k: pause.get(k) for k in ("at", "reason", "actor", "actor_role")}
        ),
    }
