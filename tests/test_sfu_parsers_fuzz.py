"""Every parser a remote peer reaches, fed random and mutated packets (hypothesis).

A publisher controls every byte of its RTP and RTCP; a subscriber every byte of its RTCP. Each
parser must either parse within the bounds of its input or refuse in its documented way
(`ValueError` from `rtp.parse`/`rtcp.parse`, None from a depacketizer), never raise anything else,
and never hand back bytes that were not in what it was given. The inputs are valid packets built
here (RTP with one- and two-byte extensions, compound RTCP, VP8, H.264 single/STAP-A/FU-A, Opus)
and the same packets mutated: bytes flipped, cut short, grown, reordered, lost.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from itertools import pairwise

from aiortc.rtp import RtcpByePacket, RtcpSdesPacket, RtcpSourceInfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfu import rtcp, rtp
from sfu.depacketize import (
    START_CODE,
    Depacketizer,
    Frame,
    H264Depacketizer,
    OpusDepacketizer,
    Vp8Depacketizer,
)
from sfu.reorder import ReorderBuffer
from tests.test_rtp import packet

# Bounded for a loaded 2-core machine: the whole file runs in well under a minute.
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODECS = ("video/vp8", "video/h264", "audio/opus")

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    """A valid packet with a few bytes flipped, cut short, or grown."""
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(("flip", "cut", "grow", "set")))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.sampled_from((0, 0xFF, 0x0F)))
        elif op == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif op == "grow":
            data[draw(st.integers(0, len(data))) : 0] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def fuzzed(valid: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(valid, mutated(valid), st.binary(max_size=80))


# -- RTP and its header extensions --------------------------------------------------------------

one_byte_elements = st.lists(st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)))
two_byte_elements = st.lists(
    st.tuples(st.integers(1, 255), st.binary(max_size=40)), min_size=1, max_size=4
)


@st.composite
def rtp_packets(draw: st.DrawFn, payload: st.SearchStrategy[bytes] | None = None) -> bytes:
    return packet(
        draw(payload if payload is not None else st.binary(max_size=60)),
        seq=draw(u16),
        ts=draw(u32),
        ssrc=draw(u32),
        pt=draw(st.integers(96, 127)),
        marker=draw(st.booleans()),
        extensions=draw(st.one_of(one_byte_elements, two_byte_elements)),
        padding=draw(st.integers(0, 12)),
    )


@st.composite
def raw_extension_blocks(draw: st.DrawFn) -> bytes:
    """Any bytes at all as the elements of a well-framed extension block, then a payload."""
    profile = draw(st.sampled_from((rtp.ONE_BYTE_PROFILE, rtp.TWO_BYTE_PROFILE, 0x1234)))
    words = draw(st.integers(0, 6))
    elements = draw(st.binary(min_size=4 * words, max_size=4 * words))
    return (
        rtp.HEADER.pack(0x90, 96, draw(u16), draw(u32), draw(u32))
        + rtp.EXT_HEADER.pack(profile, words)
        + elements
        + draw(st.binary(max_size=40))
    )


def extension_block(data: bytes) -> bytes:
    """The block's element bytes, found from the header alone (not by the parser under test)."""
    start = 12 + 4 * (data[0] & 0x0F)
    (words,) = struct.unpack_from("!H", data, start + 2)
    return data[start + 4 : start + 4 + 4 * words]


@FUZZ
@given(st.one_of(fuzzed(rtp_packets()), raw_extension_blocks()))
def test_rtp_parse_stays_inside_the_packet_and_its_extension_block(data: bytes) -> None:
    try:
        parsed = rtp.parse(data)
    except ValueError:
        return
    assert 12 <= parsed.payload_offset <= len(data) - parsed.padding
    if data[0] & 0x10:
        block = extension_block(data)
        assert parsed.payload_offset == 12 + 4 * (data[0] & 0x0F) + 4 + len(block)
        element_header = 1 if data[12 + 4 * (data[0] & 0x0F)] == 0xBE else 2
        for value in parsed.extensions.values():
            assert value in block
        # Each element's header and value fit in the block: none ran on into the payload.
        assert sum(element_header + len(v) for v in parsed.extensions.values()) <= len(block)
    else:
        assert parsed.extensions == {}
    payload = data[parsed.payload_offset :]
    for codec in CODECS:
        assert rtp.is_keyframe_start(codec, payload) in (True, False)
    # What a subscriber gets: the same payload and padding behind a rebuilt header.
    block_out = rtp.build_extensions(list(parsed.extensions.items()))
    out = rtp.parse(rtp.rewrite(parsed, 100, 1, 2, 3, block_out))
    assert out.extensions == parsed.extensions
    assert out.data[out.payload_offset :] == payload and out.padding == parsed.padding


# -- RTCP ---------------------------------------------------------------------------------------


@st.composite
def rtcp_compounds(draw: st.DrawFn) -> bytes:
    ssrc, media = draw(u32), draw(u32)
    parts = {
        "sr": rtcp.sender_report(ssrc, draw(st.integers(0, 2**64 - 1)), draw(u32), 10, 1000, "c"),
        "rr": rtcp.receiver_report(
            ssrc,
            [
                rtcp.RtcpReceiverInfo(
                    ssrc=media,
                    fraction_lost=draw(u8),
                    packets_lost=draw(st.integers(0, 0x7FFFFF)),
                    highest_sequence=draw(u32),
                    jitter=draw(u32),
                    lsr=draw(u32),
                    dlsr=draw(u32),
                )
            ],
        ),
        "nack": rtcp.nack(ssrc, media, draw(st.lists(u16, min_size=1, max_size=20))),
        "pli": rtcp.pli(ssrc, media),
        "remb": rtcp.remb(ssrc, draw(st.integers(0, 2**40)), draw(st.lists(u32, max_size=4))),
        "sdes": bytes(
            RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=ssrc, items=[(1, draw(st.binary()))])])
        ),
        "bye": bytes(RtcpByePacket(sources=draw(st.lists(u32, max_size=3)))),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(parts)), min_size=1, max_size=5))
    return b"".join(parts[name] for name in chosen)


def byte_fields(value: object) -> Iterable[bytes]:
    """Every bytes value inside a parsed RTCP packet (fci, SDES items, BYE reason...)."""
    if isinstance(value, bytes):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from byte_fields(item)
    elif hasattr(value, "__dict__"):
        for item in vars(value).values():
            yield from byte_fields(item)


@FUZZ
@given(fuzzed(rtcp_compounds()))
def test_rtcp_parse_refuses_with_value_error_or_returns_slices_of_its_input(data: bytes) -> None:
    try:
        packets = rtcp.parse(data)
    except ValueError:
        return
    for parsed in packets:
        for value in byte_fields(parsed):
            assert value in data
        if isinstance(parsed, rtcp.RtcpRtpfbPacket):
            assert all(0 <= seq <= 0xFFFF for seq in parsed.lost)


# -- depacketizers ------------------------------------------------------------------------------


def incoming(data: list[bytes]) -> list[rtp.Incoming]:
    out = []
    for item in data:
        try:
            out.append(rtp.parse(item))
        except ValueError:
            continue
    return out


@st.composite
def packet_runs(draw: st.DrawFn, frames: st.SearchStrategy[list[list[bytes]]]) -> list[bytes]:
    """Frames (each a list of payloads) as RTP packets, then lost, swapped and mutated."""
    packets = []
    seq, ts = draw(u16), draw(u32)
    for payloads in draw(frames):
        for i, payload in enumerate(payloads):
            packets.append(
                packet(payload, seq=seq, ts=ts, marker=i == len(payloads) - 1, extensions=[])
            )
            seq = (seq + 1) & 0xFFFF
        ts = (ts + 3000) & 0xFFFFFFFF
    if draw(st.booleans()):
        return packets
    for _ in range(draw(st.integers(1, 4))):
        if not packets:
            break
        i = draw(st.integers(0, len(packets) - 1))
        op = draw(st.sampled_from(("lose", "swap", "mutate")))
        if op == "lose":
            del packets[i]
        elif op == "swap" and i + 1 < len(packets):
            packets[i], packets[i + 1] = packets[i + 1], packets[i]
        else:
            packets[i] = draw(mutated(st.just(packets[i])))
    return packets


def push_all(
    depacketizer: Depacketizer, packets: list[rtp.Incoming]
) -> list[tuple[Frame, list[bytes]]]:
    """Each frame that came out, with the payloads of the packets it was joined from (those since
    the last marker or change of timestamp, where every depacketizer starts a frame)."""
    frames = []
    run: list[bytes] = []
    for i, item in enumerate(packets):
        if i and (packets[i - 1].seq + 1) & 0xFFFF != item.seq:
            depacketizer.lost()
        if i and (packets[i - 1].marker or packets[i - 1].timestamp != item.timestamp):
            run = []
        run.append(payload_of(item))
        frame = depacketizer.push(item, float(i))
        assert frame is None or isinstance(frame, Frame)
        if frame is not None:
            assert frame.timestamp == item.timestamp and frame.arrival <= i
            assert frame.data
            frames.append((frame, run))
    return frames


def payload_of(item: rtp.Incoming) -> bytes:
    return item.data[item.payload_offset : len(item.data) - item.padding]


@st.composite
def vp8_frames(draw: st.DrawFn) -> list[list[bytes]]:
    frames = []
    for _ in range(draw(st.integers(1, 4))):
        keyframe = draw(st.booleans())
        body = draw(st.binary(min_size=3, max_size=60))
        if keyframe:  # RFC 6386 §9.1: tag with P=0, start code, 14-bit width and height
            body = b"\x00" + body[1:3] + b"\x9d\x01\x2a" + struct.pack("<HH", 320, 180) + body
        else:
            body = bytes((body[0] | 0x01,)) + body[1:]
        size = draw(st.integers(1, 30))
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        descriptor_ext = draw(
            st.sampled_from((b"", b"\x80\x05", b"\x80\x81\x23", b"\xe0\x05\x01\x20"))
        )
        payloads = []
        for i, chunk in enumerate(chunks):
            first = (0x10 if i == 0 else 0) | (0x80 if descriptor_ext else 0)
            payloads.append(bytes((first,)) + descriptor_ext + chunk)
        frames.append(payloads)
    return frames


def frame_is_suffixes(data: bytes, payloads: list[bytes]) -> bool:
    """Is `data` made of one suffix of each payload, in order (a descriptor stripped from each)?"""
    ends = {0}
    for payload in payloads:
        ends = {
            end + n
            for end in ends
            for n in range(len(payload) + 1)
            if data[end : end + n] == payload[len(payload) - n :]
        }
    return len(data) in ends


@FUZZ
@given(packet_runs(vp8_frames()))
def test_vp8_frames_are_their_packets_without_descriptors(data: list[bytes]) -> None:
    packets = incoming(data)
    for frame, run in push_all(Vp8Depacketizer(), packets):
        assert frame_is_suffixes(frame.data, run)
        if frame.keyframe:
            assert frame.size is not None


@st.composite
def nal_units(draw: st.DrawFn, kind: int) -> bytes:
    return bytes((0x60 | kind,)) + draw(st.binary(min_size=1, max_size=50))


@st.composite
def h264_frames(draw: st.DrawFn) -> list[list[bytes]]:
    """Frames as a WebRTC sender cuts them: parameter sets in a STAP-A, big NALs in FU-As."""
    frames = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            small = [draw(nal_units(7)), draw(nal_units(8))]
            nals = [draw(nal_units(5))]
        else:
            small, nals = [], [draw(nal_units(draw(st.sampled_from((1, 6)))))]
        mtu = draw(st.integers(8, 64))
        payloads = []
        if small:
            payloads.append(b"\x18" + b"".join(struct.pack("!H", len(n)) + n for n in small))
        for nal in nals:
            if len(nal) <= mtu:
                payloads.append(nal)
                continue
            chunks = [nal[i : i + mtu] for i in range(1, len(nal), mtu)]
            for i, chunk in enumerate(chunks):
                flags = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
                payloads.append(bytes(((nal[0] & 0xE0) | 28, flags | nal[0] & 0x1F)) + chunk)
        frames.append(payloads)
    return frames


def h264_sources(payloads: list[bytes]) -> list[bytes]:
    """What a NAL of the output may be a piece of: a payload, or an FU-A reassembly."""
    sources = list(payloads)
    fragments = [p for p in payloads if len(p) >= 2 and p[0] & 0x1F == 28]
    for i, start in enumerate(fragments):
        header = bytes(((start[0] & 0xE0) | (start[1] & 0x1F),))
        sources.append(header + b"".join(f[2:] for f in fragments[i:]))
    return sources


@FUZZ
@given(packet_runs(h264_frames()))
def test_h264_frames_hold_only_nal_units_from_their_packets(data: list[bytes]) -> None:
    packets = incoming(data)
    sources = h264_sources([payload_of(p) for p in packets])
    for frame, _ in push_all(H264Depacketizer(), packets):
        assert frame.data.startswith(START_CODE)
        # Splitting at every start code can only cut a NAL into pieces, never join two.
        for piece in frame.data.split(START_CODE)[1:]:
            assert any(piece in source for source in sources)


@FUZZ
@given(packet_runs(st.lists(st.lists(st.binary(max_size=40), min_size=1, max_size=1))))
def test_opus_frames_are_whole_payloads(data: list[bytes]) -> None:
    packets = incoming(data)
    frames = push_all(OpusDepacketizer(), packets)
    assert [f.data for f, _ in frames] == [payload_of(p) for p in packets if payload_of(p)]


# -- the reorder buffer -------------------------------------------------------------------------


@st.composite
def sequence_numbers(draw: st.DrawFn) -> list[int]:
    """Mostly in order, with swaps, duplicates, gaps, wraps and jumps."""
    seq = draw(u16)
    out = []
    for _ in range(draw(st.integers(1, 120))):
        step = draw(st.sampled_from((1, 1, 1, 1, 0, 2, 3, -1, -2, 40, 0x7FFF, 0x8000, 0x9000)))
        seq = (seq + step) & 0xFFFF
        out.append(seq)
    return out


@FUZZ
@given(sequence_numbers(), st.lists(st.floats(0, 0.3), min_size=1))
def test_the_reorder_buffer_releases_each_packet_once_in_order_or_says_it_lost(
    seqs: list[int], waits: list[float]
) -> None:
    buffer = ReorderBuffer(max_held=16, max_wait=0.1)
    pushed = [rtp.parse(packet(b"x", seq=s)) for s in seqs]
    released: list[tuple[rtp.Incoming, float, bool]] = []
    now = 0.0
    for i, item in enumerate(pushed):
        now += waits[i % len(waits)]
        released += buffer.push(item, now)
        assert len(buffer._held) <= buffer.max_held
        if i % 7 == 0:
            released += buffer.flush(now)
    released += buffer.flush(now + 1.0)
    assert not buffer._held
    ids = [id(p) for p, _, _ in released]
    assert len(ids) == len(set(ids)) and set(ids) <= {id(p) for p in pushed}
    for (before, _, _), (after, _, lost) in pairwise(released):
        if not lost:
            assert after.seq == (before.seq + 1) & 0xFFFF
    assert buffer.lost >= 0
