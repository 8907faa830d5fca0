"""The composite archive: after the hearing, one MP4 (H.264 + AAC) of the whole hearing.

The judge large and the others tiled (livestream.layout, the same arrangement the public sees),
or, if anyone shared a screen (evidence) during the hearing, the screen large and every camera
tiled beside it; each tile captioned with the person's name and role in Chinese (the screen with
证据展示 and the sharer's name while shown), a burnt-in date/time clock of the hearing's real wall
time, every voice mixed, and a notice over the periods recording was paused.

Built in two steps, both outside the event loop (the caller runs `build` in a thread):
1. each track's segments are joined (remuxed, not decoded) into one file per track — segments
   share the recording's timeline, so joining is concatenation;
2. one ffmpeg process (graph built with ffmpeg-python, binary from imageio-ffmpeg) decodes those,
   places each on a canvas as long as the hearing at its own start time, mixes, encodes once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import av
import ffmpeg
import imageio_ffmpeg

from livestream.clock import CourtClock
from livestream.layout import LEAD_ROLES, Tile, caption, cjk_font, draw_text, layout
from recorder.segments import MS

log = logging.getLogger("cloudcourt.recorder")

ARCHIVE = "archive.mp4"
WORK = "archive.work"
WIDTH, HEIGHT, FPS = 1280, 720, 30
ENCODER_THREADS = 2  # the server keeps running beside it: stay modest
# Decoded Opus lags what the sender heard by the encoder's look-ahead, which Ogg and WebM signal
# as pre-skip; RTP does not (RFC 7587), so the segments carry none. Every libopus sender —
# browsers, aiortc, ffmpeg — uses 312 samples at 48 kHz (6.5 ms): they are dropped from the start
# of each voice (the only audio codec the recorder writes), which moves it onto its pictures.
OPUS_PRE_SKIP = 312


SCREEN = "screen"  # the tile every shared screen goes into (a publication's `source`)
SCREEN_CAPTION = "证据展示"
PAUSED_TEXT = "录制已暂停 Recording paused"


class ArchiveError(RuntimeError):
    pass


class Aborted(Exception):
    """The build was stopped (server shutdown); nothing was written."""


class Abort:
    """Lets the event loop stop a build running in a thread: its ffmpeg is terminated at once
    (a long hearing's build takes more than an hour)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._process: subprocess.Popen[bytes] | None = None

    def set(self) -> None:
        with self._lock:
            self._set = True
            if self._process is not None:
                self._process.terminate()

    def check(self) -> None:
        if self._set:
            raise Aborted

    def attach(self, process: subprocess.Popen[bytes] | None) -> None:
        with self._lock:
            self._process = process
            if process is not None and self._set:
                process.terminate()


def _segment_path(directory: Path, name: str) -> Path:
    """A segment named by the manifest: always a file of the recording's own directory."""
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise ArchiveError(f"the manifest names a segment outside the recording: {name!r}")
    return directory / relative


def join_segments(directory: Path, track: dict[str, Any], out: Path) -> float | None:
    """Remux a track's segments into ``out``; its start in seconds on the timeline, or None if
    nothing in it can be shown (video that never reached a keyframe)."""
    segments = track["segments"]
    if not segments:
        return None
    video = track["kind"] == "video"
    first: float | None = None
    with av.open(str(out), "w", format="matroska") as sink:
        stream = None
        last = -1
        for segment in segments:
            with av.open(str(_segment_path(directory, segment["file"]))) as source:
                template = source.streams[0]
                if stream is None:
                    stream = sink.add_stream_from_template(template)
                    stream.time_base = MS
                for packet in source.demux(template):
                    if packet.pts is None or packet.size == 0:
                        continue
                    if first is None and video and not packet.is_keyframe:
                        continue
                    pts = int(packet.pts * packet.time_base * 1000)
                    if pts <= last:
                        continue
                    if first is None:
                        first = pts / 1000
                    packet.stream = stream
                    packet.pts = packet.dts = pts
                    packet.time_base = MS
                    sink.mux(packet)
                    last = pts
    return first


def _caption(participant: dict[str, Any]) -> str:
    return caption(participant.get("name", ""), participant.get("role", ""))


def tiles(
    people: dict[str, dict[str, Any]], screen: bool, width: int, height: int
) -> dict[str, Tile]:
    """Tiles by participant id (and SCREEN): the usual arrangement, or with a screen the screen
    where the judge would be and every camera, the judge's too, beside it in join order."""
    if screen:
        # The screen takes the lead's place; nobody else is a lead then.
        keys = [(SCREEN, LEAD_ROLES[0]), *((pid, "") for pid in people)]
    else:
        keys = [(pid, p.get("role", "")) for pid, p in people.items()]
    return {tile.key: tile for tile in layout(keys, width, height)}


def build(
    directory: Path,
    summary: dict[str, Any],
    progress: Callable[[float], None],
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
    fps: int = FPS,
    out_name: str = ARCHIVE,
    abort: Abort | None = None,
    clock: CourtClock | None = None,
) -> Path:
    """Write the archive of a stopped recording into ``directory``, its clock in ``clock``'s zone
    (the court's; Beijing time if None); returns its path. Raises Aborted if ``abort`` is set
    meanwhile."""
    abort = abort or Abort()
    clock = clock or CourtClock.named()
    abort.check()
    duration = summary["duration_ms"] / 1000
    if duration <= 0:
        raise ArchiveError("the recording is empty")
    work = directory / WORK
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    try:
        inputs: list[tuple[dict[str, Any], Path, float]] = []
        for n, track in enumerate(summary["tracks"].values()):
            # Named by position: nothing read from the manifest becomes part of a path.
            path = work / f"track{n}.mkv"
            abort.check()
            start = join_segments(directory, track, path)
            if start is not None:
                inputs.append((track, path, start))
        progress(0.02)
        people: dict[str, dict[str, Any]] = {}
        screens: list[tuple[dict[str, Any], float]] = []  # (track, start) of each shared screen
        for track, _, start in sorted(inputs, key=lambda item: item[2]):
            if track["kind"] != "video":
                continue
            if track.get("source") == SCREEN:
                screens.append((track, start))
            else:
                people.setdefault(track["participant"]["id"], track["participant"])
        placed = tiles(people, bool(screens), width, height)
        canvas = ffmpeg.input(
            f"color=c=black:s={width}x{height}:r={fps}:d={duration:.3f}", f="lavfi"
        ).video
        audio = []
        for track, path, start in inputs:
            source = ffmpeg.input(str(path))
            if track["kind"] == "audio":
                audio.append(
                    source.audio.filter("asetpts", "PTS-STARTPTS")  # atrim counts from 0
                    .filter("atrim", start_sample=OPUS_PRE_SKIP)
                    .filter("asetpts", f"PTS-STARTPTS+{start:.3f}/TB")
                    .filter("aresample", 48000, **{"async": 1, "first_pts": 0})
                )
                continue
            is_screen = track.get("source") == SCREEN
            tile = placed[SCREEN if is_screen else track["participant"]["id"]]
            # Half a frame early: the canvas then shows the source frame nearest in time,
            # not the one before it, which keeps pictures within half a frame of the sound.
            shift = start - 0.5 / fps
            picture = (
                source.video.filter("setpts", f"PTS-STARTPTS+{shift:.4f}/TB")
                .filter("scale", tile.width, tile.height, force_original_aspect_ratio="decrease")
                .filter("pad", tile.width, tile.height, "(ow-iw)/2", "(oh-ih)/2")
            )
            canvas = ffmpeg.overlay(canvas, picture, x=tile.x, y=tile.y, eof_action="pass")
        size = max(18, height // 30)
        captions: list[tuple[Tile, str, dict[str, str]]] = [
            (placed[pid], _caption(p), {}) for pid, p in people.items()
        ]
        for track, start in screens:  # whose screen, while it is shown
            end = (track["end_ms"] or 0) / 1000
            name = track["participant"].get("name", "")
            captions.append(
                (
                    placed[SCREEN],
                    f"{SCREEN_CAPTION} · {name}",
                    {"enable": f"between(t,{start:.3f},{end:.3f})"},
                )
            )
        # Captions and the clock: white on a translucent band, readable over any picture.
        boxed = {
            "fontsize": size,
            "fontcolor": "white",
            "box": 1,
            "boxcolor": "black@0.55",
            "boxborderw": 6,
        }
        for n, (tile, text, when) in enumerate(captions):
            canvas = draw_text(
                canvas,
                text,
                work / f"caption{n}.txt",
                x=tile.x + 10,
                y=tile.y + tile.height - size - 16,
                **boxed,
                **when,
            )
        # The one text that is expanded, and made of nothing but constants and a number: the
        # court's time as UTC shifted by the zone's offset at the start, so that neither the
        # server's zone nor ffmpeg's time zone database plays any part.
        epoch = summary["epoch"]
        shifted = epoch + clock.offset(epoch).total_seconds()
        canvas = canvas.drawtext(
            text=f"{clock.label(epoch)} %{{pts:gmtime:{shifted:.3f}}}",
            escape_text=False,
            fontfile=str(cjk_font()),
            x=f"w-tw-{size}",
            y=size // 2,
            **boxed,
        )
        for start_ms, end_ms in summary["pauses"]:
            canvas = draw_text(
                canvas,
                PAUSED_TEXT,
                work / "paused.txt",
                fontsize=size * 2,
                fontcolor="yellow",
                x="(w-tw)/2",
                y="(h-th)/2",
                enable=f"between(t,{start_ms / 1000:.3f},{end_ms / 1000:.3f})",
            )
        if not audio:
            mixed = ffmpeg.input(f"anullsrc=r=48000:cl=stereo:d={duration:.3f}", f="lavfi").audio
        elif len(audio) == 1:
            mixed = audio[0]
        else:
            mixed = ffmpeg.filter(audio, "amix", inputs=len(audio), duration="longest", normalize=0)
        mixed = mixed.filter("apad", whole_dur=f"{duration:.3f}")
        target = directory / f".{out_name}.part"
        # A new file, not the old one truncated: an ffmpeg orphaned by a killed server may still
        # be writing to that one.
        target.unlink(missing_ok=True)
        command = (
            ffmpeg.output(
                canvas,
                mixed,
                str(target),
                f="mp4",
                t=f"{duration:.3f}",
                vcodec="libx264",
                preset="veryfast",
                pix_fmt="yuv420p",
                threads=ENCODER_THREADS,
                acodec="aac",
                audio_bitrate="128k",
                ar=48000,
                movflags="+faststart",
            )
            .global_args("-hide_banner", "-nostats", "-loglevel", "error", "-progress", "pipe:1")
            .overwrite_output()
            .compile(cmd=imageio_ffmpeg.get_ffmpeg_exe())
        )
        _run(command, duration, progress, work / "ffmpeg.log", abort)
        final = directory / out_name
        os.replace(target, final)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (directory / f".{out_name}.part").unlink()


def _spawn_idle(command: list[str], errors: BinaryIO) -> subprocess.Popen[bytes]:
    """ffmpeg under SCHED_IDLE: it gets only the CPU time that live hearings leave, however long
    the hearing it composes (docs/OPERATIONS.md). The policy is set on a thread of its own that
    then forks: fork and exec keep a thread's policy, so ffmpeg and every thread it starts have
    it from their first instruction, and no thread of the server is lowered (an unprivileged
    thread could not climb back out of SCHED_IDLE)."""
    started: list[subprocess.Popen[bytes]] = []
    failed: list[BaseException] = []

    def spawn() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError as exc:  # a sandbox that forbids it: the archive still gets built
            log.warning("the archive build runs at normal priority: no SCHED_IDLE (%s)", exc)
        try:
            started.append(
                subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL
                )
            )
        except BaseException as exc:
            failed.append(exc)

    spawner = threading.Thread(target=spawn, name="archive-spawn")
    spawner.start()
    spawner.join()
    if failed:
        raise failed[0]
    return started[0]


def _run(
    command: list[str],
    duration: float,
    progress: Callable[[float], None],
    log_path: Path,
    abort: Abort,
) -> None:
    with open(log_path, "wb") as errors:
        proc = _spawn_idle(command, errors)
        abort.attach(proc)
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                key, _, value = raw.decode(errors="replace").strip().partition("=")
                if key == "out_time_us" and value.isdigit():
                    progress(min(0.99, 0.02 + 0.97 * int(value) / 1e6 / duration))
            code = proc.wait()
        finally:
            abort.attach(None)
    abort.check()
    if code != 0:
        raise ArchiveError(
            f"ffmpeg exited with {code}: {log_path.read_text(errors='replace')[-2000:]}"
        )
