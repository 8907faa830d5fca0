"""One track's coded frames into short Matroska/WebM files, muxed by PyAV without any encoding.

A segment is written as `NNNNNN.<ext>.part`; sealing closes it (cues and sizes written), fsyncs it,
renames it to `NNNNNN.<ext>` and hashes it. Timestamps are milliseconds on the recording's
timeline (0 = when recording started), so the segments of every track line up without any
side information. A crash leaves at most the one `.part` file per track: `recover` keeps every
packet that can still be read from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from sfu.depacketize import Frame

MS = Fraction(1, 1000)
PART = ".part"


@dataclass(frozen=True)
class Container:
    format: str  # PyAV / ffmpeg muxer name
    extension: str
    codec: str  # PyAV codec name


def container_for(codec: str) -> Container:
    kind = codec.lower()
    if kind == "video/vp8":
        return Container("webm", "webm", "vp8")
    if kind == "audio/opus":
        return Container("webm", "webm", "opus")
    if kind == "video/h264":
        return Container("matroska", "mkv", "h264")
    raise ValueError(f"the recorder cannot write {codec}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Segment:
    """An open segment. Muxing happens on the event loop (microseconds per frame); `seal` does
    the slow part (close, fsync, hash) and runs on the recording's disk thread."""

    def __init__(
        self,
        directory: Path,
        index: int,
        container: Container,
        size: tuple[int, int] | None,
    ) -> None:
        self.index = index
        directory.mkdir(mode=0o700, exist_ok=True)  # a disk full at the track's start: retried
        self.final = directory / f"{index:06d}.{container.extension}"
        self.path = self.final.with_name(self.final.name + PART)
        self._out = av.open(str(self.path), "w", format=container.format)
        if size is not None:
            self._stream = self._out.add_mux_stream(container.codec, width=size[0], height=size[1])
        else:
            self._stream = self._out.add_mux_stream(container.codec, rate=48000, layout="stereo")
        self._stream.time_base = MS
        self.size = size
        self.first_ms: int | None = None
        self.last_ms = 0
        self.frames = 0
        self.keyframe_start = False

    def write(self, frame: Frame, pts_ms: int) -> None:
        packet = av.Packet(frame.data)
        packet.pts = packet.dts = pts_ms
        packet.time_base = MS
        packet.stream = self._stream
        packet.is_keyframe = frame.keyframe
        if self.first_ms is None:
            self.first_ms = pts_ms
            self.keyframe_start = frame.keyframe
        self._out.mux(packet)
        self.last_ms = pts_ms
        self.frames += 1

    def seal(self, frame_ms: int) -> dict[str, Any]:
        """Finish the file; the manifest's description of it. ``frame_ms``: the last frame's
        duration, so that consecutive segments' [start, end) intervals meet."""
        self._out.close()
        _fsync_path(self.path)
        os.replace(self.path, self.final)
        _fsync_path(self.final.parent)
        return describe(self.final, self.first_ms or 0, self.last_ms + frame_ms, self.frames) | {
            "keyframe_start": self.keyframe_start
        }

    def discard(self) -> None:
        """Give up on this segment (the disk failed under it), sealed or not: a file that may be
        torn, or that the manifest could not vouch for, must not stay in the recording."""
        with contextlib.suppress(Exception):
            self._out.close()
        self.path.unlink(missing_ok=True)
        self.final.unlink(missing_ok=True)


def describe(path: Path, start_ms: int, end_ms: int, frames: int) -> dict[str, Any]:
    return {
        "file": f"{path.parent.name}/{path.name}",
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "frames": frames,
    }


def recover(part: Path) -> dict[str, Any] | None:
    """Rewrite the readable packets of a `.part` file left by a crash as a sealed segment; None
    if nothing in it can be read. The broken original is removed."""
    final = part.with_name(part.name[: -len(PART)])
    fixed = final.with_name(final.name + ".recovering")
    muxer = "webm" if final.suffix == ".webm" else "matroska"
    frames = 0
    first_ms: int | None = None
    last_ms = 0
    keyframe_start = False
    try:
        with av.open(str(part)) as source, av.open(str(fixed), "w", format=muxer) as out:
            template = source.streams[0]
            stream = out.add_stream_from_template(template)
            stream.time_base = MS
            try:
                for packet in source.demux(template):
                    if packet.pts is None or packet.size == 0:
                        continue
                    pts = int(packet.pts * packet.time_base * 1000)
                    if first_ms is None:
                        first_ms, keyframe_start = pts, packet.is_keyframe
                    packet.stream = stream
                    packet.pts = packet.dts = pts
                    packet.time_base = MS
                    out.mux(packet)
                    last_ms = pts
                    frames += 1
            except (av.error.InvalidDataError, av.error.EOFError, OSError):
                pass  # the torn end of the file: keep what came before it
    except (av.error.InvalidDataError, OSError, IndexError):
        frames = 0
    part.unlink(missing_ok=True)
    if not frames or first_ms is None:
        fixed.unlink(missing_ok=True)
        return None
    _fsync_path(fixed)
    os.replace(fixed, final)
    _fsync_path(final.parent)
    return describe(final, first_ms, last_ms + 20, frames) | {
        "keyframe_start": keyframe_start,
        "recovered": True,
    }
