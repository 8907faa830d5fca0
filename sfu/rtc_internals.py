"""Every use of aiortc's and aioice's private internals, in one place.

aiortc has no public API for raw RTP (its receivers always depayload and decode; its senders always
packetize). The SFU keeps aiortc for SDP, ICE and DTLS and takes over the media path here:

- received SRTP is decrypted by the DTLS transport, then handed to the SFU as bytes instead of
  being parsed and routed to an `RTCRtpReceiver` (which would start a decoder thread);
- `RTCRtpReceiver.receive` / `RTCRtpSender.send` are replaced per object so that no decoder thread,
  no encoder and no RTCP task of aiortc's ever starts; the negotiated parameters are captured;
- outgoing packets are SRTP-protected with the transport's session and written straight to the
  nominated candidate pair's datagram transport, skipping three awaits per packet;
- each of a connection's sockets is read until it is empty (up to `DRAIN_LIMIT` datagrams) per
  readiness event, instead of asyncio's one datagram per event.

aiortc/aioice are pinned (pyproject.toml); tests/test_rtc_internals.py fails loudly if an upgrade
moves any attribute used here.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import selector_events
from collections.abc import Awaitable, Callable
from typing import Any

import aioice.ice
import aiortc.rtcrtpreceiver
from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters, RTCRtpSendParameters

log = logging.getLogger(__name__)

RtpHandler = Callable[[bytes], None]
ParamsHandler = Callable[[RTCRtpTransceiver, Any], Awaitable[None]]

# Datagrams read per readiness event at most, so that one busy socket cannot starve the others.
DRAIN_LIMIT = 64

_original_get_host_addresses = aioice.ice.get_host_addresses


_original_add_remote_candidate = aioice.ice.Connection.add_remote_candidate


def enable_loopback_candidates() -> None:
    """Use 127.0.0.1 only: gather only it (aioice leaves loopback out on purpose) and ignore every
    other remote candidate, whether trickled or written in an SDP (Chrome writes mDNS `.local`
    names, which aioice would resolve with multicast on every interface).

    Used by tests, benchmarks and single-machine demos: traffic can then never leave the machine.
    """

    def loopback_only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    async def add_loopback_candidate(
        self: aioice.ice.Connection, remote_candidate: aioice.Candidate | None
    ) -> None:
        if remote_candidate is None or remote_candidate.host == "127.0.0.1":
            await _original_add_remote_candidate(self, remote_candidate)

    aioice.ice.get_host_addresses = loopback_only
    aioice.ice.Connection.add_remote_candidate = add_loopback_candidate  # type: ignore[method-assign]


def disable_loopback_candidates() -> None:
    aioice.ice.get_host_addresses = _original_get_host_addresses
    aioice.ice.Connection.add_remote_candidate = _original_add_remote_candidate  # type: ignore[method-assign]


def dtls_transport(pc: RTCPeerConnection) -> RTCDtlsTransport | None:
    """The (BUNDLE-shared) DTLS transport of a peer connection's first transceiver."""
    transceivers = pc.getTransceivers()
    return transceivers[0].receiver.transport if transceivers else None


def hook_media(dtls: RTCDtlsTransport, on_rtp: RtpHandler, on_rtcp: RtpHandler) -> None:
    """Route decrypted RTP/RTCP of this transport to the SFU as bytes, bypassing RtpRouter."""
    if getattr(dtls, "_cloudcourt_hooked", False):
        return

    async def handle_rtp(data: bytes, arrival_time_ms: int) -> None:
        on_rtp(data)

    async def handle_rtcp(data: bytes) -> None:
        on_rtcp(data)

    dtls._handle_rtp_data = handle_rtp  # type: ignore[method-assign]
    dtls._handle_rtcp_data = handle_rtcp  # type: ignore[method-assign]
    dtls._cloudcourt_hooked = True  # type: ignore[attr-defined]


def take_over_transceiver(transceiver: RTCRtpTransceiver, on_params: ParamsHandler) -> None:
    """Keep aiortc's receiver/sender from starting; report negotiated parameters instead.

    aiortc calls `receiver.receive(params)` / `sender.send(params)` once DTLS is up (again after
    each renegotiation); `stop()` stays harmless because aiortc's own "started" flag never flips.
    """

    async def receive(parameters: RTCRtpReceiveParameters) -> None:
        await on_params(transceiver, parameters)

    async def send(parameters: RTCRtpSendParameters) -> None:
        await on_params(transceiver, parameters)

    transceiver.receiver.receive = receive  # type: ignore[method-assign]
    transceiver.sender.send = send  # type: ignore[method-assign]


def sender_ssrc(transceiver: RTCRtpTransceiver) -> int:
    return transceiver.sender._ssrc


def set_stream_id(transceiver: RTCRtpTransceiver, stream_id: str) -> None:
    """The msid stream of an outgoing track: one stream per publishing peer, so that a browser
    lip-syncs each participant's audio with that participant's video."""
    transceiver.sender._stream_id = stream_id


def keep_codecs(transceiver: RTCRtpTransceiver, keep: Callable[[Any], bool]) -> None:
    """Trim what an answer will accept (no RTX, one video codec) before createAnswer."""
    transceiver._codecs = [c for c in transceiver._codecs if keep(c)]


def peer_sends(transceiver: RTCRtpTransceiver) -> bool:
    """Whether the remote's last offer has it sending on this transceiver (a stopped screen
    share turns its m-line to inactive or recvonly)."""
    return transceiver._offerDirection in ("recvonly", "sendrecv")


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[Any]:
    return list(transceiver._codecs)


def ice_connection(pc: RTCPeerConnection) -> aioice.ice.Connection | None:
    dtls = dtls_transport(pc)
    return dtls.transport._connection if dtls is not None else None


def make_sender(dtls: RTCDtlsTransport) -> tuple[Callable[[bytes], bool], Callable[[bytes], bool]]:
    """Synchronous `send_rtp(data)` / `send_rtcp(data)` that protect and write in one step.

    They return False (and drop the packet) when the transport is not connected yet or any more.
    The send path (the nominated pair's socket and address) is resolved once and reused while
    DTLS stays up (aiortc does no ICE restart, so the nominated pair does not change under a
    connected transport): resolving it per packet, through asyncio's `sendto` wrapper, was a fifth
    of the forwarding loop's CPU in the benchmark's profile.
    """
    connection = dtls.transport._connection
    path: list[Any] = [None]  # (nominated pair, socket.sendto, remote address)

    @dtls.on("statechange")
    def forget() -> None:
        path[0] = None

    def resolve() -> Any:
        if dtls.state != "connected" or dtls._tx_srtp is None:
            return None
        pair = connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            return None
        path[0] = (pair, pair.protocol.transport._sock.sendto, pair.remote_addr)
        return path[0]

    def sender(rtcp: bool) -> Callable[[bytes], bool]:
        def send(data: bytes) -> bool:
            current = path[0]
            if current is None:
                current = resolve()
                if current is None:
                    return False
            srtp = dtls._tx_srtp
            protected = srtp.protect_rtcp(data) if rtcp else srtp.protect(data)
            try:
                current[1](protected, current[2])
            except BlockingIOError:
                # Socket buffer full: let asyncio queue it rather than drop it.
                current[0].protocol.transport.sendto(protected, current[2])
            except OSError:
                path[0] = None
                return False
            return True

        return send

    return sender(False), sender(True)


def drain_reads(pc: RTCPeerConnection) -> None:
    """Read every datagram waiting on this connection's sockets per readiness event (up to
    `DRAIN_LIMIT`), not just one.

    asyncio's datagram transport does one `recvfrom` per readiness event, so a socket yields one
    packet per event-loop iteration, however long the fan-out of everything else in that iteration
    took: a keyframe's burst (~20 packets back to back from a publisher without a pacer) waited
    ~20 iterations in the kernel buffer. Every datagram still goes to aioice's protocol, STUN
    included; only the read loop changes. Call it once the connection has gathered its candidates
    (after `setLocalDescription`): asyncio registers a socket's reader before
    `create_datagram_endpoint` returns, and `_add_reader` replaces a registered one.
    """
    connection = ice_connection(pc)
    for protocol in connection._protocols if connection is not None else ():
        transport = protocol.transport
        # Only asyncio's own UDP transports: a TURN relay (aioice's TurnTransport) and uvloop
        # have read loops of their own.
        if not isinstance(transport, selector_events._SelectorDatagramTransport):
            continue
        if transport.is_closing() or getattr(transport, "_cloudcourt_draining", False):
            continue
        transport._loop._add_reader(transport._sock_fd, _read_all, transport)
        transport._cloudcourt_draining = True  # type: ignore[attr-defined]


def _read_all(transport: Any) -> None:
    """asyncio's `_SelectorDatagramTransport._read_ready`, looped until the socket is empty."""
    for _ in range(DRAIN_LIMIT):
        if transport.is_closing():  # closed by the protocol's callback: read no more
            return
        try:
            data, addr = transport._sock.recvfrom(transport.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            transport._protocol.error_received(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            transport._fatal_error(exc, "Fatal read error on datagram transport")
            return
        transport._protocol.datagram_received(data, addr)


def disable_consent_checks(pc: RTCPeerConnection) -> bool:
    """Stop RFC 7675 consent checks on this connection.

    ffmpeg's WHIP muxer never answers them once it streams, so aioice would drop every ffmpeg
    publish after ~30 s. The SFU detects dead publishers by RTP inactivity instead.
    Returns False while the checks have not started yet (ICE still connecting).
    """
    connection = ice_connection(pc)
    if connection is None:
        return False
    task: asyncio.Task[None] | None = connection._query_consent_task
    if task is None:
        return False
    task.cancel()
    connection._query_consent_task = None
    return True


def cname(pc: RTCPeerConnection) -> str:
    """The CNAME aiortc wrote into this connection's SDP; our SRs must carry the same one."""
    return pc._RTCPeerConnection__cname  # type: ignore[attr-defined]


_decoders_created = 0


def count_decoders() -> None:
    """Count every decoder aiortc creates in this process (its receivers' decoder threads call
    `get_decoder` on their first frame). In a server process nothing else uses aiortc, so the
    count is the SFU's: it must stay 0."""
    original = aiortc.rtcrtpreceiver.get_decoder
    if getattr(original, "_cloudcourt_counting", False):
        return

    def counting_get_decoder(codec: Any) -> Any:
        global _decoders_created
        _decoders_created += 1
        return original(codec)

    counting_get_decoder._cloudcourt_counting = True  # type: ignore[attr-defined]
    aiortc.rtcrtpreceiver.get_decoder = counting_get_decoder


def decoders_created() -> int:
    return _decoders_created
