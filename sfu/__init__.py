"""Media plane: forwards RTP between peers without decoding; knows nothing of hearings or roles."""

from sfu.api import PublicationInfo
from sfu.channel import Channel, ChannelClosed, RemoteError
from sfu.config import SfuConfig
from sfu.errors import SfuError
from sfu.peer import Peer, PeerListener
from sfu.placement import TrackInfo
from sfu.publication import Publication
from sfu.remote import RemoteWorker
from sfu.room import Room, RoomListener
from sfu.tap import MediaSource, MuteChange, OpenTap, SenderReport, Tap, TapEntry, TapInfo
from sfu.worker import Worker

__all__ = [
    "Channel",
    "ChannelClosed",
    "MediaSource",
    "MuteChange",
    "OpenTap",
    "Peer",
    "PeerListener",
    "Publication",
    "PublicationInfo",
    "RemoteError",
    "RemoteWorker",
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
