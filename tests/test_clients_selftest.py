"""The test harness itself: patterns and tones survive real codecs and real aiortc/ffmpeg peers.

No Cloud Court server here: if these fail, an end-to-end failure says nothing about the server.
"""

from __future__ import annotations

import asyncio
import fractions
import socket

import av
import numpy as np
import pytest
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.clients.ffmpeg_whip import FfmpegWhip, ffmpeg_encoders, tail, whip_muxer_help
from tests.clients.loopback import enable_loopback_candidates, new_peer_connection
from tests.clients.media import (
    PatternVideoTrack,
    ToneAudioTrack,
    analyze_samples,
    audio_samples,
    decode_word,
    draw_pattern,
    encode_word,
    read_luma,
    read_pattern,
    tone_for,
)
from tests.clients.participant import prefer_codec
from tests.clients.receiver import MediaSink


def test_word_roundtrip_and_crc():
    for counter in (0, 1, 255, 256, 4095, 65535):
        for sender in (1, 7, 200, 255):
            assert decode_word(encode_word(counter, sender)) == (counter, sender)
            r = read_luma(draw_pattern(counter, sender))
            assert (r.counter, r.sender) == (counter, sender)
    # a single flipped bit is caught
    w = encode_word(1234, 5)
    assert all(decode_word(w ^ (1 << b)) is None for b in range(32))
    # not-a-pattern reads as None
    assert read_luma(np.full((240, 320), 128, np.uint8)) is None
    rng = np.random.default_rng(1)
    assert read_luma(rng.integers(0, 256, (240, 320)).astype(np.uint8)) is None
    # scaled frames still read
    big = np.kron(draw_pattern(77, 9), np.ones((2, 2), np.uint8))
    assert read_luma(big) is not None and read_luma(big).counter == 77


@pytest.mark.parametrize("encoder,decoder", [("libvpx", "vp8"), ("libx264", "h264")])
def test_pattern_survives_lossy_video_coding(encoder, decoder):
    enc = av.CodecContext.create(encoder, "w")
    enc.width, enc.height, enc.pix_fmt = 320, 240, "yuv420p"
    enc.time_base = fractions.Fraction(1, 15)
    enc.bit_rate = 100_000  # low on purpose
    if encoder == "libx264":
        enc.options = {"preset": "ultrafast", "tune": "zerolatency"}
    dec = av.CodecContext.create(decoder, "r")
    chroma = np.full((120, 320), 128, np.uint8)
    read = []
    for i in range(45):
        frame = av.VideoFrame.from_ndarray(np.vstack([draw_pattern(i, 42), chroma]), "yuv420p")
        frame.pts = i
        for packet in enc.encode(frame):
            for out in dec.decode(packet):
                r = read_pattern(out)
                read.append(None if r is None else (r.counter, r.sender))
    assert len(read) >= 40
    assert all(r is not None and r[1] == 42 for r in read), read
    assert [r[0] for r in read] == sorted(r[0] for r in read)


async def test_tone_survives_opus_and_is_told_apart():
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48000, "stereo", "s16"
    dec = av.CodecContext.create("opus", "r")
    for sender in (1, 2, 21, 40):  # lowest, neighbours, highest tone
        track = ToneAudioTrack(sender)
        track._start = -1e9  # no pacing in this unit test
        readings = []
        for i in range(25):
            f = await track.recv()
            x = (audio_samples(f) * 32767).astype(np.int16)
            st = av.AudioFrame.from_ndarray(np.repeat(x, 2).reshape(1, -1), "s16", "stereo")
            st.sample_rate, st.pts = 48000, i * 960
            for p in enc.encode(st):
                for d in dec.decode(p):
                    readings.append(analyze_samples(audio_samples(d)))
        tail_readings = readings[5:]
        assert all(r.sender == sender for r in tail_readings), (sender, tail_readings[:3])
        assert all(abs(r.freq - tone_for(sender)) < 30 for r in tail_readings)
    silence = analyze_samples(np.zeros(960))
    assert silence.sender is None and silence.rms < 0.01


@pytest.mark.timeout(60)
@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_aiortc_peer_to_peer_on_loopback(codec):
    """Our tracks → aiortc sender → 127.0.0.1 → aiortc receiver → MediaSink reads sender 5."""
    enable_loopback_candidates()
    a = new_peer_connection()
    b = new_peer_connection()
    sink = MediaSink("b")
    b.on("track", lambda t: sink.add_track(t))
    try:
        a.addTransceiver(ToneAudioTrack(5), direction="sendonly")
        prefer_codec(a.addTransceiver(PatternVideoTrack(5), direction="sendonly"), codec)
        await a.setLocalDescription(await a.createOffer())
        assert "127.0.0.1" in a.localDescription.sdp
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        st = await sink.wait_video_from(5, min_frames=20, timeout=20)
        await sink.wait_audio_from(5, min_frames=20, timeout=10)
        counters = [c for _, c in st.counters]
        assert counters == sorted(counters) and counters[-1] > counters[0]
        assert set(sink.video) == {5} and set(sink.audio) == {5}
    finally:
        await sink.close()
        await a.close()
        await b.close()


def test_ffmpeg_build_has_what_we_use():
    help_text = whip_muxer_help()
    for opt in ("-authorization", "-whip_flags", "dtls_active", "-handshake_timeout"):
        assert opt in help_text, f"ffmpeg WHIP muxer lacks {opt}:\n{help_text}"
    enc = ffmpeg_encoders()
    assert " libx264 " in enc or " libopenh264 " in enc
    assert " libopus " in enc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(60)
async def test_ffmpeg_whip_to_a_bare_aiortc_answerer(tmp_path):
    """ffmpeg -f whip → a 20-line aiortc WHIP endpoint: H.264 pattern and Opus tone decode."""
    enable_loopback_candidates()
    sink = MediaSink("whip-answerer")
    pcs: list[RTCPeerConnection] = []
    deleted = asyncio.Event()
    seen = {}

    async def whip(request: web.Request):
        seen["auth"] = request.headers.get("Authorization")
        pc = new_peer_connection()
        pcs.append(pc)
        pc.on("track", lambda t: sink.add_track(t))
        offer = await request.text()
        seen["offer"] = offer
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(
            status=201,
            text=pc.localDescription.sdp,
            content_type="application/sdp",
            headers={"Location": "/whip/x/1"},
        )

    async def delete(request):
        deleted.set()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/whip/x", whip)
    app.router.add_delete("/whip/x/1", delete)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    ff = FfmpegWhip(f"http://127.0.0.1:{port}/whip/x", "tok123", 11, log_path=tmp_path / "ff.log")
    try:
        ff.start()
        await sink.wait_video_from(11, min_frames=20, timeout=25)
        await sink.wait_audio_from(11, min_frames=20, timeout=10)
        assert seen["auth"] == "Bearer tok123"
        assert "H264" in seen["offer"] and "packetization-mode=1" in seen["offer"]
        assert "opus" in seen["offer"].lower()
        rc = await ff.astop()
        assert rc is not None and rc >= 0, f"ffmpeg did not stop on SIGINT (rc={rc})"
        await asyncio.wait_for(deleted.wait(), 5)  # ffmpeg ends the session with DELETE
    except AssertionError as e:
        raise AssertionError(f"{e}\nffmpeg log:\n{tail(ff.log_text())}") from e
    finally:
        rc = await ff.astop()
        await sink.close()
        for pc in pcs:
            await pc.close()
        await runner.cleanup()
