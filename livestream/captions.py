"""Chinese captions as alpha masks, rasterized once by ffmpeg's drawtext and then only blended.

PyAV's FFmpeg has no drawtext filter; the ffmpeg binary of the imageio-ffmpeg wheel has it, with
freetype. Texts change only when people come and go, so one short ffmpeg run per new batch of
texts is cheap (~30 ms) and the per-frame cost is a numpy blend. The clock is drawn from a glyph
atlas rendered the same way, so the running second needs no ffmpeg run at all.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import ffmpeg
import imageio_ffmpeg
import numpy as np

from livestream.layout import draw_text

CLOCK_GLYPHS = "0123456789-: "


class Rasterizer:
    def __init__(self) -> None:
        self._ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    def masks(self, texts: list[str], size: int) -> list[np.ndarray]:
        """One alpha mask (uint8, height ≈ 1.4 × size, width of the text) per text."""
        missing = sorted({t for t in texts if (t, size) not in self._cache})
        if missing:
            for text, mask in zip(missing, self._render(missing, size), strict=True):
                self._cache[(text, size)] = mask
        return [self._cache[(t, size)] for t in texts]

    def mask(self, text: str, size: int) -> np.ndarray:
        return self.masks([text], size)[0]

    def _render(self, texts: list[str], size: int) -> list[np.ndarray]:
        row = int(size * 1.4) // 2 * 2
        width = (max(len(t) for t in texts) + 2) * size // 2 * 2 + 16
        height = row * len(texts)
        with tempfile.TemporaryDirectory(prefix="captions-") as tmp:
            picture = ffmpeg.input(f"color=c=black:s={width}x{height}:d=1", f="lavfi").video
            for i, text in enumerate(texts):
                picture = draw_text(
                    picture,
                    text,
                    Path(tmp) / f"{i}.txt",
                    fontcolor="white",
                    fontsize=size,
                    x=4,
                    y=i * row,
                    y_align="font",
                )
            command = (
                ffmpeg.output(picture, "pipe:", f="rawvideo", pix_fmt="gray", frames=1)
                .global_args("-v", "error")
                .compile(cmd=self._ffmpeg)
            )
            raw = subprocess.run(command, capture_output=True, check=True, timeout=20).stdout
        image = np.frombuffer(raw, dtype=np.uint8).reshape(height, width)
        masks = []
        for i in range(len(texts)):
            band = image[i * row : (i + 1) * row]
            used = np.flatnonzero(band.max(axis=0))
            if not used.size:  # a space
                masks.append(np.zeros((row, size // 3), np.uint8))
                continue
            left, right = max(0, int(used[0]) - 1), int(used[-1]) + 2
            masks.append(np.ascontiguousarray(band[:, left:right]))
        return masks


class ClockFace:
    """Draws "2026-11-22 09:30:05" from per-glyph masks."""

    def __init__(self, rasterizer: Rasterizer, size: int) -> None:
        glyphs = rasterizer.masks(list(CLOCK_GLYPHS), size)
        self.height = glyphs[0].shape[0]
        # Equal advance for every digit keeps the clock from jittering as it runs.
        advance = max(g.shape[1] for g in glyphs[:10]) + 1
        self._glyphs = {}
        for char, glyph in zip(CLOCK_GLYPHS, glyphs, strict=True):
            cell = np.zeros((self.height, advance if char.isdigit() else glyph.shape[1]), np.uint8)
            cell[:, : min(glyph.shape[1], cell.shape[1])] = glyph[:, : cell.shape[1]]
            self._glyphs[char] = cell

    def render(self, text: str) -> np.ndarray:
        return np.hstack([self._glyphs[c] for c in text if c in self._glyphs])
