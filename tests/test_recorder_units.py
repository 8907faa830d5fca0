"""Recorder pieces on real coded media: H.264 from libx264 cut into RTP as WebRTC senders do
(single NAL units, STAP-A for the parameter sets, FU-A for large slices), reordered and partly
lost on the way, rebuilt into frames and written to a segment that decodes."""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import numpy as np

from recorder.segments import Segment, container_for, recover
from sfu.depacketize import Frame, H264Depacketizer, sps_size
from sfu.reorder import ReorderBuffer
from sfu.rtp import parse

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
