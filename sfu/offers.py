"""What the SFU accepts in an SDP, checked before anything is applied to a connection.

A bad offer or answer becomes an `SfuError` with a sentence a client can act on, instead of
whatever aiortc raises half way through applying it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiortc import RTCSessionDescription
from aiortc import sdp as aiortc_sdp

from sfu.errors import SfuError
from sfu.publication import Publication

SUPPORTED_CODECS = ("audio/opus", "video/vp8", "video/h264")
SENDING = ("sendonly", "sendrecv")
RECEIVING = ("recvonly", "sendrecv")
MAX_SDP_BYTES = 64 * 1024


def session(sdp: str, kind: str) -> RTCSessionDescription:
    if not isinstance(sdp, str) or not sdp.strip():
        raise SfuError(f"the SDP {kind} is empty")
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise SfuError(f"the SDP {kind} is larger than {MAX_SDP_BYTES} bytes")
    if not sdp.lstrip().startswith("v=0"):
        raise SfuError(f"the SDP {kind} does not start with v=0")
    return RTCSessionDescription(sdp=sdp, type=kind)


def _media_sections(sdp: str, kind: str) -> list[Any]:
    """The audio/video m-lines of an SDP."""
    try:
        description = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as exc:  # the parser raises ValueError, KeyError, IndexError...
        raise SfuError(f"the SDP {kind} cannot be parsed: {exc}") from exc
    return [m for m in description.media if m.kind in ("audio", "video")]


def codec_ok(codec: Any) -> bool:
    mime = codec.mimeType.lower()
    if mime == "video/h264":
        return str(codec.parameters.get("packetization-mode", "0")) == "1"
    return mime in SUPPORTED_CODECS


def no_codec(kind: str) -> SfuError:
    return SfuError(
        f"no supported {kind} codec offered (supported: Opus, VP8, H.264 packetization-mode=1)"
    )


def check_publish_offer(sdp: str, limits: dict[str, int]) -> None:
    """A publisher's offer sends audio or video, within `limits` per kind, in a codec we forward."""
    sending = [m for m in _media_sections(sdp, "offer") if (m.direction or "sendrecv") in SENDING]
    if not sending:
        raise SfuError("the offer sends no audio or video")
    for kind, limit in limits.items():
        if sum(1 for m in sending if m.kind == kind) > limit:
            raise SfuError(f"at most {limit} {kind} tracks may be published at once")
    for media in sending:
        if not any(codec_ok(c) for c in media.rtp.codecs):
            raise no_codec(media.kind)


def check_whep_offer(sdp: str, source: Iterable[Publication]) -> None:
    """A WHEP offer receives audio or video and accepts the codec of each of the source's
    publications of a kind it receives (the SFU never transcodes)."""
    receiving = [
        m for m in _media_sections(sdp, "offer") if (m.direction or "sendrecv") in RECEIVING
    ]
    if not receiving:
        raise SfuError("the offer receives no audio or video")
    for publication in source:
        media = [m for m in receiving if m.kind == publication.kind]
        if media and not any(
            c.mimeType.lower() == publication.codec_key and codec_ok(c)
            for m in media
            for c in m.rtp.codecs
        ):
            raise SfuError(
                f"the source publishes {publication.codec}, which the offer does not accept"
            )
