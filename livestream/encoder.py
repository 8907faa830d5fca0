"""Encode the composite once (H.264 + AAC) and cut it into MPEG-TS segments at keyframes.

The encoders live in a template container that is never written to; each segment is its own small
MPEG-TS file whose streams are copies of the template's, so a segment starts with its own
PAT/PMT and keyframe and is playable alone — and the sidecar, not FFmpeg's HLS muxer, decides
when a segment becomes public (the broadcast delay). A poster candidate (JPEG) is written next to
some segments and becomes public with its segment.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

log = logging.getLogger("cloudcourt.livestream")

AUDIO_RATE = 48_000
POSTER_EVERY = 10  # segments


@dataclass(frozen=True)
class EncoderSettings:
    width: int = 854
    height: int = 480
    fps: int = 25
    video_bitrate: int = 900_000
    audio_bitrate: int = 64_000
    preset: str = "veryfast"


@dataclass(frozen=True)
class Segment:
    index: int
    duration: float  # seconds
    poster: bool  # a poster candidate was written beside it


def segment_name(index: int) -> str:
    return f"seg{index:06d}.ts"


def poster_name(index: int) -> str:
    return f"seg{index:06d}.jpg"


class Encoder:
    """Used from the composite thread only."""

    def __init__(
        self,
        work_dir: Path,
        first_index: int,
        settings: EncoderSettings,
        on_segment: Callable[[Segment], None],
    ) -> None:
        self.settings = settings
        self.work_dir = work_dir
        self._on_segment = on_segment
        self._next_index = first_index
        self._first_index = first_index
        fps = settings.fps
        self._template = av.open(io.BytesIO(), "w", format="mpegts")
        video = self._template.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = settings.width, settings.height, "yuv420p"
        video.bit_rate = settings.video_bitrate
        video.codec_context.gop_size = fps
        # One keyframe a second and no others: segments cut at keyframes come out ~1 s long.
        video.codec_context.options = {
            "preset": settings.preset,
            "tune": "zerolatency",
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0",
        }
        audio = self._template.add_stream("aac", rate=AUDIO_RATE)
        audio.codec_context.layout = "mono"
        audio.bit_rate = settings.audio_bitrate
        self._template.start_encoding()
        self._video, self._audio = video, audio
        self._samples_per_frame = AUDIO_RATE // fps
        self._poster = av.CodecContext.create("mjpeg", "w")
        self._poster.width, self._poster.height = settings.width, settings.height
        self._poster.pix_fmt = "yuvj420p"
        self._poster.time_base = Fraction(1, fps)
        self._segment: av.container.OutputContainer | None = None
        self._segment_streams: dict[str, av.stream.Stream] = {}
        self._segment_index = 0
        self._segment_start = 0.0
        self._last_video = 0.0
        self._pending_poster: np.ndarray | None = None

    @property
    def current_index(self) -> int:
        """The segment being written now (or the last one written)."""
        return self._next_index - 1

    def encode(self, image: np.ndarray, samples: np.ndarray, number: int) -> None:
        """Frame ``number`` (its time is number / fps): a yuv420p image and its float32 sound."""
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts, frame.time_base = number, Fraction(1, self.settings.fps)
        self._pending_poster = image
        for packet in self._video.encode(frame):
            self._mux(packet, "video")
        sound = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
        sound.sample_rate = AUDIO_RATE
        sound.pts, sound.time_base = number * self._samples_per_frame, Fraction(1, AUDIO_RATE)
        for packet in self._audio.encode(sound):
            self._mux(packet, "audio")

    def close(self) -> None:
        """Flush the encoders and hand over the last segment."""
        try:
            for packet in self._video.encode(None):
                self._mux(packet, "video")
            for packet in self._audio.encode(None):
                self._mux(packet, "audio")
        finally:
            self._close_segment(self._last_video + 1 / self.settings.fps)
            self._template.close()

    def _mux(self, packet: av.Packet, kind: str) -> None:
        if packet.pts is None:
            return
        if kind == "video":
            at = float(packet.pts * packet.time_base)
            if packet.is_keyframe and (self._segment is None or at - self._segment_start >= 0.5):
                self._close_segment(at)
                self._open_segment(at)
            self._last_video = at
        if self._segment is None:
            return  # sound from before the first picture
        packet.stream = self._segment_streams[kind]
        self._segment.mux(packet)

    def _open_segment(self, at: float) -> None:
        index = self._next_index
        self._next_index += 1
        segment = av.open(str(self.work_dir / segment_name(index)), "w", format="mpegts")
        self._segment_streams = {
            "video": segment.add_stream_from_template(self._video),
            "audio": segment.add_stream_from_template(self._audio),
        }
        self._segment, self._segment_index, self._segment_start = segment, index, at

    def _close_segment(self, end: float) -> None:
        if self._segment is None:
            return
        self._segment.close()
        self._segment = None
        index = self._segment_index
        poster = (index - self._first_index) % POSTER_EVERY == 1 and self._write_poster(index)
        self._on_segment(Segment(index, max(0.04, end - self._segment_start), poster))

    def _write_poster(self, index: int) -> bool:
        if self._pending_poster is None:
            return False
        try:
            frame = av.VideoFrame.from_ndarray(self._pending_poster, format="yuv420p")
            packets = self._poster.encode(frame.reformat(format="yuvj420p"))
            (self.work_dir / poster_name(index)).write_bytes(b"".join(bytes(p) for p in packets))
            return bool(packets)
        except (av.FFmpegError, OSError):
            log.warning("could not write a poster image", exc_info=True)
            return False
