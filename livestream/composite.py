"""The public picture of one hearing, drawn and encoded in its own thread at a steady frame rate.

Each tick takes the newest decoded picture of everyone on screen (layout(): judge large, others
tiled), draws the court/case banner, the clock and each person's caption, mixes one frame's worth
of everyone's sound, and hands both to the encoder. Frame numbers follow the wall clock: a tick
that comes late (a busy machine) skips numbers rather than letting the stream drift behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from livestream.canvas import BLACK, Canvas
from livestream.captions import ClockFace, Rasterizer
from livestream.clock import CourtClock
from livestream.encoder import AUDIO_RATE, Encoder, EncoderSettings
from livestream.layout import LEAD_ROLES, caption, layout
from livestream.sources import AudioSource, VideoSource, mix

log = logging.getLogger("cloudcourt.livestream")

MASKED_TEXT = "受保护的参与人"
SCREEN_CAPTION = "证据展示"  # over a shared screen (evidence), as in the recorder's archive
WAITING_TEXT = "庭审即将开始"
BANNER = 56  # pixels of banner at the top
CAPTION = 26  # pixels of caption band at the bottom of a tile
CLOCK_SIZE, CLOCK_TOP, CLOCK_RIGHT = 16, 6, 12  # the clock's font size and its place in the banner
CLOCK_GAP = 6  # pixels between the clock's label and its reading


@dataclass
class Person:
    """Someone on screen; the event loop changes these under the composite's lock."""

    key: str
    participant_id: str  # whose camera or screen it is
    name: str
    role: str
    masked: bool = False
    video: VideoSource | None = None
    audio: AudioSource | None = None
    screen: bool = False  # the screen someone shares, on screen beside their camera
    # Not in the hearing's main room (a private room, the witness room, the lobby): neither shown
    # nor heard; the public stream shows the main room only.
    away: bool = False


def arrangement(people: list[Person]) -> list[tuple[str, str]]:
    """What layout() is given: everyone by role; with a shared screen, the (first) screen large
    where the judge would be and every camera, the judge's too, beside it in join order."""
    screen = next((p for p in people if p.screen), None)
    if screen is None:
        return [(p.key, p.role) for p in people]
    return [(screen.key, LEAD_ROLES[0]), *((p.key, "") for p in people if p is not screen)]


def clock_mask(raster: Rasterizer, face: ClockFace, clock: CourtClock, epoch: float) -> np.ndarray:
    """The clock as the banner shows it at ``epoch``: its label, then the reading."""
    label, reading = clock.reading(epoch)
    text, digits = raster.mask(label, CLOCK_SIZE), face.render(reading)
    return np.hstack([text, np.zeros((face.height, CLOCK_GAP), np.uint8), digits])


def label(person: Person) -> str:
    """The caption: a masked person's name never shows, not even over their screen."""
    name = MASKED_TEXT if person.masked else person.name
    return f"{SCREEN_CAPTION} · {name}" if person.screen else caption(name, person.role)


class Composite:
    def __init__(
        self,
        banner: tuple[str, str],
        settings: EncoderSettings,
        make_encoder: Callable[[], Encoder],
        clock: CourtClock,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.lock = threading.Lock()
        self.people: dict[str, Person] = {}
        self.cpu_seconds = 0.0  # the composite thread's own CPU time, for the benchmark
        self.frames = 0
        self.failed: BaseException | None = None
        self.encoder: Encoder | None = None
        # Shown instead of anyone (and nothing heard) while set: the main room is in recess.
        self.card: str | None = None
        self._banner = banner
        self._make_encoder = make_encoder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livestream-composite", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish its segment and end (join() waits for it)."""
        self._stop.set()

    def join(self) -> None:
        self._thread.join()

    # ---------------------------------------------------------------- the thread
    def _run(self) -> None:
        started = time.thread_time()
        try:
            self._loop()
        except BaseException as exc:  # reported to the court by the broadcast
            log.exception("livestream composite failed")
            self.failed = exc
        finally:
            self.cpu_seconds = time.thread_time() - started

    def _loop(self) -> None:
        s = self.settings
        encoder = self.encoder = self._make_encoder()
        rasterizer = Rasterizer()
        clock = ClockFace(rasterizer, CLOCK_SIZE)
        canvas = Canvas(s.width, s.height)
        samples = AUDIO_RATE // s.fps
        # The first drawing rasterizes the banner and the clock's glyphs (ffmpeg runs): before the
        # clock starts, so that the stream does not begin with a jump.
        with self.lock:
            self._draw(canvas, rasterizer, clock, self._on_screen(), self.card)
        origin = time.monotonic()
        number = 0
        cpu = time.thread_time()
        try:
            while not self._stop.is_set():
                due = origin + number / s.fps
                wait = due - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break
                behind = time.monotonic() - due
                if behind > 0.5:
                    number += int(behind * s.fps)
                with self.lock:
                    people, card = self._on_screen(), self.card
                self._draw(canvas, rasterizer, clock, people, card)
                sound = mix(
                    [t for p in people if p.audio and (t := p.audio.take(samples)) is not None],
                    samples,
                )
                encoder.encode(canvas.image, sound, number)
                number += 1
                self.frames += 1
                self.cpu_seconds = time.thread_time() - cpu
        finally:
            encoder.close()

    def _on_screen(self) -> list[Person]:
        """Who is seen and heard now (under the lock): the main room's people, in a recess none."""
        if self.card is not None:
            return []
        return [p for p in self.people.values() if not p.away]

    def _draw(
        self,
        canvas: Canvas,
        raster: Rasterizer,
        clock: ClockFace,
        people: list[Person],
        card: str | None,
    ) -> None:
        s = self.settings
        canvas.fill(0, 0, s.width, s.height, BLACK)
        court_line, title_line = self._banner
        face = clock_mask(raster, clock, self.clock, time.time())
        clock_x = s.width - face.shape[1] - CLOCK_RIGHT
        canvas.text(face, clock_x, CLOCK_TOP)
        canvas.text(raster.mask(court_line, 20), 12, 4, max_width=clock_x - 24)
        canvas.text(raster.mask(title_line, 16), 12, 30, max_width=s.width - 24)
        area = s.height - BANNER
        if not people:
            mask = raster.mask(card or WAITING_TEXT, 28)
            canvas.text(mask, (s.width - mask.shape[1]) // 2, BANNER + (area - mask.shape[0]) // 2)
            return
        by_key = {p.key: p for p in people}
        for tile in layout(arrangement(people), s.width, area):
            person = by_key[tile.key]
            x, y, w, h = tile.x, tile.y + BANNER, tile.width, tile.height
            frame = None if person.masked or person.video is None else person.video.latest()
            if frame is not None:
                canvas.paste(frame, x, y, w, h)
            else:
                # Masked: never the picture, never the name. Otherwise the name stands in.
                canvas.fill(x, y, w, h, 60 if person.masked else 40)
                big = raster.mask(MASKED_TEXT if person.masked else person.name, 22)
                canvas.text(
                    big, x + max(0, (w - big.shape[1]) // 2), y + (h - big.shape[0]) // 2, w
                )
            band = min(CAPTION, h)
            canvas.shade(x, y + h - band, w, band)
            canvas.text(raster.mask(label(person), 16), x + 6, y + h - band + 2, max_width=w - 12)
