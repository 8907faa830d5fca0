"""Guards for the aiortc/aioice private internals the SFU relies on (sfu/rtc_internals.py).

If an aiortc or aioice upgrade renames or reshapes any of them, these fail with the attribute's
name instead of the SFU silently decoding, dropping media or disconnecting ffmpeg after 30 s.
"""

from __future__ import annotations

import inspect

import aioice.ice
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport

from sfu import rtc_internals


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
    await pc.close()


def test_aioice_host_address_hook_and_consent_settings():
    assert callable(aioice.ice.get_host_addresses)
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)
    assert "_query_consent_task" in inspect.getsource(aioice.ice.Connection.query_consent)
    rtc_internals.enable_loopback_candidates()
    try:
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
    finally:
        rtc_internals.disable_loopback_candidates()
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
