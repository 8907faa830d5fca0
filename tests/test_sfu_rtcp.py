"""The SFU's RTCP duties with real aiortc peers: losses repaired both ways, sender reports that
carry the publisher's clock, and the active speaker."""

from __future__ import annotations

import struct

from aiortc.rtp import RTCP_RTPFB, RtcpPacket, RtcpSrPacket, pack_rtcp_packet

from sfu import rtc_internals, rtcp, rtp
from tests.clients.media import ToneAudioTrack
from tests.sfu_harness import Subscriber, publish


def drop_first_copy(send, ssrc: int, every: int):
    """Wrap a send function so every n-th packet of one SSRC is lost the first time only."""
    dropped: set[int] = set()

    def lossy(data: bytes):
        if not rtp.is_rtcp(data) and int.from_bytes(data[8:12], "big") == ssrc:
            seq = int.from_bytes(data[2:4], "big")
            if seq % every == 0 and seq not in dropped:
                dropped.add(seq)
                return None
        return send(data)

    return lossy, dropped


def completeness(sink, sender: int) -> float:
    counters = sorted({c for _, c in sink.video[sender].counters})
    return len(counters) / (counters[-1] - counters[0] + 1)


async def test_publisher_losses_are_nacked_upstream_and_repaired(sfu_room):
    worker, room, events, subscribers, pcs = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    subscribers["party"] = Subscriber(party, "party")
    pc = await publish(judge, 3)
    pcs.append(pc)
    video = next(t for t in pc.getTransceivers() if t.kind == "video")
    dtls = video.sender.transport

    async def send(data: bytes) -> None:
        await original(data)

    original = dtls._send_rtp
    lossy, dropped = drop_first_copy(lambda d: send(d), video.sender._ssrc, every=7)

    async def lossy_send(data: bytes) -> None:
        result = lossy(data)
        if result is not None:
            await result

    dtls._send_rtp = lossy_send
    await subscribers["party"].sink.wait_video_from(3, min_frames=60, timeout=30)
    assert len(dropped) >= 5
    assert worker.stats()["nacks_sent"] > 0
    assert completeness(subscribers["party"].sink, 3) > 0.95


async def test_subscriber_nacks_are_answered_from_the_cache(sfu_room):
    worker, room, events, subscribers, pcs = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    subscribers["party"] = Subscriber(party, "party")
    pcs.append(await publish(judge, 4))
    await subscribers["party"].sink.wait_video_from(4, min_frames=5)
    track = next(t for t in party.placement.slots.values() if t.kind == "video")
    track.send_rtp, dropped = drop_first_copy(track.send_rtp, track.ssrc, every=7)
    since = subscribers["party"].sink.video[4].last_time
    await subscribers["party"].sink.wait_video_from(4, min_frames=60, timeout=30, since=since)
    assert len(dropped) >= 5
    assert worker.stats()["nacks_answered"] >= len(dropped) // 2
    assert completeness(subscribers["party"].sink, 4) > 0.95


async def test_sender_reports_carry_the_publisher_clock_in_the_subscriber_timestamps(sfu_room):
    _, room, events, subscribers, pcs = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    subscriber = subscribers["party"] = Subscriber(party, "party")
    pcs.append(await publish(judge, 5))
    await subscriber.sink.wait_video_from(5, min_frames=5)
    # A mute/unmute moves the subscription's timestamp offset away from zero.
    for publication in judge.publications.values():
        room.set_muted(publication.id, True)
    for publication in judge.publications.values():
        room.set_muted(publication.id, False)
    since = subscriber.sink.video[5].last_time
    await subscriber.sink.wait_video_from(5, min_frames=5, since=since)

    latest_rtp: dict[int, int] = {}
    reports: list[tuple[int, int]] = []
    dtls = rtc_internals.dtls_transport(subscriber.pc)
    handle_rtp, handle_rtcp = dtls._handle_rtp_data, dtls._handle_rtcp_data

    async def on_rtp(data: bytes, arrival_time_ms: int) -> None:
        latest_rtp[struct.unpack_from("!I", data, 8)[0]] = struct.unpack_from("!I", data, 4)[0]
        await handle_rtp(data, arrival_time_ms)

    async def on_rtcp(data: bytes) -> None:
        for packet in RtcpPacket.parse(data):
            if isinstance(packet, RtcpSrPacket) and packet.ssrc in latest_rtp:
                reports.append((packet.sender_info.rtp_timestamp, latest_rtp[packet.ssrc]))
        await handle_rtcp(data)

    dtls._handle_rtp_data, dtls._handle_rtcp_data = on_rtp, on_rtcp
    await subscriber.sink.wait_for(lambda: len(reports) >= 3, 15, "three sender reports")
    for report_rtp, packet_rtp in reports:
        # The SR's RTP time is 'now' in the same timeline as the packets: within a second.
        assert abs(((report_rtp - packet_rtp + 2**31) % 2**32) - 2**31) < 90000, reports


async def test_the_loudest_unmuted_participant_is_the_active_speaker(sfu_room):
    _, room, events, _, pcs = sfu_room
    loud = room.add_peer("loud", publish=True, subscribe=False, listener=events)
    quiet = room.add_peer("quiet", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(loud, 1))
    pcs.append(await publish(quiet, 2))
    # Replace the quiet peer's tone by a softer one (-20 dB).
    quiet_pc = pcs[-1]
    audio = next(t for t in quiet_pc.getTransceivers() if t.kind == "audio")
    audio.sender.replaceTrack(ToneAudioTrack(2, amplitude=0.03))
    await events.wait(lambda: events.speakers and events.speakers[-1] == "loud")
    for publication in loud.publications.values():
        room.set_muted(publication.id, True)
    await events.wait(lambda: events.speakers[-1] == "quiet")


def test_a_nack_across_the_sequence_wrap_is_written_and_read_back():
    # A publisher's gap at the wrap (65534, 65535, 0 lost before 1): aiortc's writer raised
    # ValueError for it inside the forwarding loop, so the packet that revealed it was dropped.
    lost = [65533, 65534, 65535, 0, 1, 30]
    (parsed,) = rtcp.parse(rtcp.nack(1, 2, lost))
    assert (parsed.ssrc, parsed.media_ssrc, parsed.lost) == (1, 2, lost)


def test_a_subscriber_nack_at_the_wrap_names_16_bit_sequence_numbers():
    # PID 65535 with the first bit of BLP set means 0 is lost too; aiortc's parser says 65536,
    # which no packet has (and which struct refuses when the answer is written).
    fci = struct.pack("!LLHH", 1, 2, 65535, 0b101)
    (parsed,) = rtcp.parse(pack_rtcp_packet(RTCP_RTPFB, rtcp.RTCP_RTPFB_NACK, fci))
    assert parsed.lost == [65535, 0, 2]
