"""One person's decoded picture and sound, fed with encoded frames from the event loop and read by
the composite thread.

The event loop only appends to a deque (thread-safe, never blocks); all decoding happens in the
composite thread, where PyAV releases the GIL, so the SFU's forwarding loop does not pay for it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import cast

import av
import numpy as np

from sfu.depacketize import Frame

log = logging.getLogger("cloudcourt.livestream")

AUDIO_RATE = 48_000
# A source whose sound piles up (a burst after a stall) is cut back to this much, so the public
# audio does not drift behind the picture for the rest of the hearing.
MAX_AUDIO_BACKLOG = AUDIO_RATE * 3 // 10
# After running dry, wait for this much before playing again: one network hiccup then costs one
# short gap instead of a crackle of tiny ones.
AUDIO_PREBUFFER = AUDIO_RATE * 6 // 100

_DECODERS = {"video/vp8": "vp8", "video/h264": "h264", "audio/opus": "opus"}


def decoder_for(codec: str) -> av.codec.context.CodecContext:
    name = _DECODERS.get(codec.lower())
    if name is None:
        raise ValueError(f"the livestream cannot decode {codec}")
    return av.CodecContext.create(name, "r")


class VideoSource:
    def __init__(self, codec: str, request_keyframe: Callable[[], None]) -> None:
        self._decoder = cast(av.VideoCodecContext, decoder_for(codec))
        self._request_keyframe = request_keyframe
        self._incoming: deque[Frame] = deque(maxlen=120)
        self.frame: av.VideoFrame | None = None
        self.muted = False

    def feed(self, frame: Frame) -> None:
        self._incoming.append(frame)

    def latest(self) -> av.VideoFrame | None:
        """Decode everything that arrived; the newest picture (None while muted or before the
        first keyframe)."""
        while self._incoming:
            encoded = self._incoming.popleft()
            try:
                for frame in self._decoder.decode(av.Packet(encoded.data)):
                    self.frame = frame
            except av.FFmpegError:
                log.debug("video decode error; asking for a keyframe", exc_info=True)
                self._request_keyframe()
        return None if self.muted else self.frame


class AudioSource:
    def __init__(self, codec: str) -> None:
        self._decoder = cast(av.AudioCodecContext, decoder_for(codec))
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        self._incoming: deque[Frame] = deque(maxlen=500)
        self._buffer = np.zeros(0, np.int16)
        self._playing = False

    def feed(self, frame: Frame) -> None:
        self._incoming.append(frame)

    def take(self, count: int) -> np.ndarray | None:
        """The next ``count`` samples (mono s16, 48 kHz), or None when there is nothing to play."""
        chunks: list[np.ndarray] = [self._buffer]
        while self._incoming:
            encoded = self._incoming.popleft()
            try:
                for frame in self._decoder.decode(av.Packet(encoded.data)):
                    for out in self._resampler.resample(frame):
                        chunks.append(out.to_ndarray().reshape(-1))
            except av.FFmpegError:
                log.debug("audio decode error", exc_info=True)
        buffer = np.concatenate(chunks) if len(chunks) > 1 else self._buffer
        if buffer.size > MAX_AUDIO_BACKLOG + count:
            buffer = buffer[-(MAX_AUDIO_BACKLOG + count) :]
        if not self._playing and buffer.size < AUDIO_PREBUFFER + count:
            self._buffer = buffer
            return None
        self._playing = buffer.size >= count
        taken = buffer[:count]
        self._buffer = buffer[count:]
        if taken.size < count:
            taken = np.concatenate([taken, np.zeros(count - taken.size, np.int16)])
        return taken


def mix(tracks: list[np.ndarray], count: int) -> np.ndarray:
    """Sum of the tracks as float32 in [-1, 1] (what the AAC encoder takes)."""
    if not tracks:
        return np.zeros(count, np.float32)
    total = np.sum([t.astype(np.int32) for t in tracks], axis=0)
    mixed: np.ndarray = np.clip(total, -32768, 32767).astype(np.float32) / 32768.0
    return mixed
