"""aiortc peers for tests: 127.0.0.1 candidates only, no ICE server, max-bundle."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtcconfiguration import RTCBundlePolicy

from sfu.rtc_internals import enable_loopback_candidates

__all__ = ["enable_loopback_candidates", "new_peer_connection"]


def new_peer_connection() -> RTCPeerConnection:
    """A client peer connection as the tests need it.

    No ICE server: aiortc would otherwise fall back to a public STUN server. MAX_BUNDLE: aiortc's
    default BALANCED policy mis-bundles an answer to an offer with two m-lines of one kind (the
    second stays on a transport that BUNDLE discarded, so that track never arrives).
    """
    enable_loopback_candidates()
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )
