"""Guards for the aiortc/aioice private internals the SFU relies on (sfu/rtc_internals.py).

If an aiortc or aioice upgrade renames or reshapes any of them, these fail with the attribute's
name instead of the SFU silently decoding, dropping media or disconnecting ffmpeg after 30 s.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import socket
from asyncio import selector_events

import aioice.ice
import pylibsrtp
import pytest
from aioice import stun
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport

from sfu import rtc_internals
from tests.clients.loopback import new_peer_connection
from tests.clients.media import PatternVideoTrack
from tests.e2e import eventually


def test_dtls_transport_still_dispatches_through_overridable_handlers():
    source = inspect.getsource(RTCDtlsTransport._recv_next)
    assert "self._handle_rtp_data(" in source and "self._handle_rtcp_data(" in source
    assert "_rx_srtp" in source
    assert "_tx_srtp" in inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "allow_repeat_tx = True" in inspect.getsource(RTCDtlsTransport._setup_srtp), (
        "NACK answers resend packets with their original sequence number"
    )


def test_receiver_and_sender_are_started_only_through_receive_and_send():
    connect = inspect.getsource(RTCPeerConnection._RTCPeerConnection__connect)
    assert "transceiver.sender.send(" in connect and "transceiver.receiver.receive(" in connect
    assert "decoder_thread" in inspect.getsource(RTCRtpReceiver.receive)
    assert "_run_rtp" in inspect.getsource(RTCRtpSender.send)


async def test_transceiver_and_connection_attributes_exist():
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="sendonly")
    assert isinstance(rtc_internals.sender_ssrc(transceiver), int)
    assert isinstance(rtc_internals.cname(pc), str)
    assert isinstance(rtc_internals.negotiated_codecs(transceiver), list)
    assert hasattr(transceiver, "_offerDirection") and hasattr(transceiver, "_codecs")
    rtc_internals.set_stream_id(transceiver, "judge")
    assert transceiver.sender._stream_id == "judge"
    connection = rtc_internals.ice_connection(pc)
    assert isinstance(connection, aioice.ice.Connection)
    assert hasattr(connection, "_nominated") and hasattr(connection, "_query_consent_task")
    assert hasattr(connection, "_protocols") and hasattr(connection, "_queue")
    await pc.close()


def test_aioice_host_address_hook_and_consent_settings(monkeypatch):
    assert callable(aioice.ice.get_host_addresses)
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)
    assert "_query_consent_task" in inspect.getsource(aioice.ice.Connection.query_consent)
    # Whatever the hooks were before this test, they are again after it.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)
    connection = aioice.ice.Connection
    monkeypatch.setattr(connection, "add_remote_candidate", connection.add_remote_candidate)
    rtc_internals.enable_loopback_candidates()
    assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
    assert hasattr(pylibsrtp.Policy, "allow_repeat_tx")
    # make_sender writes to the datagram transport's socket directly.
    import asyncio.selector_events

    assert "self._sock = sock" in inspect.getsource(asyncio.selector_events._SelectorTransport)


def test_the_decoder_probe_sees_aiortc_create_decoders():
    """The probe /metrics reports as cloudcourt_sfu_decoders_created must not be dead."""
    import aiortc.rtcrtpreceiver
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    rtc_internals.count_decoders()
    before = rtc_internals.decoders_created()
    aiortc.rtcrtpreceiver.get_decoder(
        RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    )
    assert rtc_internals.decoders_created() == before + 1
    assert "get_decoder(codec)" in inspect.getsource(aiortc.rtcrtpreceiver.decoder_worker)


def test_asyncio_datagram_reads_are_still_one_recvfrom_through_a_replaceable_reader():
    """guard's read loop loops what `_read_ready` does once, and swaps the registered reader."""
    read_ready = inspect.getsource(selector_events._SelectorDatagramTransport._read_ready)
    assert "self._sock.recvfrom(self.max_size)" in read_ready
    assert "self._protocol.datagram_received(data, addr)" in read_ready
    assert "self._protocol.error_received(exc)" in read_ready
    assert "self._add_reader" in inspect.getsource(selector_events._SelectorDatagramTransport)
    assert "reader.cancel()" in inspect.getsource(selector_events.BaseSelectorEventLoop._add_reader)
    assert "self._sock_fd = " in inspect.getsource(selector_events._SelectorTransport)


async def test_a_burst_on_a_publisher_socket_reaches_aioice_in_one_loop_iteration(sfu_room):
    """A keyframe's packets queued on the SFU's publisher socket are all handed over at the first
    readiness event, not one per event-loop iteration; a STUN request behind them still reaches
    aioice, which answers it. The burst comes from the address the offer signalled as its
    candidate, as the peer's would: from anywhere else it would be dropped."""
    burst = 20
    _, room, events, _, _ = sfu_room
    judge = room.add_peer("judge", publish=True, subscribe=False, listener=events)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    client = new_peer_connection()
    client.addTransceiver(PatternVideoTrack(1), direction="sendonly")
    await client.setLocalDescription(await client.createOffer())
    offer = re.sub(
        r"127\.0\.0\.1 \d+ typ host",
        f"127.0.0.1 {sock.getsockname()[1]} typ host",
        client.localDescription.sdp,
    )
    answer = await judge.publisher_offer(offer)
    await client.close()  # never connects: nothing but this test reads the SFU's aioice queue
    port = int(re.search(r"127\.0\.0\.1 (\d+) typ host", answer).group(1))
    connection = rtc_internals.ice_connection(judge._publisher_pc)
    received = connection._queue  # non-STUN datagrams
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    server = ("127.0.0.1", port)
    try:
        # ICE checks started: the candidate is paired.
        await eventually(lambda: bool(connection._check_list), 5, "ICE checks", interval=0.01)
        # Loopback delivers within sendto: all of it waits on the socket before the loop runs.
        for seq in range(burst):
            sock.sendto(bytes([0x80, 96]) + seq.to_bytes(2, "big") + bytes(200), server)
        sock.sendto(bytes(request), server)
        # Each sleep(0) lets the loop run exactly one iteration (one select, one callback per
        # readable socket): what is queued at the first sighting came from a single read event.
        for _ in range(100):
            if not received.empty():
                break
            await asyncio.sleep(0)
        assert received.qsize() == burst
        while True:  # the SFU's own ICE checks to the candidate arrive here too
            response = stun.parse_message(await asyncio.wait_for(loop.sock_recv(sock, 2048), 5))
            if response.transaction_id == request.transaction_id:
                break
        assert response.message_class == stun.Class.ERROR  # no credentials: aioice refused it
    finally:
        sock.close()


def test_the_receive_guards_still_reach_what_they_replace():
    """`rtc_internals.guard` wraps each new connection's DTLS transport creation, replaces the
    DTLS receive loop by its mangled name and aioice's `data_received` per instance, adopts each
    StunProtocol in `connection_made` (its reader after asyncio's), and filters sources with the
    check list and the nominated pair."""
    assert "self.__createDtlsTransport()" in inspect.getsource(RTCPeerConnection)
    assert "StunProtocol(self)" in inspect.getsource(aioice.ice.Connection.get_component_candidates)
    assert "self.receiver = receiver" in inspect.getsource(aioice.ice.StunProtocol.__init__)
    datagram_init = inspect.getsource(selector_events._SelectorDatagramTransport.__init__)
    assert datagram_init.index("connection_made") < datagram_init.index("self._add_reader")
    start = inspect.getsource(RTCDtlsTransport.start)
    assert "asyncio.ensure_future(self.__run())" in start
    run = inspect.getsource(RTCDtlsTransport._RTCDtlsTransport__run)
    assert "await self._recv_next()" in run and "self._set_state(State.CLOSED)" in run
    assert "self.receiver.data_received(data, self.local_candidate.component)" in (
        inspect.getsource(aioice.ice.StunProtocol.datagram_received)
    )
    assert "self._queue.put_nowait((data, component))" in inspect.getsource(
        aioice.ice.Connection.data_received
    )
    assert "self._protocols += host_protocols" in inspect.getsource(
        aioice.ice.Connection.get_component_candidates
    )
    assert "self._closing = True" in inspect.getsource(aioice.ice.Connection.close)
    assert isinstance(aioice.ice.CandidatePair.remote_addr, property)
    assert "_check_list" in inspect.getsource(aioice.ice.Connection.check_incoming)
    # The upstream bug the size limit works around: a plain ValueError, not pylibsrtp.Error.
    session = pylibsrtp.Session(
        policy=pylibsrtp.Policy(key=bytes(30), ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    )
    with pytest.raises(pylibsrtp.Error):  # not authentic: what aiortc expects
        session.unprotect(bytes([0x80, 96]) + bytes(rtc_internals.MAX_DATAGRAM - 2))
    with pytest.raises(ValueError, match="too long"):  # what ended aiortc's receive loop
        session.unprotect(bytes([0x80, 96]) + bytes(rtc_internals.MAX_DATAGRAM - 1))
