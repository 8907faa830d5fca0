"""Recorder cost: tracks recorded per CPU-second, and composite archive speed (× real time).

    python -m benchmarks.recorder [--people 4] [--seconds 20] [--out DIR]

A pre-encoded clip (VP8 640×480 30 fps ~1 Mbit/s + Opus 48 kHz stereo, as a browser sends) is cut
into RTP packets once, with aiortc's own packetizers. Each of `--people` publishers then feeds
one video and one audio track into a real `HearingRecording` (the recorder's code path after the
tap: reorder, depacketize, timeline, segment muxing, sealing with fsync, hash-chained manifest)
as fast as it can be consumed. CPU is read with getrusage (this process, all threads) around the
run, so the figure is recorder CPU per second of recorded media. Then the composite archive of
those tracks is built (ffmpeg, 1280×720, veryfast, 2 threads) and timed against its duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder

from recorder import archive
from recorder.manifest import Manifest
from recorder.recording import HearingRecording
from recorder.summary import summarize
from recorder.timeline import MONO_TO_WALL
from sfu.rtp import parse
from sfu.tap import TapEntry, TapInfo

FPS = 30


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rtp(payloads: list[bytes], seq: int, timestamp: int, pt: int, ssrc: int) -> list[bytes]:
    out = []
    for i, payload in enumerate(payloads):
        marker = 0x80 if i == len(payloads) - 1 else 0
        header = bytes((0x80, marker | pt)) + (seq + i & 0xFFFF).to_bytes(2, "big")
        out.append(header + (timestamp & 0xFFFFFFFF).to_bytes(4, "big") + ssrc.to_bytes(4, "big"))
        out[-1] += payload
    return out


def video_clip(seconds: float) -> list[tuple[float, bytes]]:
    """(media time, RTP packet) of a VP8 clip: moving noise blocks, so frames are not tiny."""
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = 640, 480, "yuv420p"
    enc.time_base = Fraction(1, FPS)
    enc.bit_rate = 1_000_000
    enc.options = {"deadline": "realtime", "cpu-used": "8", "g": "150"}
    pack = Vp8Encoder()
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    packets: list[tuple[float, bytes]] = []
    seq = 0
    for i in range(int(seconds * FPS)):
        image = np.roll(base, i * 4, axis=1)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for coded in enc.encode(frame):
            payloads, timestamp = pack.pack(coded)
            for data in _rtp(payloads, seq, timestamp, 96, 1111):
                packets.append((i / FPS, data))
            seq += len(payloads)
    return packets


def audio_clip(seconds: float) -> list[tuple[float, bytes]]:
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48000, "stereo", "s16"
    enc.time_base = Fraction(1, 48000)
    pack = OpusEncoder()
    packets: list[tuple[float, bytes]] = []
    seq = 0
    for i in range(int(seconds * 50)):
        t = np.arange(960) + i * 960
        tone = (np.sin(2 * np.pi * 440 * t / 48000) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.stack([tone, tone]).T.reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts = 48000, i * 960
        for coded in enc.encode(frame):
            payloads, timestamp = pack.pack(coded)
            packets += [(i / 50, d) for d in _rtp(payloads, seq, timestamp, 111, 2222)]
            seq += 1
    return packets


class ClipSource:
    """A MediaSource replaying packets with arrival times as if they came at real rate."""

    def __init__(self, info: TapInfo, packets: list[tuple[float, bytes]], start: float) -> None:
        self.info = info
        self.entries = [TapEntry(start + t, parse(data)) for t, data in packets]
        self.position = 0

    async def get(self) -> TapEntry | None:
        if self.position >= len(self.entries):
            return None
        entry = self.entries[self.position]
        self.position += 1
        if self.position % 64 == 0:
            await asyncio.sleep(0)  # let the other tracks run, as a real loop would
        return entry

    def request_keyframe(self) -> None:
        pass

    def close(self) -> None:
        self.position = len(self.entries)


async def record(
    directory: Path,
    people: int,
    video: list[tuple[float, bytes]],
    audio: list[tuple[float, bytes]],
    seconds: float,
) -> dict[str, Any]:
    recording = HearingRecording("h_bench", directory, lambda *a: print("alarm", a))
    await recording.begin({"actor": "system"})
    start = recording.epoch - MONO_TO_WALL  # arrivals on the monotonic clock, from time 0
    roles = ["judge", "party", "agent", "witness", "mediator", "site", "party", "party"]
    for n in range(people):
        who = {"id": f"p_{n}", "name": f"参与人{n + 1}", "role": roles[n % len(roles)]}
        for kind, codec, rate, pt, clip in (
            ("video", "video/VP8", 90000, 96, video),
            ("audio", "audio/opus", 48000, 111, audio),
        ):
            info = TapInfo(f"pub{n}{kind}", f"peer{n}", kind, codec, rate, pt)
            recording.add_track(who, ClipSource(info, clip, start))
    cpu, wall = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*recording._tasks)
    await recording.stop("stop", "benchmark over")
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    tracks = 2 * people
    return {
        "tracks": tracks,
        "media_seconds_per_track": seconds,
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(wall, 3),
        # Track-seconds recorded per CPU-second = tracks one core keeps up with at real time.
        "tracks_per_cpu_second": round(tracks * seconds / cpu, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.recorder", description=__doc__)
    p.add_argument("--people", type=int, default=4, help="publishers (video + audio each)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the recorded clip")
    p.add_argument("--width", type=int, default=archive.WIDTH)
    p.add_argument("--height", type=int, default=archive.HEIGHT)
    p.add_argument("--out", type=Path, help="keep the recording (and archive) here")
    p.add_argument("--json", type=Path, help="write the figures as JSON")
    args = p.parse_args(argv)

    video, audio = video_clip(args.seconds), audio_clip(args.seconds)
    workdir = Path(tempfile.mkdtemp(prefix="recorder-bench-"))
    directory = (args.out or workdir) / "h_bench"
    shutil.rmtree(directory, ignore_errors=True)
    try:
        result = asyncio.run(record(directory, args.people, video, audio, args.seconds))
        summary = summarize(Manifest(directory).load())
        result["recorded_megabytes"] = round(
            sum(t["bytes"] for t in summary["tracks"].values()) / 1e6, 1
        )
        result["segments"] = sum(len(t["segments"]) for t in summary["tracks"].values())
        started = time.perf_counter()
        archive.build(directory, summary, lambda _: None, width=args.width, height=args.height)
        took = time.perf_counter() - started
        duration = summary["duration_ms"] / 1000
        result["composite"] = {
            "people": args.people,
            "size": f"{args.width}x{args.height}",
            "duration_seconds": round(duration, 2),
            "build_seconds": round(took, 2),
            "times_real_time": round(duration / took, 2),
        }
    finally:
        if args.out is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
