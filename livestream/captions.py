"""Chinese captions as alpha masks, rasterized once with FreeType (Pillow) and then only blended.

Texts change only when people come and go, so each text is drawn once per size, in the CJK font
livestream/layout.py finds, and the per-frame cost is a numpy blend. The clock is drawn from a
glyph atlas rendered the same way, so the running second costs no rasterizing at all.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from livestream.layout import cjk_font, one_line

CLOCK_GLYPHS = "0123456789-: "


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(cjk_font()), size)


class Rasterizer:
    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    def masks(self, texts: list[str], size: int) -> list[np.ndarray]:
        """One alpha mask (uint8, height ≈ 1.4 × size, width of the text) per text."""
        for text in texts:
            if (text, size) not in self._cache:
                self._cache[(text, size)] = self._render(text, size)
        return [self._cache[(t, size)] for t in texts]

    def mask(self, text: str, size: int) -> np.ndarray:
        return self.masks([text], size)[0]

    def _render(self, text: str, size: int) -> np.ndarray:
        # Names are data: one line (a line break or a control character shows as a space, a lone
        # surrogate as U+FFFD), drawn as written, never read as markup.
        shown = one_line(text)
        font = _font(size)
        row = int(size * 1.4) // 2 * 2
        width = math.ceil(font.getlength(shown)) + 8
        image = Image.new("L", (width, row), 0)
        # Anchored at the ascender: every caption of one size shares its baseline.
        ImageDraw.Draw(image).text((4, 0), shown, fill=255, font=font, anchor="la")
        band = np.asarray(image, dtype=np.uint8)
        used = np.flatnonzero(band.max(axis=0))
        if not used.size:  # a space
            return np.zeros((row, size // 3), np.uint8)
        left, right = max(0, int(used[0]) - 1), int(used[-1]) + 2
        return np.ascontiguousarray(band[:, left:right])


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
