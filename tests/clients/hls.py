"""An HLS reader as a player (or a test) sees a public stream: playlists over HTTP (a master
playlist is followed to one of its variants), parsed by the m3u8 package, segments decoded with
PyAV."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import aiohttp
import av
import m3u8
import numpy as np


@dataclass
class Playlist:
    status: int
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    segments: list[tuple[str, float]] = field(default_factory=list)  # (uri, duration)
    ended: bool = False
    media_sequence: int = 0
    master: str | None = None  # the master playlist's text, if the URL gave one
    variants: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (uri, attributes)

    @property
    def duration(self) -> float:
        return sum(d for _, d in self.segments)


def _strict(text: str) -> m3u8.M3U8:
    # Strict: a line the m3u8 package does not know as HLS fails the test that reads it.
    return m3u8.M3U8(text, strict=True)


def parse_playlist(text: str) -> tuple[list[tuple[str, float]], bool, int]:
    """A media playlist as (segments as (uri, duration), ended, media sequence), read by the
    m3u8 package: an independent parser checks the hand-written writer (livestream/playlist.py)."""
    parsed = _strict(text)
    assert not parsed.is_variant, "a master playlist where a media playlist was expected"
    for segment in parsed.segments:
        assert segment.duration is not None, f"segment {segment.uri} without #EXTINF"
    segments = [(str(s.uri), float(s.duration)) for s in parsed.segments]
    return segments, bool(parsed.is_endlist), int(parsed.media_sequence or 0)


def parse_master(text: str) -> list[tuple[str, dict[str, str]]]:
    """The variants of a master playlist as (uri, #EXT-X-STREAM-INF attributes as written, e.g.
    ``RESOLUTION``); [] if it is a media playlist."""
    parsed = _strict(text)
    return [
        (
            variant["uri"],
            {k.upper().replace("_", "-"): str(v) for k, v in variant["stream_info"].items()},
        )
        for variant in parsed.data.get("playlists", [])
    ]


async def fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as s,
        s.get(url) as r,
    ):
        return r.status, await r.read(), dict(r.headers)


async def playlist(url: str, variant: int = 0) -> Playlist:
    """The media playlist at ``url``; from a master playlist, its ``variant``-th (0: the best)."""
    status, body, headers = await fetch(url)
    if status != 200:
        return Playlist(status, headers=headers)
    text = body.decode()
    variants = parse_master(text)
    if variants:
        media = await playlist(segment_url(url, variants[variant][0]))
        media.master, media.variants = text, variants
        return media
    segments, ended, sequence = parse_playlist(text)
    return Playlist(status, text, headers, segments, ended, sequence)


def segment_url(playlist_url: str, uri: str) -> str:
    return playlist_url.rsplit("/", 1)[0] + "/" + uri


@dataclass
class Decoded:
    video: list[np.ndarray]  # luma planes
    audio_samples: int
    video_codec: str | None
    audio_codec: str | None
    width: int = 0
    height: int = 0
    first_time: float | None = None  # seconds, of the first and last picture
    last_time: float | None = None

    def span(self, fps: float) -> float:
        """How long the pictures last on screen (gaps included)."""
        if self.first_time is None or self.last_time is None:
            return 0.0
        return self.last_time - self.first_time + 1 / fps


def decode_segment(data: bytes) -> Decoded:
    """Every picture (its luma plane) and the number of audio samples in one segment."""
    with av.open(io.BytesIO(data), format="mpegts") as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        out = Decoded(
            [],
            0,
            video.codec_context.name if video else None,
            audio.codec_context.name if audio else None,
        )
        streams = [s for s in (video, audio) if s is not None]
        for packet in container.demux(*streams):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    out.width, out.height = frame.width, frame.height
                    out.video.append(frame.to_ndarray(format="gray"))
                    if out.first_time is None:
                        out.first_time = frame.time
                    out.last_time = frame.time
                else:
                    out.audio_samples += frame.samples
    return out
