"""Publish H.264 + Opus with ffmpeg's own WHIP muxer (the ffmpeg of the imageio-ffmpeg wheel).

Video: the same counter/sender block pattern as the aiortc clients, generated here and piped to
ffmpeg as raw gray frames in real time (so receivers can check content and continuity).
Audio: lavfi ``sine`` at the sender's tone (read in real time with ``-re``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import imageio_ffmpeg

from .media import draw_pattern, tone_for


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def ffmpeg_encoders() -> str:
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30
    ).stdout


@functools.cache
def whip_muxer_help() -> str:
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-h", "muxer=whip"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout


def h264_encoder_args(bitrate: str = "400k", gop: int = 15) -> list[str]:
    enc = ffmpeg_encoders()
    if " libx264 " in enc:
        return [
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-bf",
            "0",
            "-g",
            str(gop),
            "-keyint_min",
            str(gop),
            "-b:v",
            bitrate,
            "-pix_fmt",
            "yuv420p",
        ]
    if " libopenh264 " in enc:
        return [
            "-c:v",
            "libopenh264",
            "-profile:v",
            "constrained_baseline",
            "-g",
            str(gop),
            "-b:v",
            bitrate,
            "-pix_fmt",
            "yuv420p",
        ]
    raise RuntimeError("this ffmpeg has no H.264 encoder")


class FfmpegWhip:
    """``ffmpeg -f whip`` publishing the block pattern (sender ``media_id``) and its tone."""

    def __init__(
        self,
        whip_url: str,
        token: str | None,
        media_id: int,
        *,
        width: int = 320,
        height: int = 240,
        fps: int = 15,
        log_path: Path | str | None = None,
        dtls_active: bool = True,
        extra_args: list[str] | None = None,
    ):
        self.whip_url, self.token, self.media_id = whip_url, token, media_id
        self.width, self.height, self.fps = width, height, fps
        self.log_path = Path(log_path) if log_path else None
        self.dtls_active = dtls_active
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen | None = None
        self._writer: threading.Thread | None = None
        self._stop = threading.Event()
        self.frames_written = 0
        self._log_file = None

    def input_args(self) -> list[str]:
        """Input 0 is the video, input 1 the audio: the block pattern from stdin, the tone."""
        return [
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-s",
            f"{self.width}x{self.height}",
            "-framerate",
            str(self.fps),
            "-i",
            "pipe:0",
            "-re",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={tone_for(self.media_id):g}:sample_rate=48000",
        ]

    def encoder_args(self) -> list[str]:
        return h264_encoder_args()

    def command(self) -> list[str]:
        cmd = [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "info",
            *self.input_args(),
            "-map",
            "0:v",
            "-map",
            "1:a",
            *self.encoder_args(),
            "-c:a",
            "libopus",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-b:a",
            "64k",
            *self.extra_args,
            "-f",
            "whip",
            "-handshake_timeout",
            "10000",
        ]
        if self.dtls_active:
            cmd += ["-whip_flags", "dtls_active"]
        if self.token is not None:
            cmd += ["-authorization", self.token]
        cmd.append(self.whip_url)
        return cmd

    def start(self) -> FfmpegWhip:
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file or subprocess.DEVNULL,
        )
        self._writer = threading.Thread(
            target=self._write_frames, name="ffmpeg-whip-writer", daemon=True
        )
        self._writer.start()
        return self

    def _write_frames(self) -> None:
        start = time.monotonic()
        i = 0
        try:
            while not self._stop.is_set():
                due = start + i / self.fps
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                self.proc.stdin.write(
                    draw_pattern(i, self.media_id, self.width, self.height).tobytes()
                )
                self.proc.stdin.flush()
                i += 1
                self.frames_written = i
        except (BrokenPipeError, ValueError, OSError):
            pass

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return ""

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT + EOF on the video pipe (ffmpeg then sends its DELETE); kill if it lingers."""
        self._stop.set()
        if self._writer is not None:
            self._writer.join(5)
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(BrokenPipeError, OSError, ValueError):
                self.proc.stdin.close()
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait(5)
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        return rc

    async def astop(self, timeout: float = 10.0) -> int | None:
        """``stop`` without blocking the event loop (our own peers and servers keep running)."""
        return await asyncio.to_thread(self.stop, timeout)

    def __repr__(self) -> str:  # for assertion messages
        return f"FfmpegWhip(pid={self.proc.pid if self.proc else None}, log={self.log_path})"


def tail(text: str, lines: int = 40) -> str:
    return os.linesep.join(text.splitlines()[-lines:])
