"""The SFU's receive path against what the outside cannot trigger any more, with real aiortc peers:
a transport that dies underneath, a datagram that makes the DTLS receive loop raise, and a peer
closed while aiortc is still gathering its candidates."""

from __future__ import annotations

import asyncio
import time

import pytest

from sfu import SfuError, rtc_internals
from tests.clients.media import PatternVideoTrack
from tests.e2e import eventually
from tests.sfu_harness import Subscriber, new_pc, publish


async def judge_and_observer(sfu_room):
    worker, room, events, subscribers, pcs = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    observer = room.add_peer("observer", publish=False, subscribe=True, listener=events)
    subscribers["observer"] = Subscriber(observer, "observer")
    pcs.append(await publish(judge, 1))
    sink = subscribers["observer"].sink
    await sink.wait_video_from(1, min_frames=5)
    return worker, events, judge, sink


async def test_a_connection_whose_dtls_transport_died_is_reported_at_once(sfu_room):
    worker, events, judge, _ = await judge_and_observer(sfu_room)

    # What an exception ending aiortc's receive loop did: the DTLS transport closes, ICE stays up.
    await rtc_internals.dtls_transport(judge._publisher_pc).stop()

    await eventually(
        lambda: ("judge", "publisher connection closed") in events.closed,
        5,
        "the SFU reports the judge's dead publisher connection",
        detail=lambda: f"closed: {events.closed}",
    )
    assert worker.stats()["peer_connections_connected"] == 1


async def test_a_datagram_that_raises_in_the_dtls_receive_loop_is_dropped_not_fatal(sfu_room):
    worker, events, judge, sink = await judge_and_observer(sfu_room)
    connection = rtc_internals.ice_connection(judge._publisher_pc)

    # As a TURN relay's read loop would hand them over: past the size check of the socket reader.
    # pylibsrtp raises a plain ValueError for it, which aiortc's loop does not catch.
    for _ in range(3):
        connection._queue.put_nowait((bytes([0x80, 96]) + bytes(1600), 1))
    since = time.monotonic()

    await sink.wait_video_from(1, min_frames=15, since=since)
    assert worker.stats()["receive_errors"] >= 3
    assert not events.closed


async def test_a_peer_closed_while_gathering_releases_every_socket(sfu_room):
    _, room, events, _, pcs = sfu_room
    client = new_pc()
    pcs.append(client)
    client.addTransceiver(PatternVideoTrack(1), direction="sendonly")
    await client.setLocalDescription(await client.createOffer())
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    offer = asyncio.ensure_future(judge.publisher_offer(client.localDescription.sdp))

    def gathering(connection) -> bool:
        return connection._local_candidates_start and not connection._local_candidates_end

    connection = None
    async with asyncio.timeout(5):
        while connection is None or not gathering(connection):
            await asyncio.sleep(0)  # one event-loop turn: see each step of the negotiation
            pc = judge._publisher_pc
            connection = rtc_internals.ice_connection(pc) if pc is not None else None
            assert connection is None or not connection._local_candidates_end, "missed it"
    await room.remove_peer("judge")

    with pytest.raises(SfuError, match="closed"):
        await offer
    still_bound = [p for p in connection._protocols if not p.transport.is_closing()]
    assert not still_bound, f"sockets bound after the close stayed open: {still_bound}"
