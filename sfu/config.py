"""What an SFU worker is told at start."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiortc import RTCIceServer


@dataclass
class SfuConfig:
    # No ICE server unless configured: aiortc would otherwise fall back to a public STUN server.
    ice_servers: list[RTCIceServer] = field(default_factory=list)
    # Offer only 127.0.0.1 host candidates (tests, benchmarks, a single-machine demo).
    ice_loopback: bool = False
    # Bitrate the SFU asks video publishers for (REMB); a fixed value keeps aiortc encoders from
    # rebuilding themselves (a keyframe each time) on every estimate change.
    max_video_bitrate: int = 1_500_000
    # At most one keyframe request per publication per this many seconds.
    pli_interval: float = 0.3
    # A waiting subscriber re-asks for a keyframe after this long.
    pli_retry: float = 1.0
    video_cache_packets: int = 1024
    audio_cache_packets: int = 128
    # A publisher that sent media and then nothing for this long is considered gone.
    media_timeout: float = 15.0
    # Tracks one peer may publish at once (camera + screen share + a document camera).
    max_tracks: dict[str, int] = field(default_factory=lambda: {"audio": 2, "video": 3})
    # Datagrams a peer connection may hold between ICE and DTLS (aioice's queue): nothing reads
    # it before DTLS starts, and once it runs it empties the queue at every turn of the event
    # loop, which reads at most 64 per socket.
    ice_queue_packets: int = 256
    speaker_interval: float = 0.5
    # Levels above this (in -dBov, 127 = silence) do not count as speech.
    speaker_threshold: int = 60
