"""What an SFU worker is told at start."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

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

    def to_wire(self) -> dict[str, Any]:
        """JSON-able form for `worker.configure` (a worker process is told its config over its
        channel)."""
        wire = asdict(self)
        wire["ice_servers"] = [
            {"urls": s.urls, "username": s.username, "credential": s.credential}
            for s in self.ice_servers
        ]
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> SfuConfig:
        """The inverse of `to_wire`; unknown fields are refused (a control plane newer than its
        worker would otherwise be silently ignored)."""
        known = {f.name for f in fields(cls)}
        unknown = set(wire) - known
        if unknown:
            raise ValueError(f"unknown SFU config fields: {sorted(unknown)}")
        values = dict(wire)
        values["ice_servers"] = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in wire.get("ice_servers", [])
        ]
        return cls(**values)
