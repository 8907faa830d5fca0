"""Control plane: HTTP API, Socket.IO events, WHIP/WHEP, tokens, hearings, store, CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cloudcourt")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
