"""The SFU's media path with real aiortc peers talking to an in-process `sfu.Worker`.

These tests drive the SFU through its public objects (no signaling), so a failure here points at
the media plane itself: forwarding, keyframes, mute, pause/resume continuity.
"""

from __future__ import annotations

import pytest
from aiortc import RTCSessionDescription

from tests.sfu_harness import Subscriber, publish


@pytest.mark.parametrize("codec", ["video/vp8", "video/h264"])
async def test_two_publishers_reach_each_other_and_a_third_without_decoding(sfu_room, codec):
    worker, room, events, subscribers, pcs = sfu_room
    peers = {
        name: room.add_peer(name, publish=True, subscribe=True, listener=events)
        for name in ("judge", "party-a", "party-b")
    }
    for name, peer in peers.items():
        subscribers[name] = Subscriber(peer, name)
    pcs.append(await publish(peers["judge"], 1, codec))
    pcs.append(await publish(peers["party-a"], 2, codec))

    await subscribers["party-b"].sink.wait_video_from(1, min_frames=15)
    await subscribers["party-b"].sink.wait_video_from(2, min_frames=15)
    await subscribers["party-b"].sink.wait_audio_from(1)
    await subscribers["party-b"].sink.wait_audio_from(2)
    await subscribers["judge"].sink.wait_video_from(2, min_frames=15)
    await subscribers["party-a"].sink.wait_video_from(1, min_frames=15)
    assert 1 not in subscribers["judge"].sink.video, "a publisher must not receive itself"
    assert {p.codec.lower() for p in events.publications if p.kind == "video"} == {codec}

    stats = worker.stats()
    assert stats["packets_out"] > stats["packets_in"] > 0


async def test_mute_stops_forwarding_and_unmute_resumes_with_continuous_sequence(sfu_room):
    _, room, events, subscribers, pcs = sfu_room
    peers = {
        name: room.add_peer(name, publish=True, subscribe=True, listener=events)
        for name in ("judge", "party", "observer")
    }
    for name, peer in peers.items():
        subscribers[name] = Subscriber(peer, name)
    pcs.append(await publish(peers["judge"], 8))
    pcs.append(await publish(peers["party"], 7))
    sink = subscribers["observer"].sink
    await sink.wait_audio_from(7)
    await sink.wait_video_from(7, min_frames=10)

    for publication in peers["party"].publications.values():
        room.set_muted(publication.id, True)
    # Packets already on the wire may still land; count from once the judge's media moved on.
    # Counted as RTP the observer received, not as frames it decoded: its decoder threads may
    # still be decoding frames that arrived before the mute (under load, a frame or two late).
    await sink.wait_video_from(8, min_frames=5)
    before = await received_from(subscribers["observer"], "party")
    await sink.wait_video_from(8, min_frames=20)
    await sink.wait_audio_from(8, min_frames=50)
    after = await received_from(subscribers["observer"], "party")
    assert after == before, f"muted media still reached a subscriber: {before} -> {after}"

    for publication in peers["party"].publications.values():
        room.set_muted(publication.id, False)
    await sink.wait_video_from(7, min_frames=10)
    await sink.wait_audio_from(7)
    # Continuity: the subscriber saw no sequence jump across the pause (no burst of 'lost').
    stats = await subscribers["observer"].pc.getStats()
    inbound = [s for s in stats.values() if s.type == "inbound-rtp"]
    assert inbound and all(s.packetsLost < 20 for s in inbound), inbound


async def received_from(subscriber: Subscriber, peer_id: str) -> dict[str, int]:
    """RTP packets the subscriber's connection received per kind on the mids that carry
    ``peer_id``'s publications."""
    mids = {t.mid: t.kind for t in subscriber.peer.tracks() if t.peer_id == peer_id}
    received = dict.fromkeys(mids.values(), 0)
    for transceiver in subscriber.pc.getTransceivers():
        if transceiver.mid in mids:
            stats = await transceiver.receiver.getStats()
            received[mids[transceiver.mid]] += sum(
                s.packetsReceived for s in stats.values() if s.type == "inbound-rtp"
            )
    return received


async def test_a_track_the_publisher_stops_is_unpublished_for_everyone(sfu_room):
    _, room, events, subscribers, pcs = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    subscribers["party"] = Subscriber(party, "party")
    pc = await publish(judge, 6)
    pcs.append(pc)
    await subscribers["party"].sink.wait_video_from(6, min_frames=5)
    video = next(t for t in pc.getTransceivers() if t.kind == "video")
    video.direction = "inactive"  # what a browser's removeTrack does to a sendonly transceiver
    await pc.setLocalDescription(await pc.createOffer())
    answer = await judge.publisher_offer(pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    assert [p.kind for p in judge.publications.values()] == ["audio"]
    assert [p.kind for p in room.publications.values()] == ["audio"]
    assert [t.kind for t in party.tracks()] == ["audio"]


async def test_a_late_subscriber_gets_every_existing_publication_in_one_offer(sfu_room):
    _, room, events, subscribers, pcs = sfu_room
    for sender, name in ((1, "judge"), (2, "party-a")):
        peer = room.add_peer(name, publish=True, subscribe=False, listener=events)
        pcs.append(await publish(peer, sender))
    await events.wait(lambda: len(room.publications) == 4)
    late = room.add_peer("late", publish=False, subscribe=True, listener=events)
    subscribers["late"] = Subscriber(late, "late")
    late.sync_subscriptions()
    await subscribers["late"].sink.wait_video_from(1, min_frames=10)
    await subscribers["late"].sink.wait_video_from(2, min_frames=10)
    await subscribers["late"].sink.wait_audio_from(1)
    await subscribers["late"].sink.wait_audio_from(2)


async def test_a_subscriber_that_pauses_one_video_gets_none_of_it_and_the_rest_as_before(sfu_room):
    _, room, events, subscribers, pcs = sfu_room
    peers = {
        name: room.add_peer(name, publish=True, subscribe=True, listener=events)
        for name in ("judge", "party", "observer")
    }
    for name, peer in peers.items():
        subscribers[name] = Subscriber(peer, name)
    pcs.append(await publish(peers["judge"], 8))
    pcs.append(await publish(peers["party"], 7))
    observer, sink = peers["observer"], subscribers["observer"].sink
    await sink.wait_video_from(7, min_frames=10)
    video = next(p for p in peers["party"].publications.values() if p.kind == "video")
    assert not observer.pause_subscription("TR_nosuch", True)

    slot = next(
        t
        for t in observer.placement.slots.values()
        if t.subscription is not None and t.subscription.publication is video
    )
    assert observer.pause_subscription(video.id, True)
    # Counted where the SFU sends, so packets already on the wire cannot blur it.
    sent = slot.packets
    await sink.wait_video_from(8, min_frames=20)
    await sink.wait_audio_from(7, min_frames=20)  # the party's audio still comes
    assert slot.packets == sent, "a paused publication was still forwarded"
    # Only for this subscriber: the judge still sees the party.
    await subscribers["judge"].sink.wait_video_from(7, min_frames=10)

    assert observer.pause_subscription(video.id, False)
    await sink.wait_video_from(7, min_frames=10)
    assert [t.publication_id for t in observer.tracks()].count(video.id) == 1
