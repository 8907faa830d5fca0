"""Datagrams from anyone, to any of the server's media ports, as an attacker on the network would
send them; and sockets that must not outlive their sessions.

Everything here goes to 127.0.0.1 from raw sockets of the test process. A fresh socket has a port
of its own, so it is a foreign address to every peer connection of the server; the spoofed case
writes whole IPv4 packets (the tests run as root in a private network namespace).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import struct
import time

import pytest
from aioice import stun

from sfu import rtc_internals
from tests.clients.whep import http_delete, post_sdp
from tests.e2e import Cast, eventually, metric_value

pytestmark = pytest.mark.timeout(150)

RSS_BOUND_MIB = 50


def media_pids(server) -> list[int]:
    """The processes that hold the server's media sockets: its SFU workers (or the server itself,
    with the SFU in-process); not the sidecars, whose tap sockets take only the workers' packets."""
    return server.worker_pids() or [server.pid]


def server_udp_sockets(server) -> list[tuple[int, int]]:
    """(local port, bytes waiting to be read) of each UDP socket the server's processes hold
    (IPv4, IPv6)."""
    inodes = set()
    for pid in media_pids(server):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            continue  # a worker that ended meanwhile
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    sockets = []
    for table in ("udp", "udp6"):
        try:
            lines = open(f"/proc/{server.pid}/net/{table}").read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                port = int(fields[1].rsplit(":", 1)[1], 16)
                sockets.append((port, int(fields[4].split(":")[1], 16)))
    return sockets


def server_udp_ports(server) -> list[int]:
    return [port for port, _ in server_udp_sockets(server)]


def rss_mib(server) -> float:
    """Resident memory of the server's processes (the media ones above all)."""
    total = 0
    for pid in media_pids(server):
        status = open(f"/proc/{pid}/status").read()
        total += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))
    return total / 1024


def candidate_port(sdp: str) -> int:
    return int(re.search(r"127\.0\.0\.1 (\d+) typ host", sdp).group(1))


def unparsable_stun() -> bytes:
    """A binding request whose PRIORITY attribute is 2 bytes long instead of 4: aioice's parser
    raises `struct.error` for it, not the ValueError it raises for other malformed STUN."""
    header = struct.pack("!HHI", stun.Method.BINDING, 8, stun.COOKIE) + secrets.token_bytes(12)
    return header + struct.pack("!HH", 0x0024, 2) + bytes(4)


def hostile_datagrams() -> list[bytes]:
    """One of each kind RFC 7983 demultiplexes by its first byte, and then some."""
    rtp_header = bytes([0x80, 96]) + struct.pack("!HII", 1, 1234, 0x1234ABCD)
    stun_request = stun.Message(
        message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST
    )
    return [
        bytes([0x80]) + secrets.token_bytes(1500),  # 1501 B: over pylibsrtp's buffer
        rtp_header + secrets.token_bytes(9000),
        rtp_header + secrets.token_bytes(200),  # RTP, not authenticated
        bytes([0x80, 200, 0, 6]) + secrets.token_bytes(24),  # RTCP SR
        bytes([0x81, 201, 0, 7]) + secrets.token_bytes(28),  # RTCP RR
        bytes([22, 0xFE, 0xFD, 0, 0]) + secrets.token_bytes(100),  # DTLS handshake record
        bytes([23, 0xFE, 0xFD, 0, 1]) + secrets.token_bytes(1600),  # DTLS application data
        bytes([63]) + secrets.token_bytes(50),
        bytes(stun_request),  # STUN, no credentials
        bytes([0, 1, 0, 8]) + secrets.token_bytes(40),  # STUN-looking garbage
        unparsable_stun(),
        b"",
    ]


def spray_each_port(ports: list[int], datagrams: list[bytes]) -> None:
    """From a fresh socket per port (a foreign address to everyone), every datagram once."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for data in datagrams:
                sock.sendto(data, ("127.0.0.1", port))


def spoofed(src_port: int, dst_port: int, payload: bytes) -> bytes:
    """An IPv4/UDP packet from 127.0.0.1:src_port; the kernel fills in length, id and checksum."""
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"),
    )  # fmt: skip
    return ip + udp


async def call_of_two(cast):
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    party = await cast.join(hearing, "party", 2, judge=judge)
    await party.wait_video_from(judge, min_frames=10, timeout=25)
    await judge.wait_video_from(party, min_frames=10, timeout=25)
    return hearing, judge, party


async def still_decoding(judge, party, since: float) -> None:
    """Both directions decode fresh video after ``since``; nobody was sent a media_reset."""
    await party.wait_video_from(judge, min_frames=20, timeout=10, since=since)
    await judge.wait_video_from(party, min_frames=20, timeout=10, since=since)
    await party.wait_audio_from(judge, min_frames=25, timeout=10, since=since)
    for p in (judge, party):
        assert not p.events_named("media_reset"), f"{p.name} had to rebuild its connections"


def assert_no_traceback_since(server, offset: int) -> None:
    log = server.log_text()[offset:]
    for mark in ("Traceback", "Exception in callback"):
        assert mark not in log, log[log.index(mark) - 500 :][:4000]


async def counter(cast, name: str) -> float:
    return metric_value(await cast.api.metrics(), name) or 0.0


async def test_a_call_keeps_decoding_through_a_scan_of_every_server_port(server, cast):
    _, judge, party = await call_of_two(cast)
    ports = server_udp_ports(server)
    assert len(ports) >= 4, f"two participants' connections, each on its own port: {ports}"
    log_offset = len(server.log_text())
    foreign = await counter(cast, "cloudcourt_sfu_datagrams_foreign")

    spray_each_port(ports, hostile_datagrams())
    await still_decoding(judge, party, time.monotonic())

    assert await counter(cast, "cloudcourt_sfu_datagrams_foreign") - foreign >= len(ports)
    assert_no_traceback_since(server, log_offset)


async def test_stun_that_aioice_cannot_parse_from_the_judges_own_address_is_dropped(server, cast):
    """Sent from the judge's own sockets (its selected pairs), so it passes the source check and
    reaches aioice's parser; it must cost one counted drop, not a traceback per datagram."""
    _, judge, party = await call_of_two(cast)
    log_offset = len(server.log_text())
    errors = await counter(cast, "cloudcourt_sfu_receive_errors")
    for pc in (judge.pub_pc, judge.sub_pc):
        pair = rtc_internals.ice_connection(pc)._nominated[1]
        for _ in range(20):
            pair.protocol.transport.sendto(unparsable_stun(), pair.remote_addr)

    await still_decoding(judge, party, time.monotonic())

    async def all_counted() -> bool:
        return await counter(cast, "cloudcourt_sfu_receive_errors") - errors >= 40

    await eventually(all_counted, 5, "each unparsable datagram is counted as a receive error")
    assert_no_traceback_since(server, log_offset)


async def test_a_call_keeps_decoding_through_a_flood_at_the_judges_own_ports(cast):
    _, judge, party = await call_of_two(cast)
    ports = [candidate_port(pc.remoteDescription.sdp) for pc in (judge.pub_pc, judge.sub_pc)]

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(200):
            for port in ports:
                for data in hostile_datagrams():
                    sock.sendto(data, ("127.0.0.1", port))
    await still_decoding(judge, party, time.monotonic())


async def test_oversized_datagrams_spoofed_from_the_judges_own_address_are_dropped(cast):
    """Source checks do not stop a forged source address; the read path must survive anyway."""
    _, judge, party = await call_of_two(cast)
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        pytest.skip("forging a source address needs a raw socket (CAP_NET_RAW)")
    oversized = await counter(cast, "cloudcourt_sfu_datagrams_oversized")
    try:
        for pc in (judge.pub_pc, judge.sub_pc):
            src, dst = (
                candidate_port(pc.localDescription.sdp),
                candidate_port(pc.remoteDescription.sdp),
            )
            for size in (1501, 1600, 9000):
                payload = bytes([0x80, 96]) + secrets.token_bytes(size - 2)
                raw.sendto(spoofed(src, dst, payload), ("127.0.0.1", 0))
    finally:
        raw.close()
    await still_decoding(judge, party, time.monotonic())
    assert await counter(cast, "cloudcourt_sfu_datagrams_oversized") - oversized >= 6


async def test_rss_stays_bounded_under_a_spray_at_a_playback_that_never_did_ice(server, cast):
    """The spray comes from the playback's own (signalled) candidate, so it passes the source
    check: only the bound on what waits for ICE keeps memory in check."""
    hearing = await cast.api.create_hearing()
    await cast.join(hearing, "judge", 1)
    viewer = await cast.api.token(hearing["id"], "party", "viewer", admitted=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        pc = await cast.offering_peer(3)  # only for a well-formed offer
        offer = re.sub(
            r"(127\.0\.0\.1) \d+ typ host",
            rf"\1 {sock.getsockname()[1]} typ host",
            pc.localDescription.sdp.replace("a=sendonly", "a=recvonly"),
        )
        replies = []

        async def played() -> bool:  # 404 until the judge's tracks are up
            replies.append(await post_sdp(viewer["whep_url"], viewer["token"], offer))
            return replies[-1][0] != 404

        await eventually(played, 20, "a WHEP playback of the judge", interval=0.3)
        status, headers, answer = replies[-1]
        assert status == 201, (status, answer)
        target = ("127.0.0.1", candidate_port(answer))
        queue_drops = await counter(cast, "cloudcourt_sfu_ice_queue_drops")
        before = rss_mib(server)
        payload = bytes([0x80, 96]) + secrets.token_bytes(1398)
        sent, deadline = 0, time.monotonic() + 10
        while sent < 200_000 and time.monotonic() < deadline:
            try:
                sock.sendto(payload, target)
                sent += 1
            except BlockingIOError:
                await asyncio.sleep(0)
        spray_each_port(server_udp_ports(server), [payload] * 50)
        await eventually(
            lambda: not any(unread for _, unread in server_udp_sockets(server)),
            10,
            "the server has read everything the kernel held for it",
            detail=lambda: f"{server_udp_sockets(server)}",
        )
        after = rss_mib(server)
        assert after - before < RSS_BOUND_MIB, (
            f"RSS went from {before:.0f} to {after:.0f} MiB after {sent} datagrams"
        )
        assert await counter(cast, "cloudcourt_sfu_ice_queue_drops") > queue_drops
        assert await http_delete(cast.api.abs(headers["Location"]), viewer["token"]) == 200


def udp_sockets(server) -> int:
    return len(server_udp_ports(server))


@pytest.fixture
async def fresh_cast(fresh_server):
    """A server of its own: no other test's sessions are still winding down in its count."""
    c = Cast(fresh_server)
    yield c
    await c.close()


async def test_no_socket_outlives_fifty_concurrent_whip_posts_with_one_token(fresh_cast):
    cast, server = fresh_cast, fresh_cast.server
    baseline = udp_sockets(server)
    hearing = await cast.api.create_hearing()
    encoder = await cast.api.token(hearing["id"], "site", "site encoder", admitted=True)
    pc = await cast.offering_peer(22)
    statuses = []
    for _ in range(6):  # a leak depends on who closes whom while gathering: give it chances
        results = await asyncio.gather(
            *(post_sdp(encoder["whip_url"], encoder["token"], pc.localDescription.sdp)
              for _ in range(50))
        )  # fmt: skip
        statuses += sorted(status for status, _, _ in results)
        for status, headers, _ in results:
            if status == 201:
                await http_delete(cast.api.abs(headers["Location"]), encoder["token"])
    assert set(statuses) <= {201, 400, 409}, statuses
    await eventually(
        lambda: udp_sockets(server) <= baseline,
        10,
        "every WHIP session's sockets are released",
        detail=lambda: f"{udp_sockets(server)} UDP sockets, {baseline} before; {statuses}",
    )


async def test_no_socket_outlives_a_participant_who_left(fresh_cast):
    cast, server = fresh_cast, fresh_cast.server
    baseline = udp_sockets(server)
    _, judge, party = await call_of_two(cast)
    assert udp_sockets(server) >= baseline + 4
    for p in (party, judge):
        await p.leave()
        await p.close()
    await eventually(
        lambda: udp_sockets(server) <= baseline,
        10,
        "the participants' sockets are released",
        detail=lambda: f"{udp_sockets(server)} UDP sockets, {baseline} before",
    )
