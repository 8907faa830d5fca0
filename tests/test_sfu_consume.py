"""Explicit consume: the SFU forwards a publication only to the peers told to `consume` it.

Real aiortc peers against an in-process room that nobody subscribes automatically
(`sfu_bare_room`). What a subscriber receives is counted at the subscriber itself: the RTP
packets its RTCPeerConnection reports as received per kind, and the frames it decodes.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiortc import RTCPeerConnection

from sfu import MuteChange, Peer, Publication, SfuError
from sfu.rtp import Incoming
from tests.e2e import eventually
from tests.sfu_harness import Subscriber, publish

QUIET = 2.0  # how long "nothing arrives" is watched for


async def received_packets(pc: RTCPeerConnection, kind: str) -> int:
    """RTP packets of `kind` the subscriber's connection received (its inbound-rtp stats)."""
    stats = await pc.getStats()
    return sum(
        s.packetsReceived for s in stats.values() if s.type == "inbound-rtp" and s.kind == kind
    )


def by_kind(peer: Peer, kind: str) -> Publication:
    return next(p for p in peer.publications.values() if p.kind == kind)


async def stays(pc: RTCPeerConnection, kind: str, count: int, seconds: float = QUIET) -> None:
    """The received count of `kind` does not move from `count` for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = await received_packets(pc, kind)
        assert now == count, f"{kind}: {now - count} packets arrived that were never consumed"
        await asyncio.sleep(0.2)  # sampling a count that must not move, not waiting for one


async def settled(pc: RTCPeerConnection, kind: str) -> int:
    """Wait until the count of `kind` stops moving (packets in flight at an unconsume)."""
    last = await received_packets(pc, kind)
    calm_since = time.monotonic()

    async def calm() -> bool:
        nonlocal last, calm_since
        now = await received_packets(pc, kind)
        if now != last:
            last, calm_since = now, time.monotonic()
        return time.monotonic() - calm_since >= 0.5

    await eventually(calm, 5, f"{kind} kept arriving after the unconsume")
    return last


async def test_a_subscriber_receives_exactly_what_it_consumes(sfu_bare_room):
    _, room, events, subscribers, pcs = sfu_bare_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    watcher = room.add_peer("watcher", publish=False, subscribe=True, listener=events)
    for peer in (party, watcher):
        subscribers[peer.id] = Subscriber(peer, peer.id)
    pcs.append(await publish(judge, 3))
    await events.wait(lambda: len(room.publications) == 2)
    audio, video = by_kind(judge, "audio"), by_kind(judge, "video")
    assert not audio.subscriptions and not video.subscriptions, "nobody was told to consume"

    # The party consumes the judge's audio only: it hears the judge and gets no video bytes.
    party.consume([audio.id])
    sink, pc = subscribers["party"].sink, subscribers["party"].pc
    await sink.wait_audio_from(3)
    await stays(pc, "video", 0)
    assert sink.video_frames_total == 0

    # Consuming the video brings the judge's picture (a new slot, one renegotiation).
    party.consume([video.id])
    await sink.wait_video_from(3, min_frames=10)

    # Unconsume: the video stops; the audio goes on.
    party.unconsume([video.id])
    assert [t.kind for t in party.tracks()] == ["audio"]
    stopped = await settled(pc, "video")
    await stays(pc, "video", stopped)
    heard = sink.audio[3].frames
    await eventually(lambda: sink.audio[3].frames > heard + 20, 5, "audio goes on")

    # The watcher, never told to consume, has no subscriber connection at all.
    assert watcher._subscriber_pc is None
    assert subscribers["watcher"].sink.audio_frames_total == 0


async def test_a_new_publication_reaches_only_those_who_consume_it(sfu_bare_room):
    _, room, events, subscribers, pcs = sfu_bare_room
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    clerk = room.add_peer("clerk", publish=False, subscribe=True, listener=events)
    for peer in (party, clerk):
        subscribers[peer.id] = Subscriber(peer, peer.id)
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(judge, 4))
    await events.wait(lambda: len(room.publications) == 2)
    audio = by_kind(judge, "audio")
    party.consume([audio.id])
    clerk.consume([audio.id])
    await subscribers["party"].sink.wait_audio_from(4)
    await subscribers["clerk"].sink.wait_audio_from(4)

    # A second publisher appears; only the party consumes it.
    witness = room.add_peer("witness", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(witness, 5))
    await events.wait(lambda: len(room.publications) == 4)
    party.consume([p.id for p in witness.publications.values()])
    await subscribers["party"].sink.wait_video_from(5, min_frames=10)
    await subscribers["party"].sink.wait_audio_from(5)
    await stays(subscribers["clerk"].pc, "video", 0)
    assert 5 not in subscribers["clerk"].sink.audio
    assert {t.peer_id for t in clerk.tracks()} == {"judge"}


async def test_an_unconsumed_slot_carries_the_next_publication_consumed_without_renegotiation(
    sfu_bare_room,
):
    _, room, events, subscribers, pcs = sfu_bare_room
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    subscribers["party"] = Subscriber(party, "party")
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    witness = room.add_peer("witness", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(judge, 6))
    pcs.append(await publish(witness, 7))
    await events.wait(lambda: len(room.publications) == 4)
    party.consume([by_kind(judge, "video").id])
    sink = subscribers["party"].sink
    await sink.wait_video_from(6, min_frames=5)
    mids = {t.mid for t in party.tracks()}
    slots = len(subscribers["party"].pc.getTransceivers())

    # Switch the one video slot from the judge to the witness: same mid, no new offer.
    party.unconsume([by_kind(judge, "video").id])
    party.consume([by_kind(witness, "video").id])
    await sink.wait_video_from(7, min_frames=5)
    assert {t.mid for t in party.tracks()} == mids
    assert [t.peer_id for t in party.tracks()] == ["witness"]
    assert len(subscribers["party"].pc.getTransceivers()) == slots == 1, "the slot was reused"


async def test_consume_ignores_unknown_and_own_ids_and_needs_the_subscribe_grant(sfu_bare_room):
    _, room, events, _, pcs = sfu_bare_room
    judge = room.add_peer("judge", publish=True, subscribe=True, listener=events)
    publisher_only = room.add_peer("kiosk", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(judge, 8))
    await events.wait(lambda: len(room.publications) == 2)
    judge.consume(["TR_nosuch", *room.publications])
    assert judge.placement.consumed == set(), "its own publications and unknown ids are ignored"
    assert judge._subscriber_pc is None
    with pytest.raises(SfuError, match="may not subscribe"):
        publisher_only.consume(list(room.publications))
    with pytest.raises(SfuError, match="may not subscribe"):
        publisher_only.unconsume(list(room.publications))


async def test_an_ended_publication_is_forgotten_by_those_who_consumed_it(sfu_bare_room):
    _, room, events, subscribers, pcs = sfu_bare_room
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    subscribers["party"] = Subscriber(party, "party")
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(judge, 9))
    await events.wait(lambda: len(room.publications) == 2)
    ids = list(room.publications)
    party.consume(ids)
    await subscribers["party"].sink.wait_video_from(9, min_frames=5)
    await room.remove_peer("judge")
    assert party.placement.consumed == set()
    assert party.tracks() == []


async def test_a_standing_mute_holds_from_the_first_packet(sfu_bare_room):
    """`muted_kinds` at creation: the publication is muted before anyone hears of it, so no tap
    or subscriber ever gets a packet of it; an unmute then lets it through."""
    _, room, events, subscribers, pcs = sfu_bare_room
    seen: list[tuple[str, bool]] = []
    inner = room.listener

    class Watch:
        def on_publication(self, room, publication) -> None:
            seen.append((publication.kind, publication.muted))
            inner.on_publication(room, publication)
            party.consume([publication.id])

        def on_unpublication(self, room, publication) -> None:
            inner.on_unpublication(room, publication)

        def on_active_speaker(self, room, peer_id, level) -> None:
            inner.on_active_speaker(room, peer_id, level)

    room.listener = Watch()
    party = room.add_peer("party", publish=False, subscribe=True, listener=events)
    subscribers["party"] = Subscriber(party, "party")
    witness = room.add_peer(
        "witness", publish=True, subscribe=False, listener=events, muted_kinds={"audio"}
    )
    assert witness.muted_kinds == {"audio"}
    pcs.append(await publish(witness, 10))
    await events.wait(lambda: len(room.publications) == 2)
    assert sorted(seen) == [("audio", True), ("video", False)]
    audio = by_kind(witness, "audio")
    tap = room.tap(audio.id)
    sink, pc = subscribers["party"].sink, subscribers["party"].pc
    await sink.wait_video_from(10, min_frames=10)
    await eventually(lambda: audio.stats.received > 20, 5, "the witness's audio reaches the SFU")
    assert await received_packets(pc, "audio") == 0
    assert 10 not in sink.audio
    first = await tap.get()
    assert first is not None and first.item == MuteChange(True), "the tap's first item: the mute"
    queued = [tap._queue.get_nowait().item for _ in range(tap._queue.qsize())]
    assert not [i for i in queued if isinstance(i, Incoming)], "no packet follows it while muted"

    room.set_muted(audio.id, False)
    await sink.wait_audio_from(10)

    # Later kinds: set_muted_kinds changes what the next publications start in.
    witness.set_muted_kinds(set())
    assert witness.muted_kinds == frozenset()
