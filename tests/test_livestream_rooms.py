"""The public stream shows the main room only (issue 13): judged on the composite's segments.

A judge and two parties publish (real aiortc peers into an in-process SFU room, each drawing its
own id into its picture and sending its own tone); the livestream streams them as the control
plane tells it of rooms (`room_changed`, the rooms protocol's shape). A party moved into a
private room leaves the picture and the sound; the judge following them there (a caucus, nobody
moderating the main room) puts the "休庭/调解中" card on air, with no one's picture and no sound;
the room closed, everyone is back.
"""

from __future__ import annotations

import io
import time

import av
import numpy as np
import pytest

from livestream.captions import Rasterizer
from livestream.composite import BANNER, WAITING_TEXT
from livestream.encoder import EncoderSettings
from livestream.playlist import LOG, read_log
from livestream.rooms import RECESS_TEXT
from livestream.sidecar import Livestream
from signaling.sidecar_processes import SidecarParticipant
from tests.clients.hls import decode_segment
from tests.e2e import eventually
from tests.sfu_harness import publish
from tests.test_livestream import read_tile, tiles, unit_hearing

pytestmark = pytest.mark.serial  # encodes in real time

JUDGE, PARTY_A, PARTY_B = 11, 12, 13
IDS = {JUDGE: "p_judge", PARTY_A: "p_a", PARTY_B: "p_b"}
ROLES = {JUDGE: "judge", PARTY_A: "party", PARTY_B: "party"}
SETTINGS = EncoderSettings()
CAUCUS = {"id": "r_caucus01", "kind": "private", "name": "调解室", "recorded": False}
MAIN = {"id": "main", "kind": "main", "name": "主法庭", "recorded": False}


def change(action: str, room: dict, who: int | None = None, source=None, target=None) -> dict:
    return {
        "at": time.time(),
        "by": IDS[JUDGE],
        "participant": IDS[who] if who else None,
        "from": source,
        "to": target,
        "action": action,
        "room": room,
    }


def loudness(data: bytes) -> float:
    """The RMS of a segment's sound (AAC of silence decodes to ~0; a tone to ~0.1)."""
    with av.open(io.BytesIO(data), format="mpegts") as container:
        samples = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return float(np.sqrt(np.mean(np.concatenate(samples) ** 2)))


def ink_error(luma: np.ndarray, text: str) -> float:
    """How far the middle of the picture is from ``text`` drawn there as the composite centres a
    card (0 the same)."""
    mask = Rasterizer().mask(text, 28)
    h, w = mask.shape
    area = SETTINGS.height - BANNER
    x, y = (SETTINGS.width - w) // 2, BANNER + (area - h) // 2
    ink = np.clip((luma[y : y + h, x : x + w].astype(float) - 16) / 219, 0, 1)
    return float(np.abs(ink - mask / 255).mean())


async def test_the_public_sees_the_main_room_only_and_a_card_in_recess(sfu_room, tmp_path):
    _, room, events, _, pcs = sfu_room
    speakers = {}
    for sender, pid in IDS.items():
        peer = room.add_peer(pid, publish=True, subscribe=False, listener=events)
        pcs.append(await publish(peer, sender))
        speakers[sender] = SidecarParticipant(pid, f"name{sender}", ROLES[sender], False)
    await events.wait(lambda: len(events.publications) == 6)

    async def open_tap(hearing_id, publication):
        return room.tap(publication.id)

    stream = Livestream(tmp_path, 0.0, lambda *_: None, open_tap=open_tap)
    hearing = unit_hearing("h_rooms")
    log = stream.directory(hearing.id) / LOG
    everyone = tiles([(IDS[s], ROLES[s]) for s in IDS])
    without_a = tiles([(IDS[JUDGE], "judge"), (IDS[PARTY_B], "party")])
    every_tile = [*everyone.values(), *without_a.values()]

    def shown_since(index: int) -> list[tuple[bytes, list[np.ndarray]]]:
        """The public segments encoded after segment ``index``: (file, pictures)."""
        found = []
        for entry in read_log(log):
            if entry.index > index:
                data = (log.parent / f"seg{entry.index:06d}.ts").read_bytes()
                found.append((data, decode_segment(data).video))
        return found

    def last_index() -> int:
        return max((e.index for e in read_log(log)), default=-1)

    async def phase(at: int, check, what: str) -> list:
        """Two whole segments made after the change: the one in progress then (one finished may
        also be on its way to the playlist) may show both."""
        seen: list = []

        def made() -> bool:
            seen[:] = shown_since(at + 2)
            return len(seen) >= 2 and check(seen[-1][1])

        await eventually(made, 30, what)
        return seen

    def visible(frames, where, sender) -> bool:
        return sum(read_tile(f, where[IDS[sender]]) == sender for f in frames) > len(frames) // 2

    try:
        for sender, publication in [
            (s, p) for p in events.publications for s, pid in IDS.items() if p.peer_id == pid
        ]:
            stream.publication_added(hearing.id, speakers[sender], publication.info())
        assert await stream.start_stream(hearing, set())
        await phase(-2, lambda f: all(visible(f, everyone, s) for s in IDS), "everyone on air")

        # Party A goes into a caucus room; the judge stays in the main room.
        stream.room_changed(hearing.id, change("open", CAUCUS))
        stream.room_changed(hearing.id, change("move", CAUCUS, PARTY_A, "main", CAUCUS["id"]))
        at = last_index()
        seen = await phase(
            at,
            lambda f: visible(f, without_a, JUDGE) and visible(f, without_a, PARTY_B),
            "the main room without party A",
        )
        for _, frames in seen:
            assert not any(read_tile(f, t) == PARTY_A for f in frames for t in every_tile)

        # The judge joins them: nobody moderates the main room, the public sees the recess card.
        stream.room_changed(hearing.id, change("move", CAUCUS, JUDGE, "main", CAUCUS["id"]))
        at = last_index()
        seen = await phase(
            at, lambda f: ink_error(f[-1], RECESS_TEXT) < 0.05, "the recess card on air"
        )
        for data, frames in seen:
            found = {read_tile(f, t) for f in frames for t in every_tile}
            assert not found & set(IDS), found
            assert loudness(data) < 0.005, loudness(data)  # and nothing of anyone heard
        luma = seen[-1][1][-1]
        assert ink_error(luma, RECESS_TEXT) < ink_error(luma, WAITING_TEXT) / 2

        # The room closes: its members are back in the main room, seen and heard.
        stream.room_changed(hearing.id, change("move", MAIN, JUDGE, CAUCUS["id"], "main"))
        stream.room_changed(hearing.id, change("move", MAIN, PARTY_A, CAUCUS["id"], "main"))
        stream.room_changed(hearing.id, change("close", CAUCUS))
        at = last_index()
        seen = await phase(
            at, lambda f: all(visible(f, everyone, s) for s in IDS), "everyone back on air"
        )
        assert loudness(seen[-1][0]) > 0.02
    finally:
        await stream.close()
