"""A participant who shares a screen (evidence) beside camera and microphone, as the browser does:
three sendonly tracks in one publish, the screen's mid labelled in `sources` (docs/PROTOCOL.md)."""

from __future__ import annotations

from aiortc import RTCSessionDescription

from .loopback import new_peer_connection
from .media import PatternVideoTrack, ToneAudioTrack
from .participant import Participant


async def publish_with_screen(
    participant: Participant, screen_id: int, width: int = 640, height: int = 360
) -> dict:
    """Publish microphone, camera (the participant's pattern) and a screen whose pattern carries
    ``screen_id``, so that a reader of the picture knows which of the two it sees."""
    pc = new_peer_connection()
    participant.pub_pc = pc  # closed with the participant
    participant.audio_track = ToneAudioTrack(participant.media_id)
    pc.addTransceiver(participant.audio_track, direction="sendonly")
    participant.video_track = PatternVideoTrack(
        participant.media_id, *participant.size, fps=participant.fps
    )
    pc.addTransceiver(participant.video_track, direction="sendonly")
    screen = pc.addTransceiver(
        PatternVideoTrack(screen_id, width, height, fps=participant.fps), direction="sendonly"
    )
    await pc.setLocalDescription(await pc.createOffer())
    ack = await participant.call(
        "publish",
        {"sdp": pc.localDescription.sdp, "type": "offer", "sources": {screen.mid: "screen"}},
    )
    await pc.setRemoteDescription(RTCSessionDescription(sdp=ack["sdp"], type="answer"))
    return ack
