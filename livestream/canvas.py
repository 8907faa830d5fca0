"""A YUV 4:2:0 picture the composite draws on, in numpy.

Drawing straight in the encoder's pixel format skips two colour conversions per frame (the
sidecar shares 2 cores with the SFU). Every x, y, width and height is even (layout() makes them
so) so that a rectangle covers whole chroma samples.
"""

from __future__ import annotations

import av
import numpy as np

BLACK = 16
NEUTRAL = 128  # chroma of any grey


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.image = np.empty((height * 3 // 2, width), np.uint8)
        self.y = self.image[:height]
        # Planar U then V, each (height/2 × width/2), viewed out of the same buffer.
        chroma = self.image[height:].reshape(2, height // 2, width // 2)
        self.u, self.v = chroma[0], chroma[1]

    def fill(
        self, x: int, y: int, w: int, h: int, luma: int, u: int = NEUTRAL, v: int = NEUTRAL
    ) -> None:
        self.y[y : y + h, x : x + w] = luma
        self.u[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = u
        self.v[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = v

    def paste(self, frame: av.VideoFrame, x: int, y: int, w: int, h: int) -> None:
        """``frame`` scaled to fit the rectangle, its aspect kept, centred on black."""
        scale = min(w / frame.width, h / frame.height)
        fw, fh = (
            max(2, int(frame.width * scale) // 2 * 2),
            max(2, int(frame.height * scale) // 2 * 2),
        )
        if (fw, fh) != (w, h):
            self.fill(x, y, w, h, BLACK)
        fx, fy = x + (w - fw) // 2 // 2 * 2, y + (h - fh) // 2 // 2 * 2
        planes = frame.reformat(width=fw, height=fh, format="yuv420p").to_ndarray()
        self.y[fy : fy + fh, fx : fx + fw] = planes[:fh]
        chroma = planes[fh:].reshape(2, fh // 2, fw // 2)
        self.u[fy // 2 : (fy + fh) // 2, fx // 2 : (fx + fw) // 2] = chroma[0]
        self.v[fy // 2 : (fy + fh) // 2, fx // 2 : (fx + fw) // 2] = chroma[1]

    def shade(self, x: int, y: int, w: int, h: int) -> None:
        """Darken a band so white text on it reads on any picture."""
        band = self.y[y : y + h, x : x + w]
        band[...] = (band >> 2) + 12
        self.u[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = NEUTRAL
        self.v[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = NEUTRAL

    def text(self, mask: np.ndarray, x: int, y: int, max_width: int | None = None) -> None:
        """White text from an alpha mask, clipped to the canvas (and to ``max_width``)."""
        h = min(mask.shape[0], self.height - y)
        w = min(mask.shape[1], self.width - x, max_width or mask.shape[1])
        if h <= 0 or w <= 0:
            return
        alpha = mask[:h, :w].astype(np.uint16)
        region = self.y[y : y + h, x : x + w]
        region[...] = (region * (255 - alpha) + 235 * alpha) // 255
