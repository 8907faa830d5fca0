"""The SFU refuses what it cannot serve, with a sentence, and stays on loopback when told to."""

from __future__ import annotations

import pytest

from sfu import SfuError, rtc_internals, rtcp
from sfu.receive_stats import ReceiveStats
from tests.clients.loopback import new_peer_connection
from tests.clients.media import PatternVideoTrack, ToneAudioTrack
from tests.sfu_harness import Subscriber, publish


async def offer_sdp(*kinds: str, direction: str = "sendonly") -> str:
    pc = new_peer_connection()
    for kind in kinds:
        track = PatternVideoTrack(1) if kind == "video" else ToneAudioTrack(1)
        pc.addTransceiver(track if direction == "sendonly" else kind, direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_offers_the_sfu_cannot_serve_are_refused_with_a_reason(sfu_room):
    _, room, events, _, _ = sfu_room
    peer = room.add_peer("party", publish=True, subscribe=True, listener=events)
    cases = {
        "v=0\r\nnot sdp at all": "sends no audio or video",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n": "sends no audio or video",
        await offer_sdp(*["video"] * 4): "at most 3 video tracks",
        (await offer_sdp("audio")).replace("opus/48000/2", "ISAC/16000"): "no supported audio",
    }
    for sdp, reason in cases.items():
        with pytest.raises(SfuError, match=reason):
            await peer.publisher_offer(sdp)
    # The refusals left nothing half-made: a good offer still works afterwards.
    answer = await peer.publisher_offer(await offer_sdp("audio", "video"))
    assert answer.startswith("v=0")


async def test_a_whep_offer_must_receive_and_accept_the_source_codec(sfu_room):
    _, room, events, _, pcs = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(judge, 1, "video/vp8"))
    await events.wait(lambda: len(room.publications) == 2)
    player = room.add_peer("player", publish=False, subscribe=True, listener=events)
    judge_ids = list(room.publications)
    with pytest.raises(SfuError, match="receives no audio or video"):
        await player.whep_offer(await offer_sdp("audio", "video"), judge_ids)
    h264_only = _only_codec(await offer_sdp("audio", "video", direction="recvonly"), "H264")
    with pytest.raises(SfuError, match="publishes video/VP8"):
        await player.whep_offer(h264_only, judge_ids)
    await room.remove_peer("player")
    with pytest.raises(SfuError, match="closed"):
        await player.whep_offer(await offer_sdp("video", direction="recvonly"), judge_ids)


def _only_codec(sdp: str, codec: str) -> str:
    """Drop every video payload type except `codec`'s, as a browser without VP8 would offer."""
    lines = sdp.split("\r\n")
    keep_pts = {
        line.split()[0].split(":")[1]
        for line in lines
        if line.startswith("a=rtpmap:") and codec in line
    }
    out, in_video = [], False
    for line in lines:
        if line.startswith("m="):
            in_video = line.startswith("m=video")
            if in_video:
                parts = line.split()
                line = " ".join(parts[:3] + [pt for pt in parts[3:] if pt in keep_pts])
        elif in_video and line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")):
            if line.split()[0].split(":")[1] not in keep_pts:
                continue
        out.append(line)
    return "\r\n".join(out)


async def test_a_subscriber_without_the_codec_is_not_subscribed_and_no_keyframes_are_begged(
    sfu_room,
):
    worker, room, events, subscribers, pcs = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    subscribers["party"] = Subscriber(party, "party", video_codec="video/h264")
    pcs.append(await publish(judge, 2, "video/vp8"))
    await subscribers["party"].sink.wait_audio_from(2)
    assert [t.kind for t in party.tracks()] == ["audio"]
    plis = worker.stats()["plis_sent"]
    await subscribers["party"].sink.wait_audio_from(2, min_frames=100)  # ~2 s more
    assert worker.stats()["plis_sent"] == plis


async def test_loopback_mode_ignores_candidates_elsewhere_even_inside_the_sdp(sfu_room):
    _, room, events, _, _ = sfu_room
    peer = room.add_peer("party", publish=True, subscribe=False, listener=events)
    sdp = await offer_sdp("audio")
    foreign = (
        "a=candidate:9 1 udp 2130706431 192.0.2.55 40000 typ host\r\n"
        "a=candidate:8 1 udp 2130706430 0b6b1c5e-6f9f-4c1e.local 40001 typ host\r\n"
    )
    sdp = sdp.replace("a=end-of-candidates", foreign + "a=end-of-candidates")
    await peer.publisher_offer(sdp)
    connection = rtc_internals.ice_connection(peer._publisher_pc)
    assert {c.host for c in connection.remote_candidates} == {"127.0.0.1"}
    with pytest.raises(SfuError, match="ICE candidate"):
        await peer.add_ice_candidate(
            "publisher", "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", None, None
        )


def test_receiver_reports_survive_absurd_jitter():
    stats = ReceiveStats(90000)
    for seq in range(400):
        stats.update(seq, 0 if seq % 2 else 0xFFFFFFFF, 100, seq * 0.02)
    report = stats.report(1)
    assert report.jitter == 0xFFFFFFFF
    assert rtcp.receiver_report(2, [report])  # packs: a report that raised stopped upkeep
