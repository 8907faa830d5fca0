"""RTP header parsing and rewriting, and keyframe detection, on hand-built packets."""

from __future__ import annotations

import struct

import pytest

from sfu import rtp


def packet(
    payload: bytes,
    *,
    seq: int = 1000,
    ts: int = 90000,
    ssrc: int = 0x11223344,
    pt: int = 96,
    marker: bool = True,
    extensions: list[tuple[int, bytes]] | None = None,
    padding: int = 0,
) -> bytes:
    block = rtp.build_extensions(extensions or [])
    b0 = 0x80 | (0x10 if block else 0) | (0x20 if padding else 0)
    b1 = (0x80 if marker else 0) | pt
    tail = (b"\x00" * (padding - 1) + bytes((padding,))) if padding else b""
    return struct.pack("!BBHII", b0, b1, seq, ts, ssrc) + block + payload + tail


def test_parse_reads_header_extensions_and_payload() -> None:
    data = packet(b"hello", extensions=[(1, b"0"), (3, b"\x01\x02\x03")])
    parsed = rtp.parse(data)
    assert (parsed.seq, parsed.timestamp, parsed.ssrc, parsed.payload_type) == (
        1000,
        90000,
        0x11223344,
        96,
    )
    assert parsed.marker
    assert parsed.extensions == {1: b"0", 3: b"\x01\x02\x03"}
    assert data[parsed.payload_offset :] == b"hello"


def test_rewrite_changes_only_what_a_subscriber_needs() -> None:
    data = packet(b"payload", extensions=[(2, b"\x85")], padding=4)
    parsed = rtp.parse(data)
    block = rtp.build_extensions([(5, b"\x85"), (1, b"7")])
    out = rtp.parse(rtp.rewrite(parsed, 111, 7, 1234, 0xCAFEBABE, block))
    assert (out.payload_type, out.seq, out.timestamp, out.ssrc) == (111, 7, 1234, 0xCAFEBABE)
    assert out.marker and out.padding == 4
    assert out.extensions == {5: b"\x85", 1: b"7"}
    assert out.data[out.payload_offset : len(out.data) - out.padding] == b"payload"


def test_two_byte_extensions_round_trip() -> None:
    long_value = bytes(range(20))  # too long for the one-byte form
    parsed = rtp.parse(packet(b"x", extensions=[(1, long_value), (20, b"a")]))
    assert parsed.extensions == {1: long_value, 20: b"a"}


@pytest.mark.parametrize(
    "data",
    [b"", b"\x80" * 11, b"\x40" + b"\x00" * 20, b"\x90" + packet(b"")[1:12] + b"\xbe\xde\x00\x09"],
)
def test_malformed_packets_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        rtp.parse(data)


def vp8(keyframe: bool, start: bool = True, picture_id: bool = True) -> bytes:
    descriptor = bytes((0x90 if start else 0x80, 0x80)) + (b"\x81\x23" if picture_id else b"")
    if not picture_id:
        descriptor = bytes((0x10 if start else 0x00,))
    return descriptor + bytes((0x00 if keyframe else 0x01,)) + b"\x00" * 10


def test_vp8_keyframe_detection() -> None:
    assert rtp.is_keyframe_start("video/vp8", vp8(True))
    assert rtp.is_keyframe_start("video/vp8", vp8(True, picture_id=False))
    assert not rtp.is_keyframe_start("video/vp8", vp8(False))
    assert not rtp.is_keyframe_start("video/vp8", vp8(True, start=False))


def test_h264_keyframe_detection() -> None:
    sps, pps, idr, non_idr = b"\x67\x42", b"\x68\xce", b"\x65\x88", b"\x41\x9a"
    stap = b"\x18" + struct.pack("!H", 2) + sps + struct.pack("!H", 2) + pps
    assert rtp.is_keyframe_start("video/h264", stap)
    assert rtp.is_keyframe_start("video/h264", sps + b"\x00")
    assert rtp.is_keyframe_start("video/h264", idr)
    assert rtp.is_keyframe_start("video/h264", b"\x7c\x85\x00")  # FU-A start of an IDR
    assert not rtp.is_keyframe_start("video/h264", b"\x7c\x05\x00")  # FU-A middle
    assert not rtp.is_keyframe_start("video/h264", non_idr)
    assert not rtp.is_keyframe_start("audio/opus", idr)


def with_extension_block(profile: int, body: bytes, payload: bytes) -> bytes:
    """A packet whose extension block is `body` exactly (padded to words), however malformed."""
    body += b"\x00" * (-len(body) % 4)
    header = struct.pack("!BBHII", 0x90, 96, 1, 2, 3)
    return header + struct.pack("!HH", profile, len(body) // 4) + body + payload


@pytest.mark.parametrize(
    ("profile", "body"),
    [
        # id 1 claims 16 bytes; the block holds 3 after the element's header byte.
        (rtp.ONE_BYTE_PROFILE, bytes((0x1F, 0xAA, 0xBB, 0xCC))),
        # a good element, then id 2 claiming 16 bytes in a block with 1 left.
        (rtp.ONE_BYTE_PROFILE, bytes((0x10, 0x31, 0x00, 0x2F))),
        # two-byte form: id 7 claims 200 bytes of a 4-byte block.
        (rtp.TWO_BYTE_PROFILE, bytes((0x07, 200, 0xAA, 0xBB))),
    ],
)
def test_an_element_longer_than_its_block_never_reads_the_payload(
    profile: int, body: bytes
) -> None:
    payload = b"PAYLOAD-" * 40
    data = with_extension_block(profile, body, payload)
    parsed = rtp.parse(data)
    block = data[16 : parsed.payload_offset]
    assert data[parsed.payload_offset :] == payload
    for value in parsed.extensions.values():
        assert value in block and not set(value) & set(b"PAYLOAD-")
    # Parsing stops at the element that overruns: what came before it is kept.
    assert parsed.extensions == ({1: b"1"} if body[0] == 0x10 else {})


def test_a_one_byte_element_with_id_0_and_a_length_ends_the_block() -> None:
    # RFC 8285 §4.2: id 0 is a padding byte only with L=0; libwebrtc stops parsing otherwise.
    data = with_extension_block(rtp.ONE_BYTE_PROFILE, bytes((0x10, 0x41, 0x03, 0x20, 0x42)), b"x")
    assert rtp.parse(data).extensions == {1: b"A"}


def test_padding_with_a_zero_count_is_refused() -> None:
    # RFC 3550 §5.1: the last padding octet counts the padding, itself included, so 0 is no count.
    with pytest.raises(ValueError):
        rtp.parse(b"\xa0" + packet(b"payload\x00")[1:])
