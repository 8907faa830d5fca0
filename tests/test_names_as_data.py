"""Names and titles are data, never syntax: whatever characters a participant's name, a court's
name or a hearing's title holds, the public stream stays on air and shows exactly that text, and
the composite archive builds and plays.

The stream's captions are drawn in-process with FreeType; the reference is the same font drawing
the expected text handed over as a plain string, so a caption that interprets, drops or adds a
character differs from it. On air: a real server, real aiortc publishers, HLS read back and
decoded; the archive (ffmpeg's drawtext) decoded frame by frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from pathlib import Path

import av
import numpy as np
import psutil
import pytest
import pytest_asyncio
from PIL import Image, ImageDraw, ImageFont

from livestream.captions import Rasterizer
from livestream.composite import CAPTION
from livestream.layout import caption, cjk_font
from recorder.archive import ArchiveError, build
from recorder.manifest import Manifest
from recorder.summary import summarize
from tests.clients.recordings import wait_recorded
from tests.e2e import Api, Cast, eventually
from tests.signaling_server import start_server
from tests.test_livestream import live_segments, read_tile, tiles
from tests.test_recorder_e2e import archive_ready

# Alone, after the parallel run (scripts/test): it encodes in real time or measures CPU.
pytestmark = [pytest.mark.timeout(240), pytest.mark.serial]
on_the_server = pytest.mark.asyncio(loop_scope="module")

# Each is syntax somewhere: drawtext's expansion (%, %{...}, \), filter options (: ' \),
# the filter graph (, ; [ ] =), a text file or a command line (newline, NUL, a lone surrogate).
NAMES = {
    "percent": "100% 李四",
    "lone-percent": "%",
    "pts": "%{pts}",
    "localtime": "%{localtime}",
    "eif": "%{eif:1+1:d}",
    "quote-colon-backslash": "a'b:c\\d",
    "graph": "x,y;z[0]=1",
    "trailing-backslash": "末尾\\",
    "newline": "第一行\n第二行",
    "nul": "零\x00字",
    "lone-surrogate": "\ud800 法官",
    "rtl": "\u200f\u05e9\u05dc\u05d5\u05dd",
    "emoji": "😀张三",
    "long": "长" * 100,
}
# A caption is one line: a control character shows as a space; a lone surrogate is no text.
SHOWN_AS = {"newline": "第一行 第二行", "nul": "零 字", "lone-surrogate": "\ufffd 法官"}
NEIGHBOUR = "张三（当事人）"  # drawn in the same batch: a name never spills into another caption
SIZE = 16


def ink(image: np.ndarray) -> np.ndarray:
    """The bounding box of what is drawn."""
    rows, columns = np.flatnonzero(image.max(axis=1)), np.flatnonzero(image.max(axis=0))
    assert rows.size and columns.size, "nothing drawn"
    return image[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def reference(text: str) -> np.ndarray:
    """``text`` as FreeType draws it handed over as a plain string: the ink of it."""
    font = ImageFont.truetype(str(cjk_font()), SIZE)
    image = Image.new("L", (len(text) * SIZE * 2 + 16, SIZE * 4), 0)
    ImageDraw.Draw(image).text((SIZE, SIZE), text, fill=255, font=font, anchor="la")
    return ink(np.asarray(image))


@pytest.mark.parametrize("key", NAMES)
def test_a_caption_shows_exactly_the_name(key):
    shown, neighbour = Rasterizer().masks([caption(NAMES[key], "party"), NEIGHBOUR], SIZE)
    expected = caption(SHOWN_AS.get(key, NAMES[key]), "party")
    assert np.array_equal(ink(shown), reference(expected))
    assert np.array_equal(ink(neighbour), reference(NEIGHBOUR))


def test_captions_are_drawn_in_process(monkeypatch):
    """FreeType in this process draws a caption: no program is started per caption."""

    def no_program(*args, **kwargs):
        raise AssertionError(f"a caption started a program: {args[:1]}")

    raster = Rasterizer()
    raster.mask("法官", 28)  # finding the font may ask fc-match, once per process
    monkeypatch.setattr(subprocess, "Popen", no_program)
    mask = raster.mask("张三（当事人）", 28)
    assert mask.shape[0] == int(28 * 1.4) // 2 * 2 and mask.max() == 255, mask.shape


# ---------------------------------------------------------------- on air, and the archive
DELAY = 2.0
JUDGE, PARTY = 31, 32  # media ids drawn into each one's picture
JUDGE_NAME, PARTY_NAME = "a'b:c\\d %{pts}", "100% 李四"
COURT, TITLE = "100% 人民法院 %{localtime}", "%{pts} 'x:y' [a,b;c]=\\ 案"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(
        tmp_path_factory.mktemp("names"), env={"CLOUDCOURT_BROADCAST_DELAY": str(DELAY)}
    )
    yield srv
    srv.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def on_air(server):
    """A public hearing whose court, title and people's names are all syntax somewhere."""
    api, cast = Api(server), Cast(server)
    hearing = await api.create_hearing(public=True, court=COURT, title=TITLE)
    hid = hearing["id"]
    judge = cast.participant(await api.token(hid, "judge", JUDGE_NAME), JUDGE)
    party = cast.participant(await api.token(hid, "party", PARTY_NAME, admitted=True), PARTY)
    for p in (judge, party):
        await p.start()
        await eventually(lambda p=p: p.pub_pc.connectionState == "connected", 15, "published")
    status, body, _ = await api.request("POST", f"/api/hearings/{hid}/live/start")
    assert status == 200 and body["live"] is True, body
    yield {"api": api, "hearing": hearing, "judge": judge, "party": party}
    await cast.close()


@on_the_server
async def test_the_stream_stays_on_air_with_every_name_shown(on_air):
    api, hid, judge = on_air["api"], on_air["hearing"]["id"], on_air["judge"]
    segments = await live_segments(api.abs(f"/live/{hid}/index.m3u8"), 5, timeout=40)
    assert not judge.events_named("alarm"), judge.events_named("alarm")
    status, body, _ = await api.request("GET", f"/api/hearings/{hid}/live")
    assert status == 200 and body["live"] is True, body
    where = tiles([(judge.participant_id, "judge"), (on_air["party"].participant_id, "party")])
    frames = [luma for seg in segments[1:] for luma in seg.video]
    for media_id, participant in ((JUDGE, judge), (PARTY, on_air["party"])):
        tile = where[participant.participant_id]
        assert sum(read_tile(f, tile) == media_id for f in frames) > len(frames) // 2
        x, y, w, h = tile
        # The caption band is drawn: white text on the shaded band.
        band = frames[-1][y + h - CAPTION : y + h, x : x + w]
        assert int(band.max()) > 200, "no caption under " + participant.name


def plays(path: Path) -> tuple[float, float]:
    """Seconds of pictures (30 fps) and of sound decoded from the whole of an archive."""
    frames = samples = 0
    with av.open(str(path)) as container:
        for frame in container.decode(*container.streams.video, *container.streams.audio):
            if isinstance(frame, av.VideoFrame):
                frames += 1
            else:
                samples += frame.samples
    return frames / 30, samples / 48_000


@on_the_server
async def test_the_archive_of_the_same_hearing_builds_and_plays(on_air, server):
    api, hid = on_air["api"], on_air["hearing"]["id"]
    await wait_recorded(api, hid, 3, tracks=4)
    status, body, _ = await api.request("POST", f"/api/hearings/{hid}/end")
    assert status == 200, body
    final = await archive_ready(api, hid)
    directory = server.data_dir / "recordings" / hid
    duration = final["archive"]["duration_seconds"]
    pictures, sound = plays(directory / "archive.mp4")
    assert abs(pictures - duration) < 0.2 and abs(sound - duration) < 0.2
    # Built again from the same record with names the API no longer takes (a line break, NUL)
    # but a database from before the check may hold.
    summary = summarize(Manifest(directory).load())
    for track in summary["tracks"].values():
        track["participant"]["name"] += "\n第二行\x00"
    # While it builds, ffmpeg and each of its threads run under SCHED_IDLE: live hearings first.
    policies: set[int] = set()

    def watch(_: float) -> None:
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.NoSuchProcess, OSError):
                if "ffmpeg" in child.name():
                    policies.update(os.sched_getscheduler(t.id) for t in child.threads())

    await asyncio.to_thread(build, directory, summary, watch, out_name="again.mp4")
    assert policies == {os.SCHED_IDLE}, policies
    pictures, sound = plays(directory / "again.mp4")
    assert abs(pictures - duration) < 0.2 and abs(sound - duration) < 0.2


@pytest.mark.parametrize("name", ["../elsewhere.mkv", "/etc/hostname"])
def test_the_archive_reads_no_segment_outside_its_recording(name, tmp_path):
    track = {"track": "t00-video", "kind": "video", "segments": [{"file": name}]}
    summary = {"duration_ms": 1000, "tracks": {"t00-video": track}, "pauses": [], "epoch": 0}
    (tmp_path / "elsewhere.mkv").write_bytes(b"")
    recording = tmp_path / "recording"
    recording.mkdir()
    with pytest.raises(ArchiveError, match="outside the recording"):
        build(recording, summary, lambda _: None)
    assert list(recording.iterdir()) == []
