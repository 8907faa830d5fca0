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
  readiness event, instead of asyncio's one datagram per event; on the way, datagrams from any
  address but the selected pair's remote (before ICE completes: a candidate of the check list), and
  datagrams too large for SRTP, are dropped, so that nobody but the peer reaches DTLS/SRTP;
- what waits for aiortc between aioice and DTLS is bounded, and an exception while handling one
  received datagram drops that datagram instead of ending the socket reader or the DTLS receive
  loop;
- every socket aioice binds for a connection is known as it is bound, so that all are closed with
  the connection (a close during gathering left some bound).

aiortc/aioice are pinned (pyproject.toml); tests/test_rtc_internals.py fails loudly if an upgrade
moves any attribute used here.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from asyncio import selector_events
from collections.abc import Awaitable, Callable
from typing import Any

import aioice.ice
import aiortc.rtcrtpreceiver
import pylibsrtp
from aioice import stun
from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters, RTCRtpSendParameters

from sfu.throttle import Throttle

log = logging.getLogger(__name__)

RtpHandler = Callable[[bytes], None]
ParamsHandler = Callable[[RTCRtpTransceiver, Any], Awaitable[None]]

# Datagrams read per readiness event at most, so that one busy socket cannot starve the others.
DRAIN_LIMIT = 64
# pylibsrtp's buffer: a larger datagram cannot be SRTP and makes `unprotect` raise ValueError.
# WebRTC stacks keep datagrams under the path MTU (~1200 B for browsers and ffmpeg).
MAX_DATAGRAM = 1500
# Bytes asyncio may buffer for one socket when the kernel's send buffer is full; beyond, drop.
MAX_SEND_BUFFER = 256 * 1024
# A peer's receive errors are logged at most once per this many seconds.
ERROR_LOG_INTERVAL = 60.0
STUN_COOKIE = stun.COOKIE.to_bytes(4, "big")


class Drops:
    """Process-wide counts of what the media plane threw away (exported on /metrics)."""

    def __init__(self) -> None:
        self.datagrams_foreign = 0  # not from the peer's selected (or checked) address
        self.datagrams_oversized = 0
        self.ice_queue_drops = 0  # aioice's queue towards DTLS was full
        self.receive_errors = 0  # handling one received datagram raised
        self.send_drops = 0  # could not be protected, or the socket's buffer was full

    def stats(self) -> dict[str, int]:
        return dict(vars(self))


drops = Drops()


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
        sock = pair.protocol.transport._sock  # type: ignore[attr-defined]
        path[0] = (pair, sock.sendto, pair.remote_addr)
        return path[0]

    def sender(rtcp: bool) -> Callable[[bytes], bool]:
        def send(data: bytes) -> bool:
            current = path[0]
            if current is None:
                current = resolve()
                if current is None:
                    return False
            srtp = dtls._tx_srtp
            try:
                protected = srtp.protect_rtcp(data) if rtcp else srtp.protect(data)
                current[1](protected, current[2])
            except BlockingIOError:
                # Socket buffer full: let asyncio queue it rather than drop it, up to a bound.
                transport = current[0].protocol.transport
                if transport.get_write_buffer_size() > MAX_SEND_BUFFER:
                    drops.send_drops += 1
                    return False
                transport.sendto(protected, current[2])
            except OSError:
                path[0] = None
                return False
            except (ValueError, pylibsrtp.Error):
                # Too long to protect (pylibsrtp's buffer), or refused by libsrtp: this
                # subscriber misses the packet; the others of the fan-out must not.
                drops.send_drops += 1
                return False
            return True

        return send

    return sender(False), sender(True)


def guard(pc: RTCPeerConnection, label: str, queue_limit: int) -> None:
    """Make what a peer connection receives harmless, whoever sends it. Call it on a new
    connection, before anything else: each ICE connection aiortc makes for it is guarded as it is
    made, and each socket aioice binds for one as it is bound, so no datagram ever arrives
    unguarded (not even between gathering and the answer) and every socket is known to
    `release_sockets`.

    - Each socket is read until it is empty per readiness event (up to `DRAIN_LIMIT`), not one
      datagram at a time: asyncio's datagram transport does one `recvfrom` per readiness event, so a
      keyframe's burst (~20 packets back to back from a publisher without a pacer) waited ~20
      event-loop iterations in the kernel buffer.
    - On the way, only the peer's datagrams are let through (`_read_all`); STUN from anyone still
      reaches aioice, which checks message integrity itself.
    - aioice's queue of non-STUN datagrams, which nothing reads until ICE and DTLS are up, holds at
      most ``queue_limit`` of them.
    - An exception while handling one received datagram, in the socket reader or in aiortc's DTLS
      receive loop (`_guarded_run`), drops that datagram; ``label`` names the peer in the
      (rate-limited) log line.
    """
    _adopt_protocols()
    shield = _Shield(label, queue_limit)
    pc._cloudcourt_shield = shield  # type: ignore[attr-defined]
    create = pc._RTCPeerConnection__createDtlsTransport  # type: ignore[attr-defined]

    def create_guarded() -> RTCDtlsTransport:
        dtls: RTCDtlsTransport = create()
        connection = dtls.transport._connection
        connection._cloudcourt_shield = shield  # type: ignore[attr-defined]
        _bound_queue(connection, queue_limit)
        # aiortc starts `self.__run()` once DTLS is up; an instance attribute wins the lookup.
        dtls._RTCDtlsTransport__run = lambda: _guarded_run(dtls, shield)  # type: ignore[attr-defined]
        return dtls

    # aiortc calls `self.__createDtlsTransport()` for each transceiver (and SCTP) it adds.
    pc._RTCPeerConnection__createDtlsTransport = create_guarded  # type: ignore[attr-defined]


class _Shield:
    """A guarded peer connection's sockets and its receive errors' log."""

    def __init__(self, label: str, queue_limit: int) -> None:
        self.label = label
        self.queue_limit = queue_limit
        # Every StunProtocol aioice made for the connection, as it was made: aioice itself keeps
        # the ones of a gathering only in a local list until the gathering ends, so a gathering
        # cancelled half way (a peer closed meanwhile) left them bound, unknown to its close().
        self.protocols: list[aioice.ice.StunProtocol] = []
        self.released = False
        self._log = Throttle(ERROR_LOG_INTERVAL)

    def adopt(self, protocol: aioice.ice.StunProtocol) -> None:
        transport = protocol.transport
        if self.released:  # bound after the connection was released: nobody will use it
            transport.close()
            return
        self.protocols.append(protocol)
        # Only asyncio's own UDP transports: a TURN relay (aioice's TurnTransport) and uvloop
        # have read loops of their own (their datagrams still meet the bounded queue).
        if isinstance(transport, selector_events._SelectorDatagramTransport):  # type: ignore[attr-defined]
            # asyncio registers its own reader right after `connection_made` (call_soon, in
            # order); ours must come after it, since `_add_reader` replaces a registered one.
            transport._loop.call_soon(self._read_through_guard, transport, protocol)

    def _read_through_guard(self, transport: Any, protocol: aioice.ice.StunProtocol) -> None:
        if transport.is_closing():
            return
        remote: list[Any] = [None]  # the selected pair's remote address, once known
        transport._loop._add_reader(
            transport._sock_fd, _read_all, transport, protocol, protocol.receiver, self, remote
        )

    def error(self, exc: Exception) -> None:
        """Count a received datagram whose handling raised; log one line for it now and then."""
        drops.receive_errors += 1
        unlogged = self._log.allow()
        if unlogged is None:
            return
        where = traceback.extract_tb(exc.__traceback__)[-1:]
        # One line, no traceback: anyone can send the datagrams that cause it.
        log.warning(
            "%s: dropped a received datagram whose handling failed: %s: %s%s "
            "(%d more since the last report)",
            self.label,
            type(exc).__name__,
            exc,
            f" (at {where[0].filename}:{where[0].lineno})" if where else "",
            unlogged,
        )


_original_connection_made = aioice.ice.StunProtocol.connection_made


def _adopt_protocols() -> None:
    """Have every StunProtocol made for a guarded connection join its shield as it connects
    (aioice makes them with a lambda of its own: no per-connection hook)."""
    if getattr(aioice.ice.StunProtocol.connection_made, "_cloudcourt_adopting", False):
        return

    def connection_made(self: aioice.ice.StunProtocol, transport: asyncio.BaseTransport) -> None:
        _original_connection_made(self, transport)
        shield = getattr(self.receiver, "_cloudcourt_shield", None)
        if shield is not None:
            shield.adopt(self)

    connection_made._cloudcourt_adopting = True  # type: ignore[attr-defined]
    aioice.ice.StunProtocol.connection_made = connection_made  # type: ignore[method-assign]


def _read_all(
    transport: Any,
    protocol: aioice.ice.StunProtocol,
    connection: Any,
    shield: _Shield,
    remote: list[Any],
) -> None:
    """asyncio's `_SelectorDatagramTransport._read_ready`, looped until the socket is empty, with
    one tuple comparison per datagram for its source (`_admit` only when it differs).

    What cannot be STUN (RFC 7983: a first byte over 3; DTLS, RTP, RTCP) goes straight to the
    bounded queue, which is where aioice's `datagram_received` puts it too, but only after trying
    to parse it as STUN and catching the ValueError (for every RTP packet)."""
    recvfrom = transport._sock.recvfrom
    size = MAX_DATAGRAM + 1  # one byte more than the largest kept: longer ones arrive truncated
    received = protocol.datagram_received
    deliver = connection.data_received  # `_bound_queue`'s
    component = protocol.local_candidate.component
    for _ in range(DRAIN_LIMIT):
        if transport.is_closing():  # closed by the protocol's callback: read no more
            return
        try:
            data, addr = recvfrom(size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            protocol.error_received(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            transport._fatal_error(exc, "Fatal read error on datagram transport")
            return
        if addr != remote[0] and not _admit(protocol, connection, remote, data, addr):
            drops.datagrams_foreign += 1
        elif len(data) > MAX_DATAGRAM:
            drops.datagrams_oversized += 1
        elif data and data[0] > 3:
            deliver(data, component)
        else:
            try:
                received(data, addr)
            except Exception as exc:  # aioice's STUN parser raises struct.error for some
                shield.error(exc)


def _admit(
    protocol: aioice.ice.StunProtocol,
    connection: Any,
    remote: list[Any],
    data: bytes,
    addr: tuple[Any, ...],
) -> bool:
    """Whether a datagram from an address other than the remembered one may reach aioice: from
    the selected pair's remote (then remembered), before ICE completes from a pair of the check
    list (a signalled candidate, or a peer-reflexive one learnt from an authenticated check), and
    what looks like STUN from anyone (aioice parses it, and checks its integrity)."""
    source = (addr[0], addr[1])
    pair = connection._nominated.get(protocol.local_candidate.component)
    if pair is not None:
        if pair.protocol is protocol and pair.remote_addr == source:
            remote[0] = addr
            return True
    elif any(p.protocol is protocol and p.remote_addr == source for p in connection._check_list):
        return True
    return (
        len(data) >= 20
        and data[0] <= 3
        and data[4:8] == STUN_COOKIE
        and int.from_bytes(data[2:4], "big") == len(data) - 20
    )


def _bound_queue(connection: aioice.ice.Connection, limit: int) -> None:
    """aioice puts every non-STUN datagram into an unbounded `asyncio.Queue` that nothing reads
    before DTLS starts. Bounded where it is filled, not by `maxsize`: `close()` must always be
    able to put its end marker."""
    queue = connection._queue

    def data_received(data: bytes, component: int) -> None:
        if queue.qsize() >= limit:
            drops.ice_queue_drops += 1
            return
        queue.put_nowait((data, component))

    connection.data_received = data_received  # type: ignore[method-assign]


async def _guarded_run(dtls: RTCDtlsTransport, shield: _Shield) -> None:
    """aiortc's `RTCDtlsTransport.__run`, except that an exception while handling one datagram
    (pylibsrtp's ValueError for a packet too long; a bug of ours in a media handler) drops that
    datagram. aiortc's loop catches only `pylibsrtp.Error` and `SSL.Error`: anything else ended
    it for good, and the peer's media with it, while ICE and the connection state stayed
    "connected". The loop still ends when the transport does (ConnectionError, cancellation).
    aiortc's loop also tells its RTP receivers of a disconnect; the SFU never starts them."""
    try:
        while True:
            try:
                await dtls._recv_next()
            except ConnectionError:
                return
            except Exception as exc:
                shield.error(exc)
    finally:
        dtls._set_state(State.CLOSED)


async def release_sockets(pc: RTCPeerConnection) -> None:
    """Close every socket aioice bound for a guarded peer connection that is being closed, now
    and when bound later: its close() closes only the sockets of gatherings that ended, while
    one still under way (a negotiation abandoned half way) goes on binding, and a cancelled one
    leaves what it had bound to nobody."""
    shield: _Shield | None = getattr(pc, "_cloudcourt_shield", None)
    if shield is None:
        return
    shield.released = True
    protocols, shield.protocols = shield.protocols, []
    for protocol in protocols:
        if not protocol.transport.is_closing():
            await protocol.close()


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
    name: str = pc._RTCPeerConnection__cname  # type: ignore[attr-defined]
    return name


_decoders_created = 0


def count_decoders() -> None:
    """Count every decoder aiortc creates in this process (its receivers' decoder threads call
    `get_decoder` on their first frame). In a server process nothing else uses aiortc, so the
    count is the SFU's: it must stay 0."""
    original = aiortc.rtcrtpreceiver.get_decoder  # type: ignore[attr-defined]
    if getattr(original, "_cloudcourt_counting", False):
        return

    def counting_get_decoder(codec: Any) -> Any:
        global _decoders_created
        _decoders_created += 1
        return original(codec)

    counting_get_decoder._cloudcourt_counting = True  # type: ignore[attr-defined]
    aiortc.rtcrtpreceiver.get_decoder = counting_get_decoder  # type: ignore[attr-defined]


def decoders_created() -> int:
    return _decoders_created
