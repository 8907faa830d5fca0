"""Synthetic media whose content survives lossy coding, and readers for it.

Video: every frame carries a 32-bit word drawn as 8x4 big black/white cells over the whole frame:
16 bits frame counter, 8 bits sender id, 8 bits CRC-8 of those three bytes. VP8/H.264 at any
sensible bitrate keeps a 40x60-pixel flat cell black or white, so the word reads back exactly; a
damaged frame (first frames, a lost packet before the next keyframe, a different image) fails the
CRC or the contrast check and reads as ``None``.

Audio: each sender sends a continuous sine at its own frequency (48 kHz). ``analyze_audio`` finds
the dominant frequency of a received frame with an FFT and maps it back to the sender id.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

COLS, ROWS = 8, 4
NBITS = COLS * ROWS  # 32
VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_PTIME = 0.020

# --------------------------------------------------------------------------- pattern words


def crc8(data: bytes) -> int:
    """CRC-8/ATM (poly 0x07)."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_word(counter: int, sender: int) -> int:
    counter &= 0xFFFF
    sender &= 0xFF
    body = bytes([counter >> 8, counter & 0xFF, sender])
    return (counter << 16) | (sender << 8) | crc8(body)


def decode_word(word: int) -> tuple[int, int] | None:
    counter = (word >> 16) & 0xFFFF
    sender = (word >> 8) & 0xFF
    crc = word & 0xFF
    if crc8(bytes([counter >> 8, counter & 0xFF, sender])) != crc:
        return None
    return counter, sender


def word_bits(word: int) -> np.ndarray:
    """The 32 bits, most significant first, as a ROWS x COLS array of 0/1."""
    bits = [(word >> (NBITS - 1 - i)) & 1 for i in range(NBITS)]
    return np.array(bits, dtype=np.uint8).reshape(ROWS, COLS)


def draw_pattern(counter: int, sender: int, width: int = 320, height: int = 240) -> np.ndarray:
    """Luma plane (height x width, uint8) with the word drawn as cells (1 = white)."""
    bits = word_bits(encode_word(counter, sender))
    cell_w, cell_h = width // COLS, height // ROWS
    img = np.kron(bits, np.ones((cell_h, cell_w), dtype=np.uint8)) * 235 + 16
    img = img.astype(np.uint8)
    if img.shape != (height, width):  # sizes not divisible: pad with the last cell
        full = np.full((height, width), 16, dtype=np.uint8)
        full[: img.shape[0], : img.shape[1]] = img
        img = full
    return img


@dataclass(frozen=True)
class PatternReading:
    counter: int
    sender: int


def read_luma(luma: np.ndarray) -> PatternReading | None:
    """Read the word back from a luma plane of any size (scaled frames are fine)."""
    if luma.ndim != 2 or luma.shape[0] < ROWS * 4 or luma.shape[1] < COLS * 4:
        return None
    h, w = luma.shape
    word = 0
    for r in range(ROWS):
        y0 = int((r + 0.25) * h / ROWS)
        y1 = max(y0 + 1, int((r + 0.75) * h / ROWS))
        for c in range(COLS):
            x0 = int((c + 0.25) * w / COLS)
            x1 = max(x0 + 1, int((c + 0.75) * w / COLS))
            m = float(luma[y0:y1, x0:x1].mean())
            if 80.0 < m < 170.0:  # neither black nor white: not our pattern / damaged
                return None
            word = (word << 1) | (1 if m >= 128.0 else 0)
    decoded = decode_word(word)
    if decoded is None:
        return None
    return PatternReading(*decoded)


def frame_luma(frame: av.VideoFrame) -> np.ndarray:
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuv444p", "gray", "nv12"):
        plane = frame.planes[0]
        buf = np.frombuffer(plane, dtype=np.uint8)
        return buf.reshape(frame.height, plane.line_size)[:, : frame.width]
    return frame.to_ndarray(format="gray")


def read_pattern(frame: av.VideoFrame) -> PatternReading | None:
    """Decode (counter, sender) from a received frame, or None if it does not carry the pattern."""
    try:
        return read_luma(frame_luma(frame))
    except Exception:
        return None


# --------------------------------------------------------------------------- tones


TONE_BASE, TONE_STEP, TONE_COUNT = 500.0, 200.0, 40


def tone_for(sender: int) -> float:
    """Sender ids 1..40 get distinct tones: 500, 700, ... 8300 Hz (then the ids repeat).

    Keep the media ids of one test within 1..40, or two senders would sound alike.
    """
    return TONE_BASE + TONE_STEP * ((sender - 1) % TONE_COUNT)


def sender_for_tone(freq: float, tolerance: float = 60.0) -> int | None:
    k = round((freq - TONE_BASE) / TONE_STEP)
    if k < 0 or k >= TONE_COUNT or abs(TONE_BASE + TONE_STEP * k - freq) > tolerance:
        return None
    return k + 1


@dataclass(frozen=True)
class ToneReading:
    freq: float  # dominant frequency (Hz)
    rms: float  # 0..1 of full scale
    purity: float  # share of the energy near the peak
    sender: int | None  # sender whose tone this is, or None (silence, noise, unknown)


SILENCE_RMS = 0.01


def audio_samples(frame: av.AudioFrame) -> np.ndarray:
    """First channel as float in -1..1."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        mono = arr[0]
    else:
        mono = arr.reshape(-1, channels)[:, 0] if channels > 1 else arr.reshape(-1)
    if mono.dtype == np.int16:
        return mono.astype(np.float64) / 32768.0
    if mono.dtype == np.int32:
        return mono.astype(np.float64) / 2147483648.0
    return mono.astype(np.float64)


def analyze_samples(x: np.ndarray, sample_rate: int = AUDIO_RATE) -> ToneReading:
    n = len(x)
    rms = float(np.sqrt(np.mean(x * x))) if n else 0.0
    if n < 64 or rms < SILENCE_RMS:
        return ToneReading(0.0, rms, 0.0, None)
    spec = np.abs(np.fft.rfft(x * np.hanning(n))) ** 2
    spec[0] = 0.0
    k = int(np.argmax(spec))
    # parabolic interpolation for a sub-bin estimate
    if 0 < k < len(spec) - 1:
        a, b, c = np.log(spec[k - 1] + 1e-20), np.log(spec[k] + 1e-20), np.log(spec[k + 1] + 1e-20)
        denom = a - 2 * b + c
        delta = 0.5 * (a - c) / denom if denom != 0 else 0.0
    else:
        delta = 0.0
    freq = (k + delta) * sample_rate / n
    total = float(spec.sum()) or 1.0
    purity = float(spec[max(0, k - 3) : k + 4].sum()) / total
    sender = sender_for_tone(freq) if purity > 0.5 else None
    return ToneReading(freq, rms, purity, sender)


def analyze_audio(frame: av.AudioFrame) -> ToneReading:
    """Which tone a received audio frame carries, and how loud it is."""
    return analyze_samples(audio_samples(frame), frame.sample_rate or AUDIO_RATE)


# --------------------------------------------------------------------------- tracks


class _PacedTrack(MediaStreamTrack):
    """A synthetic track that produces its media in real time, from its first frame on."""

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None

    async def _pace(self, position: int, rate: float) -> None:
        """Fail once the track has ended; else wait until media ``position`` is due at ``rate``
        units a second (a frame counter at fps, or a sample count at the sample rate)."""
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            due = self._start + position / rate
            if due > now:
                await asyncio.sleep(due - now)


class PatternVideoTrack(_PacedTrack):
    """Video track drawing the counter/sender pattern, paced at ``fps``."""

    kind = "video"

    def __init__(self, sender: int, width: int = 320, height: int = 240, fps: int = 15):
        super().__init__()
        self.sender = sender
        self.width, self.height, self.fps = width, height, fps
        self.counter = 0
        self._chroma = np.full((height // 2, width), 128, dtype=np.uint8)

    async def recv(self) -> av.VideoFrame:
        await self._pace(self.counter, self.fps)
        luma = draw_pattern(self.counter, self.sender, self.width, self.height)
        frame = av.VideoFrame.from_ndarray(np.vstack([luma, self._chroma]), format="yuv420p")
        frame.pts = int(self.counter * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.counter += 1
        return frame


class ToneAudioTrack(_PacedTrack):
    """Audio track playing a continuous sine at ``tone_for(sender)`` (or ``freq``), 48 kHz mono."""

    kind = "audio"

    def __init__(self, sender: int, freq: float | None = None, amplitude: float = 0.3):
        super().__init__()
        self.sender = sender
        self.freq = freq if freq is not None else tone_for(sender)
        self.amplitude = amplitude
        self.samples = int(AUDIO_RATE * AUDIO_PTIME)
        self._sent = 0

    async def recv(self) -> av.AudioFrame:
        await self._pace(self._sent, AUDIO_RATE)
        t = (np.arange(self.samples) + self._sent) / AUDIO_RATE
        x = (self.amplitude * 32767 * np.sin(2 * math.pi * self.freq * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._sent += self.samples
        return frame
