"""Media plane: forwards RTP between peers without decoding; knows nothing of hearings or roles."""

from sfu.config import SfuConfig
from sfu.errors import SfuError
from sfu.peer import Peer, PeerListener
from sfu.placement import TrackInfo
from sfu.publication import Publication
from sfu.room import Room, RoomListener
from sfu.tap import MuteChange, SenderReport, Tap, TapEntry, TapInfo
from sfu.worker import Worker

__all__ = [
    "MuteChange",
    "Peer",
    "PeerListener",
    "Publication",
    "Room",
    "RoomListener",
    "SenderReport",
    "SfuConfig",
    "SfuError",
    "Tap",
    "TapEntry",
    "TapInfo",
    "TrackInfo",
    "Worker",
]
