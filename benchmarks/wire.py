"""The load generator's own uses of aiortc/aioice internals (client side only).

`sfu/rtc_internals.py` holds the server's; these are the two the generator adds to stay cheap:

- a counting subscriber reads RTP headers straight off its ICE socket. SRTP leaves the RTP header
  in clear, so sequence number, marker bit, SSRC and header extensions can be read without
  decrypting, and aioice (STUN parsing, a queue, three awaits) and aiortc (SRTP, routing) never see
  the packet. That is several times cheaper per packet than the normal receive path, which matters
  because the generator shares the machine with the server it measures;
- a replaying publisher learns about the server's keyframe requests (aiortc's sender only sets a
  flag that pre-encoded packets ignore).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender

from sfu import rtc_internals


def is_rtp(data: bytes) -> bool:
    """SRTP rather than STUN (first byte 0-3), DTLS (20-63) or RTCP (second byte 192-223)."""
    return len(data) >= 12 and 128 <= data[0] < 192 and not 192 <= data[1] <= 223


def intercept_rtp(pc: RTCPeerConnection, on_rtp: Callable[[bytes], None]) -> None:
    """Hand every RTP packet arriving on this connection's sockets to `on_rtp`, still encrypted;
    everything else (STUN consent checks, DTLS, RTCP) goes its usual way."""
    connection = rtc_internals.ice_connection(pc)
    if connection is None:
        raise RuntimeError("the connection has no ICE transport yet")
    for protocol in connection._protocols:
        if getattr(protocol, "_bench_intercepted", False):
            continue
        original = protocol.datagram_received

        def datagram_received(data: Any, addr: Any, original: Any = original) -> None:
            if is_rtp(data):
                on_rtp(data)
            else:
                original(data, addr)

        protocol.datagram_received = datagram_received  # type: ignore[method-assign]
        protocol._bench_intercepted = True  # type: ignore[attr-defined]


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` when the remote asks this sender for a keyframe (PLI or FIR)."""
    sender._send_keyframe = callback  # type: ignore[method-assign]
