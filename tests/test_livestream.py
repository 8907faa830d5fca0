"""The public stream end to end: real server, real aiortc publishers, HLS read back and decoded.

One public hearing goes on air with a judge, a party and a masked witness (each drawing its own
id into its picture): the live playlist appears, its segments decode with video and sound, the
judge's and the party's pictures are in it and the witness's never is; when the hearing ends the
stream becomes the on-demand entry. Other hearings check the judge's stop inside the broadcast
delay and that a closed hearing never reaches the public.
"""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import time
from datetime import datetime
from urllib.parse import urlencode

import av
import numpy as np
import pytest
import pytest_asyncio
from aiortc import RTCSessionDescription

from livestream.broadcast import screen_key
from livestream.captions import ClockFace, Rasterizer
from livestream.clock import CourtClock
from livestream.composite import BANNER, CLOCK_RIGHT, CLOCK_SIZE, CLOCK_TOP, clock_mask
from livestream.encoder import AUDIO_RATE, Encoder, EncoderSettings, Segment, segment_name
from livestream.layout import layout
from livestream.sidecar import Livestream
from signaling.config import ConfigError, Settings
from signaling.models import Hearing, HearingState
from tests.clients.hls import decode_segment, fetch, parse_playlist, playlist, segment_url
from tests.clients.media import read_luma
from tests.clients.screen_share import publish_with_screen
from tests.e2e import Api, Cast, eventually
from tests.signaling_server import ServerProcess, free_port, start_server
from tests.test_serve_database import one_sentence

# Alone, after the parallel run (scripts/test): it encodes in real time or measures CPU.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.serial]

DELAY = 2.0  # the broadcast delay of this module's server
WIDTH, HEIGHT = 854, 480
LOW_WIDTH, LOW_HEIGHT = 426, 240  # the second rendition, for weak phones
JUDGE, PARTY, WITNESS = 11, 12, 13  # media ids drawn into each one's picture
SCREEN_ID, SCREEN_SIZE = 14, (640, 360)  # drawn into the judge's shared screen


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # A server whose machine runs in UTC: the stream's clock must still read the court's time.
    # In-process (SFU_WORKERS 0): these checks time the composite frame by frame, and the
    # compositor's own process runs at nice 10, where the end of a hearing (every peer closing,
    # the archive starting) starves it of its last half second; the process path is proven by
    # test_livestream_process.py, test_livestream_portal.py and test_web_layout.py.
    srv = start_server(
        tmp_path_factory.mktemp("livestream"),
        env={"CLOUDCOURT_BROADCAST_DELAY": str(DELAY), "TZ": "UTC", "CLOUDCOURT_SFU_WORKERS": "0"},
    )
    yield srv
    srv.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def cast(server):
    """This module's tests run in the module's event loop: so must the teardown that closes their
    participants (conftest's ``cast`` closes them from a loop of its own, where their aiortc tasks
    never run: each peer connection then waits out its 5 s close timeout, and the server keeps the
    abandoned peers until it is stopped)."""
    c = Cast(server)
    yield c
    await c.close()


def tiles(roles: list[tuple[str, str]]) -> dict[str, tuple[int, int, int, int]]:
    """Where the composite puts each person (the same layout() the sidecar uses)."""
    return {
        t.key: (t.x, t.y + BANNER, t.width, t.height) for t in layout(roles, WIDTH, HEIGHT - BANNER)
    }


def read_tile(luma: np.ndarray, tile: tuple[int, int, int, int], size=(320, 240)):
    """The sender id drawn in the picture (of ``size``) shown letterboxed in ``tile``, or None;
    the tile is scaled along when ``luma`` is a smaller rendition."""
    ratio = luma.shape[1] / WIDTH
    x, y, w, h = (int(v * ratio) for v in tile)
    scale = min(w / size[0], h / size[1])
    fw, fh = int(size[0] * scale), int(size[1] * scale)
    fx, fy = x + (w - fw) // 2, y + (h - fh) // 2
    inset = max(1, round(2 * ratio))
    reading = read_luma(luma[fy + inset : fy + fh - inset, fx + inset : fx + fw - inset])
    return reading.sender if reading else None


async def live_segments(url: str, count: int, timeout: float, variant: int = 0) -> list:
    """Decode public segments (of the master playlist's ``variant``) until ``count`` new ones have
    been read."""
    seen: dict[str, object] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {len(seen)} segments in {timeout}s"
        listing = await playlist(url, variant)
        for uri, _ in listing.segments:
            if uri not in seen and len(seen) < count:
                status, data, _ = await fetch(segment_url(url, uri))
                assert status == 200, uri
                seen[uri] = decode_segment(data)
        await asyncio.sleep(0.3)
    return list(seen.values())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def on_air(server):
    """A public hearing with judge, party and masked witness, its stream started."""
    api, cast = Api(server), Cast(server)
    hearing = await api.create_hearing(
        public=True,
        court="北京市朝阳区人民法院",
        case_type="civil",
        title="张三诉李四买卖合同纠纷",
        scheduled_at="2026-12-01T01:30:00+00:00",
    )
    judge = await cast.join(hearing, "judge", JUDGE)
    party = await cast.join(hearing, "party", PARTY, admitted=True)
    witness_token = await api.token(hearing["id"], "witness", "王小明", admitted=True, masked=True)
    witness = cast.participant(witness_token, WITNESS)
    await witness.start()
    for p in (judge, party, witness):
        await eventually(lambda p=p: p.pub_pc.connectionState == "connected", 15, "published")
    # A witness waits in the witness room, out of the public stream, until called into the main
    # room: there the masked witness is on air, as the placeholder only.
    await judge.call("move", {"participant_id": witness.participant_id, "room_id": "main"})
    status, body, _ = await api.request("POST", f"/api/hearings/{hearing['id']}/live/start")
    assert status == 200 and body["live"] is True, body
    started = time.monotonic()
    yield {
        "hearing": hearing,
        "api": api,
        "cast": cast,
        "judge": judge,
        "started": started,
        "roles": [
            (judge.participant_id, "judge"),
            (party.participant_id, "party"),
            (witness.participant_id, "witness"),
        ],
        "ids": {
            JUDGE: judge.participant_id,
            PARTY: party.participant_id,
            WITNESS: witness.participant_id,
        },
    }
    await cast.close()


async def test_live_playlist_appears_and_decodes_with_everyone_but_the_masked(server, on_air):
    api, hearing = on_air["api"], on_air["hearing"]
    url = api.abs(f"/live/{hearing['id']}/index.m3u8")
    first = None

    async def listed():
        nonlocal first
        first = await playlist(url)
        return first.status == 200 and first.segments

    await eventually(listed, 20, "the live playlist")
    # The delay, one segment and a little start-up: a few seconds, not tens.
    assert time.monotonic() - on_air["started"] < DELAY + 8
    assert first.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
    assert "no-cache" in first.headers["Cache-Control"]
    assert not first.ended
    # index.m3u8 is the master playlist: the full picture and a low one, best first.
    assert [(uri, v["RESOLUTION"]) for uri, v in first.variants] == [
        ("high.m3u8", f"{WIDTH}x{HEIGHT}"),
        ("low.m3u8", f"{LOW_WIDTH}x{LOW_HEIGHT}"),
    ]
    high_rate, low_rate = (int(v["BANDWIDTH"]) for _, v in first.variants)
    assert high_rate > 2 * low_rate

    segments = await live_segments(url, 4, timeout=30)
    for seg in segments:
        assert (seg.video_codec, seg.audio_codec) == ("h264", "aac")
        assert (seg.width, seg.height) == (WIDTH, HEIGHT)
        assert len(seg.video) >= 15 and seg.audio_samples >= 30_000  # ~1 s each

    where = tiles(on_air["roles"])
    ids = on_air["ids"]
    frames = [luma for seg in segments for luma in seg.video]
    seen = {who: sum(read_tile(f, where[pid]) == who for f in frames) for who, pid in ids.items()}
    # The judge and the party are shown live (their own counters drawn by their publishers)...
    assert seen[JUDGE] > len(frames) // 2 and seen[PARTY] > len(frames) // 2, seen
    # ...the masked witness never: not in their tile, not anywhere in the picture.
    assert seen[WITNESS] == 0
    for luma in frames:
        for tile in where.values():
            assert read_tile(luma, tile) != WITNESS
    x, y, w, h = where[ids[WITNESS]]
    # Their tile is the plain placeholder (whatever text is on it), no 8x4 pattern of cells.
    assert all(float(f[y : y + h - 40, x : x + w].std()) < 30 for f in frames)


def clock_error(luma: np.ndarray, mask: np.ndarray) -> float:
    """How far the banner's clock in ``luma`` is from ``mask`` drawn there: the mean difference
    of ink (0 the same, 1 the opposite) over the worst glyph-wide strip, so that one wrong digit
    counts in full."""
    h, w = mask.shape
    x = luma.shape[1] - w - CLOCK_RIGHT
    ink = (luma[CLOCK_TOP : CLOCK_TOP + h, x : x + w].astype(float) - 16) / 219
    diff = np.abs(np.clip(ink, 0, 1) - mask / 255).mean(axis=0)
    strip = CLOCK_SIZE // 2
    return float(max(diff[i : i + strip].mean() for i in range(0, w - strip + 1)))


async def test_the_clock_shows_beijing_time_labelled_on_a_utc_server(server, on_air):
    """The server runs with TZ=UTC and no CLOUDCOURT_TIMEZONE: the clock drawn into the stream is
    the court's default, 北京时间 and its reading, to the second, compared pixel for pixel with
    the same clock drawn by the same code."""
    url = on_air["api"].abs(f"/live/{on_air['hearing']['id']}/index.m3u8")
    (segment,) = await live_segments(url, 1, timeout=30)
    now = time.time()
    luma = segment.video[-1]
    raster = Rasterizer()
    face = ClockFace(raster, CLOCK_SIZE)
    beijing, utc = CourtClock.named(), CourtClock.named("UTC")
    # Drawn within the broadcast delay and a segment or two before it was read.
    errors = {
        t: clock_error(luma, clock_mask(raster, face, beijing, t))
        for t in range(int(now - DELAY - 15), int(now) + 2)
    }
    best = min(errors, key=errors.__getitem__)
    assert errors[best] < 0.05, (best, errors[best])
    # A second off, or the same second in UTC, is told apart from it.
    assert min(errors[best - 1], errors[best + 1]) > 2 * errors[best]
    assert clock_error(luma, clock_mask(raster, face, utc, best)) > 2 * errors[best]


@pytest.mark.parametrize(
    ("name", "when", "label"),
    [
        ("Asia/Shanghai", "2026-07-01T12:00:00+00:00", "北京时间"),
        ("Asia/Kolkata", "2026-07-01T12:00:00+00:00", "当地时间 UTC+05:30"),
        ("America/New_York", "2026-01-15T12:00:00+00:00", "当地时间 UTC-05:00"),
        ("America/New_York", "2026-07-01T12:00:00+00:00", "当地时间 UTC-04:00"),
    ],
)
async def test_the_clock_is_labelled_with_the_courts_zone(name, when, label):
    assert CourtClock.named(name).label(datetime.fromisoformat(when).timestamp()) == label


async def test_the_time_zone_setting_is_an_iana_name(tmp_path):
    assert Settings.load(data_dir=tmp_path, env={}).timezone == "Asia/Shanghai"
    given = Settings.load(data_dir=tmp_path, env={"CLOUDCOURT_TIMEZONE": " Asia/Kolkata "})
    assert given.timezone == "Asia/Kolkata"
    for bad in ("Mars/Olympus", "America", "../etc/passwd", "Asia/Shanghai\x00"):
        with pytest.raises(ConfigError, match="CLOUDCOURT_TIMEZONE must be an IANA time zone"):
            Settings.load(data_dir=tmp_path, env={"CLOUDCOURT_TIMEZONE": bad})


async def test_an_unknown_time_zone_stops_the_server_with_one_sentence(tmp_path):
    server = ServerProcess(tmp_path, free_port(), env={"CLOUDCOURT_TIMEZONE": "Mars/Olympus"})
    proc = await asyncio.to_thread(
        subprocess.run, server.command(), env=server.env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    sentence = one_sentence(proc.stderr)
    assert "CLOUDCOURT_TIMEZONE" in sentence and "'Mars/Olympus'" in sentence, sentence


async def test_the_low_rendition_is_the_same_stream_smaller(server, on_air):
    api, hearing = on_air["api"], on_air["hearing"]
    url = api.abs(f"/live/{hearing['id']}/index.m3u8")
    high, low = await playlist(url, 0), await playlist(url, 1)
    assert low.status == 200 and "no-cache" in low.headers["Cache-Control"]
    # The same seconds, cut at the same frames.
    common = {u.replace("-low", "") for u, _ in low.segments} & {u for u, _ in high.segments}
    assert len(common) >= len(low.segments) - 1 >= 1, (high.segments, low.segments)
    durations = dict(high.segments)
    for uri, duration in low.segments:
        if uri.replace("-low", "") in durations:
            assert abs(durations[uri.replace("-low", "")] - duration) < 0.01
    segments = await live_segments(url, 3, timeout=30, variant=1)
    where, ids = tiles(on_air["roles"]), on_air["ids"]
    for seg in segments:
        assert (seg.video_codec, seg.audio_codec) == ("h264", "aac")
        assert (seg.width, seg.height) == (LOW_WIDTH, LOW_HEIGHT)
        assert len(seg.video) >= 15 and seg.audio_samples >= 30_000
    frames = [luma for seg in segments for luma in seg.video]
    # The judge is still legible; the masked witness is not there either.
    assert sum(read_tile(f, where[ids[JUDGE]]) == JUDGE for f in frames) > len(frames) // 2
    assert not any(read_tile(f, tile) == WITNESS for f in frames for tile in where.values())


async def test_masking_while_on_air_takes_the_picture_off(server, on_air):
    api, hearing = on_air["api"], on_air["hearing"]
    party_id = on_air["ids"][PARTY]
    poster_url = api.abs(f"/live/{hearing['id']}/poster.jpg")
    assert (await fetch(poster_url))[0] == 200  # the catalog's thumbnail shows the party...
    status, body, _ = await api.request(
        "POST", f"/api/hearings/{hearing['id']}/participants/{party_id}/mask", json={}
    )
    assert (status, body["masked"]) == (200, True), body
    # ...and is gone with the mask (the next one is drawn after it).
    assert (await fetch(poster_url))[0] == 404
    url = api.abs(f"/live/{hearing['id']}/index.m3u8")
    # Everything published from now on was made after the mask (the delay window was purged).
    before = {uri for uri, _ in (await playlist(url)).segments}
    segments = []
    for _ in range(40):
        for uri, _ in (await playlist(url)).segments:
            if uri not in before:
                before.add(uri)
                segments.append(decode_segment((await fetch(segment_url(url, uri)))[1]))
        if len(segments) >= 2:
            break
        await asyncio.sleep(0.5)
    assert len(segments) >= 2
    tile = tiles(on_air["roles"])[party_id]
    assert not any(read_tile(f, tile) == PARTY for s in segments for f in s.video)
    # Players already watching go on: the time the purge took out of the stream is marked as a
    # discontinuity, and wherever none is marked the pictures follow on without a gap.
    listing = await playlist(url)
    marked, decoded = [], []
    for line in listing.text.splitlines():
        if line == "#EXT-X-DISCONTINUITY":
            marked.append(len(decoded))
        elif line and not line.startswith("#"):
            decoded.append(decode_segment((await fetch(segment_url(url, line)))[1]))
    assert marked, listing.text
    for i in range(1, len(decoded)):
        gap = decoded[i].first_time - decoded[i - 1].last_time
        assert i in marked or gap < 0.1, (i, gap, listing.text)
    status, body, _ = await api.request(
        "POST",
        f"/api/hearings/{hearing['id']}/participants/{party_id}/mask",
        json={"masked": False},
    )
    assert (status, body["masked"]) == (200, False)


def poster_luma(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data), format="mjpeg") as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="gray")


async def test_masked_before_publishing_is_never_shown(server, cast, api):
    """Masked while in the room with nothing published, then publishing: the picture must not
    reach any tile of any segment, nor the poster."""
    hearing = await api.create_hearing(public=True)
    hid = hearing["id"]
    judge = await cast.join(hearing, "judge", JUDGE)
    party = await cast.join(hearing, "party", PARTY, admitted=True, publish=False)
    await eventually(lambda: judge.pub_pc.connectionState == "connected", 15, "published")
    status, _, _ = await api.request("POST", f"/api/hearings/{hid}/live/start")
    assert status == 200
    status, body, _ = await api.request(
        "POST", f"/api/hearings/{hid}/participants/{party.participant_id}/mask", json={}
    )
    assert (status, body["masked"]) == (200, True), body
    await party.publish()
    await eventually(lambda: party.pub_pc.connectionState == "connected", 15, "party published")
    url = api.abs(f"/live/{hid}/index.m3u8")
    # Twelve segments: well past the party's start, and the second poster (segment 11).
    segments = await live_segments(url, 12, timeout=40)
    layouts = [
        tiles([(judge.participant_id, "judge")]),
        tiles([(judge.participant_id, "judge"), (party.participant_id, "party")]),
    ]
    every_tile = [t for where in layouts for t in where.values()]
    frames = [luma for seg in segments for luma in seg.video]
    status, poster, _ = await fetch(api.abs(f"/live/{hid}/poster.jpg"))
    assert status == 200
    frames.append(poster_luma(poster))
    assert not any(read_tile(f, tile) == PARTY for f in frames for tile in every_tile)
    # The pictures were readable, and the party was on screen: as the masked placeholder.
    judge_tile = layouts[1][judge.participant_id]
    assert sum(read_tile(f, judge_tile) == JUDGE for f in segments[-1].video) > 10
    x, y, w, h = layouts[1][party.participant_id]
    assert all(float(f[y : y + h - 40, x : x + w].std()) < 30 for f in segments[-1].video)


async def test_a_shared_screen_is_shown_large_beside_the_cameras_without_flicker(server, cast, api):
    """The judge shares a screen (evidence) beside their camera: the screen gets the large tile,
    the judge's and the party's cameras stay in view, and no tile switches between two feeds."""
    hearing = await api.create_hearing(public=True)
    hid = hearing["id"]
    judge = await cast.join(hearing, "judge", JUDGE, publish=False)
    await publish_with_screen(judge, SCREEN_ID, *SCREEN_SIZE)
    party = await cast.join(hearing, "party", PARTY, admitted=True)
    for p in (judge, party):
        await eventually(lambda p=p: p.pub_pc.connectionState == "connected", 15, "published")
    status, _, _ = await api.request("POST", f"/api/hearings/{hid}/live/start")
    assert status == 200
    segments = await live_segments(api.abs(f"/live/{hid}/index.m3u8"), 7, timeout=40)
    where = tiles(
        [(screen_key(judge.participant_id), "judge"), (judge.participant_id, ""),
         (party.participant_id, "")]
    )  # fmt: skip
    box = where[screen_key(judge.participant_id)]
    # The screen is on air from its publisher's first keyframe (a PLI away; later on a loaded
    # machine): from the first segment that shows it, within a few seconds, it must stay.
    first = next(
        (
            i
            for i, seg in enumerate(segments)
            if read_tile(seg.video[-1], box, SCREEN_SIZE) == SCREEN_ID
        ),
        None,
    )
    assert first is not None and first <= 4, f"the screen was not on air within 5 segments: {first}"
    frames = [luma for seg in segments[first + 1 :] for luma in seg.video]
    screen = [read_tile(f, box, SCREEN_SIZE) for f in frames]
    camera = [read_tile(f, where[judge.participant_id]) for f in frames]
    other = [read_tile(f, where[party.participant_id]) for f in frames]
    assert screen.count(SCREEN_ID) > len(frames) * 0.9, screen
    assert camera.count(JUDGE) > len(frames) * 0.9, camera
    assert other.count(PARTY) > len(frames) * 0.9, other
    assert JUDGE not in screen and SCREEN_ID not in camera  # never the other feed
    # The share stops (the console sets its transceiver inactive and offers again): the judge is
    # large again.
    pc = judge.pub_pc
    pc.getTransceivers()[2].direction = "inactive"
    await pc.setLocalDescription(await pc.createOffer())
    ack = await judge.call("publish", {"sdp": pc.localDescription.sdp, "type": "offer"})
    await pc.setRemoteDescription(RTCSessionDescription(sdp=ack["sdp"], type="answer"))
    url = api.abs(f"/live/{hid}/index.m3u8")
    # Segments made after the stop: the delay plus one segment in progress.
    made_before = max(int(uri[3:9]) for uri, _ in (await playlist(url)).segments) + DELAY + 1
    later: list[str] = []

    async def made_after() -> bool:
        later[:] = [u for u, _ in (await playlist(url)).segments if int(u[3:9]) > made_before]
        return len(later) >= 2

    await eventually(made_after, 20, "segments after the share stopped")
    segments = [decode_segment((await fetch(segment_url(url, u)))[1]) for u in later[:2]]
    where = tiles([(judge.participant_id, "judge"), (party.participant_id, "party")])
    frames = [luma for seg in segments for luma in seg.video]
    large = [read_tile(f, where[judge.participant_id]) for f in frames]
    assert large.count(JUDGE) > len(frames) * 0.9, large


async def test_the_ended_hearing_becomes_on_demand_and_is_catalogued(server, on_air):
    api, hearing, judge = on_air["api"], on_air["hearing"], on_air["judge"]
    hid = hearing["id"]
    await asyncio.sleep(1)
    ended_at = time.monotonic()
    await judge.end_hearing()
    streamed = ended_at - on_air["started"]
    url = api.abs(f"/vod/{hid}/index.m3u8")
    vod = None

    async def closed():
        nonlocal vod
        vod = await playlist(url)
        return vod.status == 200

    await eventually(closed, DELAY + 15, "the on-demand playlist")
    assert vod.ended and "#EXT-X-PLAYLIST-TYPE:VOD" in vod.text
    # Start to end: the whole stream, minus the start-up and what masking purged (≤ ~3 s).
    assert streamed - 6 - DELAY < vod.duration <= streamed + 1.5, (vod.duration, streamed)
    shown = 0.0
    for uri, duration in vod.segments:
        status, data, headers = await fetch(segment_url(url, uri))
        assert status == 200 and headers["Content-Type"] == "video/mp2t"
        seg = decode_segment(data)
        assert seg.video and seg.audio_samples > 0
        assert abs(seg.span(25) - duration) < 0.1
        shown += seg.span(25)
    assert abs(shown - vod.duration) < 0.5
    live = await playlist(api.abs(f"/live/{hid}/index.m3u8"))
    assert live.ended  # players of the live stream see it end
    # The low rendition closes alike, with the same seconds.
    low_vod, low_live = (
        await playlist(url, 1),
        await playlist(api.abs(f"/live/{hid}/index.m3u8"), 1),
    )
    assert low_vod.ended and low_live.ended and "#EXT-X-PLAYLIST-TYPE:VOD" in low_vod.text
    assert [(u.replace("-low", ""), d) for u, d in low_vod.segments] == vod.segments
    status, data, _ = await fetch(segment_url(url, low_vod.segments[-1][0]))
    assert status == 200 and decode_segment(data).height == LOW_HEIGHT
    status, poster, headers = await fetch(api.abs(f"/vod/{hid}/poster.jpg"))
    assert status == 200 and poster[:2] == b"\xff\xd8" and headers["Content-Type"] == "image/jpeg"

    async def catalog(**query) -> list[str]:
        status, body, _ = await api.request("GET", f"/api/catalog?{urlencode(query)}", auth=None)
        assert status == 200, body
        return [item["id"] for item in body["items"]]

    status, body, _ = await api.request("GET", "/api/catalog?status=vod&limit=100", auth=None)
    item = next(i for i in body["items"] if i["id"] == hid)
    assert item["status"] == "vod" and item["playlist_url"] == f"/vod/{hid}/index.m3u8"
    assert item["poster_url"] == f"/vod/{hid}/poster.jpg"
    assert abs(item["duration"] - vod.duration) < 0.2
    assert item["started_at"] and item["ended_at"] and item["case_number"] == hearing["case_number"]
    court = "北京市朝阳区人民法院"
    assert hid in await catalog(
        status="vod", court=court, case_type="civil", date_from="2026-12-01", date_to="2026-12-01"
    )
    # The hearing was at 09:30 on 1 December, China time: not on other days, courts, types.
    for miss in (
        {"status": "live"},
        {"status": "upcoming"},
        {"court": "上海市浦东新区人民法院"},
        {"case_type": "criminal"},
        {"date_from": "2026-12-02"},
        {"date_to": "2026-11-30"},
        {"q": "不存在的案号"},
    ):
        assert hid not in await catalog(**miss, limit=100), miss
    assert hid in await catalog(q="买卖合同", limit=100)


async def test_a_stop_inside_the_delay_window_is_never_published(server, cast, api):
    hearing = await api.create_hearing(public=True)
    hid = hearing["id"]
    judge = await cast.join(hearing, "judge", JUDGE)
    await eventually(lambda: judge.pub_pc.connectionState == "connected", 15, "published")
    status, _, _ = await api.request("POST", f"/api/hearings/{hid}/live/start")
    assert status == 200
    url = api.abs(f"/live/{hid}/index.m3u8")

    async def two_public():
        return len((await playlist(url)).segments) >= 2

    await eventually(two_public, 25, "public segments")
    status, body, _ = await api.request("POST", f"/api/hearings/{hid}/live/stop")
    assert status == 200 and body["live"] is False
    # With a 2 s delay and 1 s segments, about two were waiting: deleted, not published.
    assert body["discarded_segments"] >= 1, body
    at_stop = [await playlist(url, variant) for variant in (0, 1)]
    await asyncio.sleep(DELAY + 2)
    after = [await playlist(url, variant) for variant in (0, 1)]
    assert [p.segments for p in after] == [p.segments for p in at_stop]
    last = max(int(uri[3:9]) for uri, _ in at_stop[0].segments)
    for index in range(last + 1, last + 6):
        for suffix in ("", "-low"):
            status, _, _ = await fetch(segment_url(url, f"seg{index:06d}{suffix}.ts"))
            assert status == 404
    query = urlencode({"q": hearing["case_number"]})
    status, body, _ = await api.request("GET", f"/api/catalog?{query}", auth=None)
    assert [i["status"] for i in body["items"]] == ["upcoming"]


async def test_a_hearing_ended_just_before_shutdown_or_a_crash_still_goes_on_demand(tmp_path):
    """Ended inside the broadcast delay, then the server stops: the on-demand entry is written
    on the way down; and if it was lost (a crash), the next start writes it."""
    srv = start_server(tmp_path, env={"CLOUDCOURT_BROADCAST_DELAY": "5"})
    cast = Cast(srv)
    try:
        api = Api(srv)
        hearing = await api.create_hearing(public=True)
        hid = hearing["id"]
        judge = await cast.join(hearing, "judge", JUDGE)
        await eventually(lambda: judge.pub_pc.connectionState == "connected", 15, "published")
        assert (await api.request("POST", f"/api/hearings/{hid}/live/start"))[0] == 200
        url = api.abs(f"/live/{hid}/index.m3u8")

        async def public():
            return len((await playlist(url)).segments) >= 2

        await eventually(public, 30, "public segments")
        assert (await api.request("POST", f"/api/hearings/{hid}/end"))[0] == 200
        await cast.close()
        directory = srv.data_dir / "streams" / hid
        assert not (directory / "vod.m3u8").exists()  # segments still wait out the delay
        srv.restart()

        async def on_demand() -> float:
            listing = await playlist(api.abs(f"/vod/{hid}/index.m3u8"))
            assert listing.status == 200 and listing.ended
            status, body, _ = await api.request("GET", "/api/catalog?status=vod", auth=None)
            assert status == 200 and hid in [i["id"] for i in body["items"]], body
            return listing.duration

        duration = await on_demand()
        assert duration >= 2
        srv.proc.kill()  # as if it had died before writing them
        srv.stop()
        for name in ("vod.m3u8", "vod-low.m3u8"):
            (directory / name).unlink()
        srv.start()
        assert await on_demand() == duration
    finally:
        await cast.close()
        srv.stop()


def unit_hearing(hearing_id: str) -> Hearing:
    return Hearing(
        hearing_id, "（2026）京0105民初1号", "t", "c", "civil", True, "2026-12-01T01:30:00+00:00",
        HearingState.IN_SESSION, "2026-12-01T01:00:00+00:00", "2026-12-01T01:00:00+00:00",
    )  # fmt: skip


def public_indexes(directory) -> list[int]:
    try:
        segments, _, _ = parse_playlist((directory / "live.m3u8").read_text())
    except FileNotFoundError:
        return []
    return [int(uri[3:9]) for uri, _ in segments]


async def test_a_start_during_the_stop_never_publishes_what_was_cut(tmp_path, caplog):
    """The judge's stop waits for the encoder to hand over the segment in progress; a start
    arriving meanwhile (a second console, a double click) must neither publish that segment nor
    reuse its number."""
    caplog.set_level(logging.WARNING, "cloudcourt.livestream")
    stream = Livestream(tmp_path, 1.0, lambda *_: None)
    hearing = unit_hearing("h_stopstart")
    directory = stream.directory(hearing.id)
    try:
        assert await stream.start_stream(hearing, set())
        await eventually(lambda: len(public_indexes(directory)) >= 2, 30, "public segments")
        stop = asyncio.create_task(stream.stop_stream(hearing.id))
        await asyncio.sleep(0)  # the stop has taken the stream off and waits for the encoder
        assert not stream.is_live(hearing.id)
        unpublished = {int(p.name[3:9]) for p in (directory / "work").glob("seg*.ts")}
        assert unpublished  # waiting out the delay, and the one being encoded
        assert await stream.start_stream(hearing, set())
        await stop  # (how many it deleted varies: with a 1 s delay, 0 or 1 may be waiting)
        before = public_indexes(directory)
        await eventually(lambda: len(public_indexes(directory)) >= len(before) + 3, 30, "new run")
        shown = public_indexes(directory)
        assert not unpublished & set(shown), (unpublished, shown)
        assert not any((directory / f"seg{i:06d}.ts").exists() for i in unpublished)
        assert min(set(shown) - set(before)) > max(unpublished)
        assert "#EXT-X-DISCONTINUITY\n" in (directory / "live.m3u8").read_text()
    finally:
        await stream.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_a_start_that_raced_the_end_stays_off_air(tmp_path):
    """The start route reads the store before starting: an end in between must win."""
    stream = Livestream(tmp_path, 1.0, lambda *_: None)
    hearing = unit_hearing("h_startend")
    stream.hearing_ended(hearing)
    assert await stream.start_stream(hearing, set()) is False
    assert not stream.is_live(hearing.id) and not stream.directory(hearing.id).exists()
    await stream.close()


async def test_a_closed_hearing_never_reaches_the_public(server, api):
    hearing = await api.create_hearing(public=False)
    hid = hearing["id"]
    judge = await api.token(hid, "judge")
    status, body, _ = await api.request(
        "POST", f"/api/hearings/{hid}/live/start", auth=judge["token"]
    )
    assert status == 403
    status, body, _ = await api.request("GET", f"/api/hearings/{hid}/live", auth=judge["token"])
    assert status == 200 and body["live"] is False
    for path in ("index.m3u8", "high.m3u8", "low.m3u8", "seg000000-low.ts", "poster.jpg"):
        for prefix in ("live", "vod"):
            status, _, _ = await fetch(api.abs(f"/{prefix}/{hid}/{path}"))
            assert status == 404
    for query in ("", "?status=upcoming", "?" + urlencode({"q": hearing["case_number"]})):
        status, body, _ = await api.request("GET", "/api/catalog" + query, auth=None)
        assert status == 200 and hid not in [i["id"] for i in body["items"]]


async def test_live_control_needs_a_moderator_and_a_hearing_in_progress(server, api):
    hearing = await api.create_hearing(public=True)
    hid = hearing["id"]
    party = await api.token(hid, "party")
    status, body, _ = await api.request(
        "POST", f"/api/hearings/{hid}/live/start", auth=party["token"]
    )
    assert status == 403 and body["error"]
    status, _, _ = await api.request("POST", f"/api/hearings/{hid}/live/start", auth=None)
    assert status == 401
    status, _, _ = await api.request("GET", f"/api/hearings/{hid}/live", auth=party["token"])
    assert status == 403
    status, _, _ = await api.request("POST", f"/api/hearings/{hid}/end")
    assert status == 200
    for action in ("start", "stop"):
        status, body, _ = await api.request("POST", f"/api/hearings/{hid}/live/{action}")
        assert status == 409 and "ended" in body["error"]


@pytest.mark.parametrize(
    "query",
    [
        "status=archived",
        "date_from=yesterday",
        "date_to=2026-13-01",
        "date_from=2026-12-02&date_to=2026-12-01",
        "limit=0",
        "limit=101",
        "offset=-1",
        "page=2",
        "status=live&status=vod",
        "limit=%C2%B2",  # "²": a digit to str.isdigit(), not to int()
        "offset=%C2%B9",
        "limit=%EF%BC%91",  # a full-width 1
        "limit=5&limit=6",
        "offset=0&offset=20",
    ],
)
async def test_bad_catalog_filters_are_400(server, api, query):
    status, body, _ = await api.request("GET", f"/api/catalog?{query}", auth=None)
    assert status == 400 and body["error"], body


async def test_the_last_and_first_days_of_the_calendar_are_catalog_bounds(server, api):
    query = "date_from=0001-01-01&date_to=9999-12-31&limit=100"
    status, body, _ = await api.request("GET", f"/api/catalog?{query}", auth=None)
    assert status == 200, body
    status, every, _ = await api.request("GET", "/api/catalog?limit=100", auth=None)
    dated = [i["id"] for i in every["items"] if i["scheduled_at"]]
    assert [i["id"] for i in body["items"]] == dated


async def test_the_clock_draws_its_dashes_at_mid_height():
    """Each glyph is rasterized alone: placed by the font's line, not by its own ink, so that "-"
    sits between the digits' top and bottom instead of at their top."""
    digit, dash = Rasterizer().masks(["8", "-"], 16)

    def inked_rows(mask):
        return np.flatnonzero(mask.max(axis=1) > 128)

    d, e = inked_rows(digit), inked_rows(dash)
    assert d[0] < e[0] and e[-1] < d[-1], (d, e)
    assert abs(float(e.mean()) - float(d.mean())) <= 2, (d, e)


async def test_segments_stay_a_second_long_when_a_busy_machine_skips_frames(tmp_path):
    """The composite skips frame numbers when it falls behind (a loaded machine): keyframes, where
    segments are cut, still come once a second of stream time, not once every fps frames."""
    settings = EncoderSettings()
    segments: list[Segment] = []
    encoder = Encoder(tmp_path, 0, settings, segments.append)
    image = np.full(settings.width * settings.height * 3 // 2, 128, np.uint8)
    silence = np.zeros(AUDIO_RATE // settings.fps, np.float32)
    for number in range(0, 6 * settings.fps, 4):  # every fourth frame drawn in time
        encoder.encode(image.reshape(-1, settings.width), silence, number)
    encoder.close()
    assert len(segments) >= 5, segments
    assert all(s.duration <= 1.2 for s in segments), segments
    for s in segments:
        assert decode_segment((tmp_path / segment_name(s.index)).read_bytes()).video
