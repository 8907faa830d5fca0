"""Active speaker: the loudest unmuted audio publication, from RFC 6464 audio levels."""

from __future__ import annotations

from collections.abc import Iterable

from sfu.publication import Publication

# Audio whose last packet is older than this no longer counts as speaking.
STALE_AFTER = 1.0


class ActiveSpeaker:
    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.current: str | None = None
        self.level = 127

    def update(self, publications: Iterable[Publication], now: float) -> bool:
        """Pick the loudest speaker; True when it changed (a new speaker, or silence)."""
        loudest: Publication | None = None
        for publication in publications:
            if (
                publication.kind != "audio"
                or publication.muted
                or now - publication.last_packet_at > STALE_AFTER
                or publication.audio_level > self.threshold
            ):
                continue
            if loudest is None or publication.audio_level < loudest.audio_level:
                loudest = publication
        speaker = loudest.peer_id if loudest is not None else None
        self.level = int(loudest.audio_level) if loudest is not None else 127
        if speaker == self.current:
            return False
        self.current = speaker
        return True
