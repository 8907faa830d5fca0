"""What a sidecar process (the recorder, the livestream compositor) is given by the control
plane's framework that runs it (signaling.sidecar_processes.SidecarHost): the channel to the
control plane, its data directory, a tap opener reading the workers' plain RTP over UDP, the
hearing records, alarms to the judge console, and a place for its own load figures. Typed here,
where both sidecar packages can import it without knowing the control plane."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from sfu.channel import Channel
from sfu.tap import OpenTap

Args = dict[str, Any]


class SidecarHost(Protocol):
    @property
    def channel(self) -> Channel: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def open_tap(self) -> OpenTap: ...

    def hearing(self, hearing_id: str) -> Awaitable[Any]: ...

    def alarm(self, hearing_id: str, alarm: Args) -> None: ...

    def add_load(self, figures: Callable[[], Args]) -> None: ...
