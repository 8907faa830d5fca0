"""The SFU's receive path against what the outside cannot trigger any more, with real aiortc peers:
a transport that dies underneath, a datagram that makes the DTLS receive loop raise, and a peer
closed while aiortc is still gathering its candidates (on one address, and on two)."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import aioice.ice
import pytest

from sfu import SfuError, rtc_internals
from tests.clients.media import PatternVideoTrack
from tests.e2e import eventually
from tests.sfu_harness import Subscriber, consume_all, new_pc, publish


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


def udp_sockets_on(*hosts: str) -> list[str]:
    """Local addresses of this process's network namespace's UDP sockets bound to ``hosts``."""
    prefixes = tuple(socket.inet_aton(h)[::-1].hex().upper() + ":" for h in hosts)
    rows = open("/proc/net/udp").read().splitlines()[1:]
    return [row.split()[1] for row in rows if row.split()[1].startswith(prefixes)]


@pytest.mark.skipif(
    not os.environ.get("CLOUDCOURT_IN_NETNS"),
    reason="binds 127.0.0.2 and 127.0.0.3: only inside the private network namespace",
)
async def test_a_subscriber_closed_while_gathering_on_two_addresses_releases_every_socket(
    sfu_room,
):
    """A gathering on two host addresses, cancelled (the peer closed) while the second is being
    bound: aioice kept the first socket in a list of the cancelled call only, so nothing closed
    it. The room's only publication is there before the observer comes, so the observer's first
    subscriber negotiation runs in a task of its own, which the close cancels."""
    _, room, events, _, pcs = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(judge, 1))
    await events.wait(lambda: len(events.publications) == 2)
    loopback_only = aioice.ice.get_host_addresses
    # Other loopback addresses of this namespace: the judge's own connection is already up.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.2", "127.0.0.3"]
    try:
        observer = room.add_peer("observer", publish=False, subscribe=True, listener=events)
        consume_all(observer)
        async with asyncio.timeout(5):
            bound: list[str] = []
            while not bound:
                await asyncio.sleep(0)  # one event-loop turn: see each socket as it is bound
                bound = udp_sockets_on("127.0.0.3")
        connection = rtc_internals.ice_connection(observer._subscriber_pc)
        assert not connection._local_candidates_end, "missed it: the gathering had ended"
        assert udp_sockets_on("127.0.0.2"), "the first address was bound first"
        await room.remove_peer("observer")
    finally:
        aioice.ice.get_host_addresses = loopback_only

    await eventually(
        lambda: not udp_sockets_on("127.0.0.2", "127.0.0.3"),
        5,
        "every socket the observer's gathering bound is closed",
        detail=lambda: f"still bound: {udp_sockets_on('127.0.0.2', '127.0.0.3')}",
    )
    assert not events.offers.qsize(), "no offer was made by a closed peer"
