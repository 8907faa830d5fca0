"""Recorder pieces on real coded media: H.264 from libx264 cut into RTP as WebRTC senders do
(single NAL units, STAP-A for the parameter sets, FU-A for large slices), reordered and partly
lost on the way, rebuilt into frames and written to a segment that decodes. And one hearing's
recording on real files: pause, resume and stop racing each other, a caller that gives up."""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from benchmarks.recorder import ClipSource, audio_clip
from recorder.manifest import check_chain
from recorder.recording import SYSTEM, HearingRecording, RecordingError
from recorder.segments import Segment, container_for, recover
from recorder.service import RECORDINGS
from recorder.timeline import MONO_TO_WALL, PublisherClock, TrackTimeline
from recorder.verify import verify
from sfu.config import SfuConfig
from sfu.depacketize import Frame, H264Depacketizer, sps_size
from sfu.publication import Counters, Publication
from sfu.reorder import ReorderBuffer
from sfu.rtp import parse
from sfu.tap import Tap, TapInfo
from tests.e2e import eventually

MTU = 1000


def h264_frames(count: int = 30) -> list[bytes]:
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = 320, 180, "yuv420p"
    enc.time_base = Fraction(1, 30)
    enc.options = {"preset": "ultrafast", "tune": "zerolatency", "g": "10"}
    out = []
    for i in range(count):
        noise = np.random.default_rng(i).integers(0, 255, (180, 320, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(noise, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in enc.encode(frame)]
    return out


def nal_units(annex_b: bytes) -> list[bytes]:
    return [n.lstrip(b"\x00") for n in annex_b.split(b"\x00\x00\x01") if n.strip(b"\x00")]


def packetize(frame: bytes, seq: int, timestamp: int) -> list[bytes]:
    nals = nal_units(frame)
    small = [n for n in nals if n[0] & 0x1F in (7, 8)]
    payloads = []
    if small:
        payloads.append(b"\x18" + b"".join(struct.pack("!H", len(n)) + n for n in small))
    for nal in (n for n in nals if n not in small):
        if len(nal) <= MTU:
            payloads.append(nal)
            continue
        indicator, kind, body = (nal[0] & 0xE0) | 28, nal[0] & 0x1F, nal[1:]
        chunks = [body[i : i + MTU] for i in range(0, len(body), MTU)]
        for i, chunk in enumerate(chunks):
            flags = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
            payloads.append(bytes((indicator, flags | kind)) + chunk)
    packets = []
    for i, payload in enumerate(payloads):
        marker = 0x80 if i == len(payloads) - 1 else 0
        header = struct.pack("!BBHII", 0x80, marker | 102, (seq + i) & 0xFFFF, timestamp, 1234)
        packets.append(header + payload)
    return packets


def test_h264_survives_reordering_loses_only_the_broken_frame_and_decodes_from_a_segment(tmp_path):
    coded = h264_frames()
    packets = []
    seq = 65500  # wraps during the stream
    for i, frame in enumerate(coded):
        got = packetize(frame, seq, i * 3000)
        seq += len(got)
        packets.append(got)
    wire = [p for frame in packets for p in frame]
    wire[5], wire[6] = wire[6], wire[5]  # swapped neighbours: must be put back
    lost = packets[20][0]  # the first packet of frame 20: that frame cannot be used
    wire.remove(lost)

    reorder, dep = ReorderBuffer(), H264Depacketizer()
    frames: list[Frame] = []
    for n, data in enumerate(wire):
        for packet, arrival, gap in reorder.push(parse(data), n * 0.001):
            if gap:
                dep.lost()
            frame = dep.push(packet, arrival)
            if frame is not None:
                frames.append(frame)
    assert [f.timestamp // 3000 for f in frames] == [i for i in range(30) if i != 20]
    assert frames[0].keyframe and frames[0].size == (320, 180)
    assert sps_size(dep.sps) == (320, 180)

    segment = Segment(tmp_path, 1, container_for("video/H264"), (320, 180))
    for frame in frames:
        segment.write(frame, frame.timestamp // 90)
    info = segment.seal(33)
    assert info["frames"] == 29 and info["keyframe_start"]
    with av.open(str(tmp_path / "000001.mkv")) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded >= 20  # frames after the lost one until the next keyframe may not decode


def test_a_torn_segment_is_recovered_up_to_its_last_readable_frame(tmp_path):
    coded = h264_frames(20)
    dep = H264Depacketizer()
    segment = Segment(tmp_path, 7, container_for("video/H264"), (320, 180))
    for i, frame in enumerate(coded):
        for data in packetize(frame, i * 50, i * 3000):
            got = dep.push(parse(data), 0.0)
            if got is not None:
                segment.write(got, i * 33)
    segment._out.close()  # written, but never sealed: what a crash leaves
    part = tmp_path / "000007.mkv.part"
    data = part.read_bytes()
    part.write_bytes(data[: len(data) * 2 // 3])  # and torn off
    info = recover(part)
    assert info is not None and info["recovered"] and 5 <= info["frames"] < 20
    assert not part.exists() and (tmp_path / "000007.mkv").exists()


def test_a_drifting_publisher_clock_is_followed_for_three_hours_and_lips_stay_on_the_voice():
    """A publisher whose clock runs 100 ppm fast (1.08 s over 3 h), reports delayed by a jittery
    network: frames stay where they were captured on our clock, audio with its video."""
    rng = np.random.default_rng(7)
    ppm, min_delay = 100e-6, 0.020
    ntp_base = (3_900_000_000 << 32) + 12345  # the publisher's NTP clock: not ours
    clock = PublisherClock()
    audio, video = TrackTimeline(48000, clock), TrackTimeline(90000, clock)
    bases = {audio: 0xFFFF0000, video: 0x7FFFFFF0}  # random RTP bases; audio wraps early on

    def sender(true: float) -> float:  # the publisher's clock at our time ``true``
        return true * (1 + ppm)

    def rtp(track: TrackTimeline, true: float) -> int:
        return (bases[track] + round(sender(true) * track.rate)) & 0xFFFFFFFF

    def delay() -> float:
        return min_delay + rng.exponential(0.015) + (0.2 if rng.random() < 0.02 else 0.0)

    mono0 = 1000.0  # time.monotonic() at our time 0
    worst_sync = worst_place = 0.0
    for second in range(3 * 3600):
        for track in (audio, video):
            sent = sender(second)
            ntp = ntp_base + round(sent * 2**32)
            track.sender_report(ntp, rtp(track, second), mono0 + second + delay())
        captured = second + 0.5
        walls = [
            track.wall(rtp(track, captured), mono0 + captured + delay()) - MONO_TO_WALL - mono0
            for track in (audio, video)
        ]
        worst_sync = max(worst_sync, abs(walls[0] - walls[1]))
        if second >= 60:  # after the first minute of reports
            worst_place = max(worst_place, abs(walls[0] - captured - min_delay))
    assert worst_sync <= 0.004, worst_sync
    assert worst_place <= 0.015, worst_place


JUDGE = {"actor": "Judge Li", "actor_role": "judge"}


async def _recording(data_dir: Path) -> HearingRecording:
    recording = HearingRecording("h_units", data_dir / RECORDINGS / "h_units", lambda *_: None)
    await recording.begin(SYSTEM)
    return recording


def _types(recording: HearingRecording) -> list[str]:
    return [json.loads(line)["type"] for line in recording.manifest.path.read_bytes().splitlines()]


def _verified(data_dir: Path) -> None:
    verdict = verify(data_dir, "h_units")
    assert verdict.ok, verdict.lines


async def test_a_pause_asked_once_the_stop_began_is_a_conflict_and_the_stop_stays_last(tmp_path):
    recording = await _recording(tmp_path)
    stopped, paused = await asyncio.gather(
        recording.stop("stop", "hearing ended"),
        recording.set_paused(True, JUDGE, "recess"),
        return_exceptions=True,
    )
    assert stopped is True
    assert isinstance(paused, RecordingError) and paused.code == "conflict", repr(paused)
    assert _types(recording) == ["start", "stop"]
    assert recording.state == "stopped"
    _verified(tmp_path)


async def test_pauses_asked_before_the_stop_are_written_before_it_in_order(tmp_path):
    recording = await _recording(tmp_path)
    done = await asyncio.gather(
        recording.set_paused(True, JUDGE, "recess"),
        recording.set_paused(False, JUDGE, "back in session"),
        recording.set_paused(False, JUDGE, "back in session"),  # the loser: already running
        recording.stop("stop", "hearing ended"),
        return_exceptions=True,
    )
    assert [e["type"] for e in done[:2]] == ["pause", "resume"], done
    assert isinstance(done[2], RecordingError) and done[2].code == "conflict", repr(done[2])
    assert done[3] is True
    assert _types(recording) == ["start", "pause", "resume", "stop"]
    _verified(tmp_path)


async def test_a_caller_cancelled_while_its_pause_is_written_leaves_state_and_record_agreeing(
    tmp_path,
):
    """The pause entry is on disk when its caller is cancelled (a client that hung up): the
    recording is paused, as its record says, and the next resume is taken."""
    recording = await _recording(tmp_path)
    written, go = threading.Event(), threading.Event()
    count = recording.manifest.on_entry
    assert count is not None

    def held(entry: dict) -> None:  # the disk thread, just after the pause is fsynced
        count(entry)
        if entry["type"] == "pause":
            written.set()
            go.wait(10)

    recording.manifest.on_entry = held
    pausing = asyncio.create_task(recording.set_paused(True, JUDGE, "recess"))
    try:
        assert await asyncio.to_thread(written.wait, 10)
        pausing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pausing
    finally:
        go.set()
    resumed = await recording.set_paused(False, JUDGE, "back in session")
    assert resumed["type"] == "resume" and recording.state == "recording"
    assert await recording.stop("stop", "hearing ended")
    assert _types(recording) == ["start", "pause", "resume", "stop"]
    _verified(tmp_path)


def _damage(manifest: Path) -> None:
    with open(manifest, "ab") as f:
        f.write(b"damage\n")


def _tap(publication_id: str) -> Tap:
    """An audio publication's tap, as the SFU makes it for the recorder."""
    publication = Publication(
        publication_id=publication_id,
        peer_id=f"PA_{publication_id}",
        kind="audio",
        codec="audio/opus",
        clock_rate=48000,
        extension_ids={},
        mid="0",
        config=SfuConfig(),
        counters=Counters(),
        send_upstream=lambda _: True,
        rtcp_ssrc=1,
    )
    tap = Tap(publication)
    publication.add_tap(tap)
    return tap


async def test_a_track_added_while_a_new_chain_names_the_tracks_neither_breaks_it_nor_is_lost(
    tmp_path,
):
    """The manifest is damaged; the pause that finds it starts a new chain, which names every
    track again on the disk thread. A publication tapped on the event loop at that very moment
    must not break that (a dict changed during its iteration) nor lose the pause."""
    recording = await _recording(tmp_path)
    party = {"id": "PA_1", "name": "张三", "role": "party"}
    recording.add_track(party, _tap("TR_1"))
    await recording._on_disk(lambda: None)  # its track entry is written
    naming, go = threading.Event(), threading.Event()
    count = recording._count

    def held(entry: dict) -> None:  # the disk thread, naming the tracks in the new chain
        count(entry)
        if entry["type"] == "track" and entry.get("continued"):
            naming.set()
            go.wait(10)

    recording._count = held  # type: ignore[method-assign]
    _damage(recording.manifest.path)
    pausing = asyncio.create_task(recording.set_paused(True, JUDGE, "recess"))
    try:
        assert await asyncio.to_thread(naming.wait, 10)
        recording.add_track({**party, "id": "PA_2"}, _tap("TR_2"), "microphone")
    finally:
        go.set()
    assert (await pausing)["type"] == "pause"
    assert await recording.stop("stop", "hearing ended")
    chain = check_chain(recording.manifest.path)
    assert chain.error is None and recording.manifest.path.name == "manifest-2.jsonl"
    assert [(e["type"], e.get("track")) for e in chain.entries] == [
        ("start", None),
        ("track", "t01-audio"),
        ("pause", None),
        ("track", "t02-audio"),
        ("stop", None),
    ]


async def test_a_lost_media_worker_is_a_restart_with_its_gap_before_the_media_made_again(
    tmp_path,
):
    """The worker carrying the hearing dies at +1.5 s: the party's first track ends; they
    publish again from +3 s, as a new track. The record says, just before the new track's first
    segment, that the media worker was lost and for how long (`restart`, cause media_worker)."""
    recording = await _recording(tmp_path)
    party = {"id": "PA_1", "name": "张三", "role": "party"}
    start = recording.epoch - MONO_TO_WALL  # the recording's time 0 on the monotonic clock
    info = TapInfo("TR_1", "PA_1", "audio", "audio/opus", 48000, 111)
    clip = audio_clip(1.2)
    first = ClipSource(info, clip, start + 0.2)
    recording.add_track(party, first)
    recording.media_lost(recording.epoch + 1.5, "killed by signal 9")
    again = TapInfo("TR_2", "PA_1", "audio", "audio/opus", 48000, 111)
    second = ClipSource(again, clip, start + 3.0)
    recording.add_track(party, second, "microphone")
    await eventually(
        lambda: all(s.position == len(s.entries) for s in (first, second)), 10, "both read"
    )
    assert await recording.stop("stop", "hearing ended")
    entries = check_chain(recording.manifest.path).entries
    restart = next(e for e in entries if e["type"] == "restart")
    first_new = next(e for e in entries if e["type"] == "segment" and e["track"] == "t02-audio")
    assert entries.index(restart) < entries.index(first_new)
    old_end = max(e["end_ms"] for e in entries if e.get("track") == "t01-audio" and "end_ms" in e)
    assert restart["cause"] == "media_worker"
    assert restart["reason"] == "media worker lost (killed by signal 9); participants reconnected"
    assert restart["gap"]["from_ms"] == old_end <= 1500 <= restart["gap"]["to_ms"]
    assert restart["gap"]["to_ms"] == first_new["start_ms"]
    assert restart["recovered_segments"] == 0
    _verified(tmp_path)


async def test_a_room_change_is_written_with_who_moved_whom(tmp_path):
    recording = await _recording(tmp_path)
    change = {
        "at": recording.epoch + 1,
        "by": "p_judge",
        "participant": "p_witness",
        "from": "main",
        "to": "witness",
        "action": "move",
        "room": {"id": "witness", "name": "证人室\udc80", "kind": "witness"},
    }
    recording.note_room(change)
    assert await recording.stop("stop", "hearing ended")
    room = next(e for e in check_chain(recording.manifest.path).entries if e["type"] == "room")
    assert (room["actor"], room["participant"], room["from"], room["to"]) == (
        "p_judge",
        "p_witness",
        "main",
        "witness",
    )
    assert room["room"]["name"] == "证人室\\udc80"  # kept visibly, not lost
    _verified(tmp_path)
