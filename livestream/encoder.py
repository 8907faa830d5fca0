"""Encode the composite (H.264 in every rendition, AAC once) and cut it into MPEG-TS segments at
keyframes.

The encoders live in a template container that is never written to; each segment (one file per
rendition, the same second of the hearing) is its own small MPEG-TS file whose streams are
copies of the template's, so a segment starts with its own
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
from typing import Any

import av
import numpy as np
from av.video.frame import PictureType

log = logging.getLogger("cloudcourt.livestream")

AUDIO_RATE = 48_000
POSTER_EVERY = 10  # segments


@dataclass(frozen=True)
class Rendition:
    """One picture size of the stream; each is a variant of the master playlist."""

    name: str  # its media playlist is {name}.m3u8
    width: int
    height: int
    video_bitrate: int
    # Forced rather than left to x264 so that the master playlist can name the codec exactly.
    level: int  # H.264 level × 10
    suffix: str  # of its segment files: seg000123{suffix}.ts

    @property
    def codecs(self) -> str:
        """RFC 6381 codecs of a segment: H.264 High profile at ``level``, AAC-LC."""
        return f"avc1.6400{self.level:02x},mp4a.40.2"


HIGH = Rendition("high", 854, 480, 900_000, 30, "")
# For weak phones and poor networks; scaled once from the composed picture (measured: +21 to
# +28 % CPU per hearing, docs/LIVESTREAM.md).
LOW = Rendition("low", 426, 240, 250_000, 21, "-low")


@dataclass(frozen=True)
class EncoderSettings:
    renditions: tuple[Rendition, ...] = (HIGH, LOW)  # the first is what the composite draws
    fps: int = 25
    audio_bitrate: int = 64_000
    preset: str = "veryfast"

    @property
    def width(self) -> int:
        return self.renditions[0].width

    @property
    def height(self) -> int:
        return self.renditions[0].height


@dataclass(frozen=True)
class Segment:
    index: int
    duration: float  # seconds
    poster: bool  # a poster candidate was written beside it


def segment_name(index: int, rendition: Rendition = HIGH) -> str:
    return f"seg{index:06d}{rendition.suffix}.ts"


def poster_name(index: int) -> str:
    return f"seg{index:06d}.jpg"


class _Output:
    """One rendition's video encoder (in the template) and the segment file being written."""

    def __init__(self, template: av.container.OutputContainer, r: Rendition, s: EncoderSettings):
        self.rendition = r
        video = template.add_stream("libx264", rate=s.fps)
        video.width, video.height, video.pix_fmt = r.width, r.height, "yuv420p"
        video.bit_rate = r.video_bitrate
        video.codec_context.gop_size = s.fps
        # One keyframe a second and no others: segments cut at keyframes come out ~1 s long, and
        # every rendition's keyframes fall on the same frames, so they cut alike. encode() forces
        # them by the frames' time; keyint (which counts frames) only bounds that.
        video.codec_context.options = {
            "preset": s.preset,
            "tune": "zerolatency",
            "profile": "high",
            "x264-params": f"keyint={s.fps}:min-keyint={s.fps}:scenecut=0:level={r.level / 10}",
        }
        self.video = video
        self.segment: av.container.OutputContainer | None = None
        self.streams: dict[str, av.stream.Stream] = {}


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
        self._template = av.open(io.BytesIO(), "w", format="mpegts")
        self._outputs = [_Output(self._template, r, settings) for r in settings.renditions]
        audio = self._template.add_stream("aac", rate=AUDIO_RATE)
        audio.codec_context.layout = "mono"
        audio.bit_rate = settings.audio_bitrate
        self._template.start_encoding()
        self._audio = audio
        fps = settings.fps
        self._samples_per_frame = AUDIO_RATE // fps
        self._poster = av.CodecContext.create("mjpeg", "w")
        self._poster.width, self._poster.height = settings.width, settings.height
        self._poster.pix_fmt = "yuvj420p"
        self._poster.time_base = Fraction(1, fps)
        self._open = False
        self._segment_index = 0
        self._segment_start = 0.0
        self._last_video = 0.0
        self._pending_poster: np.ndarray | None = None
        self._next_keyframe = 0  # the frame number from which the next picture is a keyframe

    @property
    def current_index(self) -> int:
        """The segment being written now (or the last one written)."""
        return self._next_index - 1

    def encode(self, image: np.ndarray, samples: np.ndarray, number: int) -> None:
        """Frame ``number`` (its time is number / fps): a yuv420p image and its float32 sound."""
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts, frame.time_base = number, Fraction(1, self.settings.fps)
        fps = self.settings.fps
        if number >= self._next_keyframe:
            # By time, not by count: a busy machine skips frame numbers, and fps frames would
            # then make segments of several seconds.
            frame.pict_type = PictureType.I
            self._next_keyframe = (number // fps + 1) * fps
        self._pending_poster = image
        for output in self._outputs:
            r = output.rendition
            if (r.width, r.height) == (frame.width, frame.height):
                picture = frame
            else:
                picture = frame.reformat(width=r.width, height=r.height)
                picture.pts, picture.time_base = frame.pts, frame.time_base
                picture.pict_type = frame.pict_type
            for packet in output.video.encode(picture):
                self._mux(packet, output)
        sound = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
        sound.sample_rate = AUDIO_RATE
        sound.pts, sound.time_base = number * self._samples_per_frame, Fraction(1, AUDIO_RATE)
        for packet in self._audio.encode(sound):
            self._mux(packet, None)

    def close(self) -> None:
        """Flush the encoders and hand over the last segment."""
        try:
            for output in self._outputs:
                for packet in output.video.encode(None):
                    self._mux(packet, output)
            for packet in self._audio.encode(None):
                self._mux(packet, None)
        finally:
            self._close_segment(self._last_video + 1 / self.settings.fps)
            self._template.close()

    def _mux(self, packet: av.Packet[Any], output: _Output | None) -> None:
        """A video packet of ``output``'s rendition, or (None) a sound packet for all of them."""
        if packet.pts is None:
            return
        if output is self._outputs[0]:
            # The first rendition decides the cuts; the others' keyframe of the same frame is
            # encoded right after it and lands in the new segments.
            at = float(packet.pts * packet.time_base)
            if packet.is_keyframe and (not self._open or at - self._segment_start >= 0.5):
                self._close_segment(at)
                self._open_segment(at)
            self._last_video = at
        if not self._open:
            return  # sound from before the first picture
        for target in self._outputs if output is None else (output,):
            assert target.segment is not None
            packet.stream = target.streams["audio" if output is None else "video"]
            target.segment.mux(packet)

    def _open_segment(self, at: float) -> None:
        index = self._next_index
        self._next_index += 1
        for output in self._outputs:
            name = segment_name(index, output.rendition)
            segment = av.open(str(self.work_dir / name), "w", format="mpegts")
            output.streams = {
                "video": segment.add_stream_from_template(output.video),
                "audio": segment.add_stream_from_template(self._audio),
            }
            output.segment = segment
        self._open, self._segment_index, self._segment_start = True, index, at

    def _close_segment(self, end: float) -> None:
        if not self._open:
            return
        for output in self._outputs:
            if output.segment is not None:
                output.segment.close()
                output.segment = None
        self._open = False
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
