"""The public playlist survives its compositor being killed at any instant.

Unit part: segments.log cut at every byte of its last record reads as the whole records only,
and the next record written after it starts its own line. Process part: a real compositor
process (this module run as a script, see the bottom) is killed with SIGKILL at random instants
of a running stream and started again on the same directory, several times: after every kill
each playlist lists only segments that exist and decode whole; each restart continues the same
live playlist after one `#EXT-X-DISCONTINUITY`, its MEDIA-SEQUENCE never goes back, and the
on-demand playlist written at the end lists every segment ever listed.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import av
import pytest

from livestream.disk_state import DiskStates, StreamState
from livestream.encoder import EncoderSettings, Segment, poster_name, segment_name
from livestream.playlist import (
    LIVE_PLAYLIST,
    LOG,
    POSTER,
    VOD_PLAYLIST,
    Entry,
    Playlist,
    read_log,
)
from tests.clients.hls import decode_segment, parse_playlist
from tests.e2e import eventually

SETTINGS = EncoderSettings()


def publish(playlist: Playlist, run: int, index: int, duration: float = 1.0) -> None:
    """A finished segment of ``run`` (its files in work/, as the encoder leaves them), public
    at once."""
    for rendition in SETTINGS.renditions:
        (playlist.work / segment_name(index, rendition)).write_bytes(b"ts")
    (playlist.work / poster_name(index)).write_bytes(b"jpg")
    playlist.add(Segment(index, duration, poster=False), 0.0, run)
    assert playlist.publish_due(1.0)


def listed(directory: Path, name: str = LIVE_PLAYLIST) -> tuple[list[str], bool, int]:
    segments, ended, sequence = parse_playlist((directory / name).read_text())
    return [uri for uri, _ in segments], ended, sequence


def test_a_torn_last_record_is_never_read_and_never_glued_onto(tmp_path):
    directory = tmp_path / "h"
    playlist = Playlist(directory, 0.0, SETTINGS)
    run, first = playlist.open_run()
    for index in range(first, first + 3):
        publish(playlist, run, index, 1.04)
    log = directory / LOG
    full = log.read_bytes()
    whole = read_log(log)
    assert whole == [Entry(0, 1.04, False), Entry(1, 1.04, False), Entry(2, 1.04, False)]
    last_starts = full.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_starts, len(full) + 1):
        log.write_bytes(full[:cut])  # killed while writing the last record, at this byte
        kept = whole if cut == len(full) else whole[:2]
        assert read_log(log) == kept, full[:cut]
        # Started again: the next record is whole and on its own line, after the kept ones.
        again = Playlist(directory, 0.0, SETTINGS)
        assert again.entries == kept
        run, index = again.open_run()
        assert index == kept[-1].index + 1
        publish(again, run, index)
        assert read_log(log) == [*kept, Entry(index, 1.0, True)], log.read_bytes()
        assert listed(directory)[0] == [segment_name(e.index) for e in read_log(log)]


def test_a_line_that_is_no_record_is_ignored(tmp_path):
    log = tmp_path / LOG
    # An older version's log: a record glued onto a torn one reads as nothing, and its torn last
    # line too; the records around them stand.
    log.write_bytes(b"0 1.000 0\n1 1.0001 1.000 0\n2 1.000 1\nx y z\n3 1.000 0\n4 1.0")
    assert read_log(log) == [Entry(0, 1.0, False), Entry(2, 1.0, True), Entry(3, 1.0, False)]


# ---------------------------------------------------------------- a compositor killed for real

KILLS = 4
HEARING_ID = "h_killed"


def compositor(directory: Path) -> subprocess.Popen[bytes]:
    """The compositor of one public hearing on air (nobody publishing: the waiting card, in real
    time), in a process of its own that a test can kill; "end" on its stdin ends the hearing."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_livestream_playlist", str(directory)],
        stdin=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )


def whole(data: bytes, what: str) -> None:
    """A segment as its writer closed it, not cut off by a kill: whole 188-byte MPEG-TS packets
    (the muxer writes through a 32 KiB buffer, so a file cut while written ends mid-packet), none
    corrupt, its pictures and sound decoding. (Not its pictures against its EXTINF: a loaded
    machine's composite skips frames, a gap inside a whole segment.)"""
    assert data and len(data) % 188 == 0, (what, len(data))
    with av.open(io.BytesIO(data), format="mpegts") as container:
        assert all(not packet.is_corrupt for packet in container.demux()), what
    decoded = decode_segment(data)
    assert decoded.video and decoded.audio_samples > 0, what


def check_whole(directory: Path, name: str, at_least: int) -> list[str]:
    """Every segment ``name`` lists exists and is whole."""
    segments, _, _ = parse_playlist((directory / name).read_text())
    assert len(segments) >= at_least, segments
    for uri, _ in segments:
        whole((directory / uri).read_bytes(), uri)
    return [uri for uri, _ in segments]


@pytest.mark.serial  # encodes in real time
async def test_a_compositor_killed_at_any_instant_leaves_only_whole_segments_and_continues(
    tmp_path,
):
    directory = tmp_path / HEARING_ID
    log, live = directory / LOG, directory / LIVE_PLAYLIST
    rng = random.Random(17)
    sequences: list[int] = []
    ever_listed: list[str] = []
    runs_first: list[int] = []  # the index each run's first public segment got

    def watch() -> None:
        if live.is_file():
            uris, ended, sequence = listed(directory)
            assert not ended
            assert not sequences or sequence >= sequences[-1], (sequences, sequence)
            sequences.append(sequence)
            ever_listed.extend(u for u in uris if u not in ever_listed)

    for attempt in range(KILLS + 1):
        before = len(read_log(log))
        proc = compositor(directory)
        try:

            def grown(before: int = before) -> bool:
                watch()
                return len(read_log(log)) >= before + 2

            await eventually(grown, 60, f"run {attempt}: two new public segments")
            runs_first.append(read_log(log)[before].index)
            if attempt:
                # The same live playlist goes on: what was listed, one marker, the new run.
                lines = live.read_text().splitlines()
                at = lines.index(segment_name(runs_first[-1]))
                assert lines[at - 2] == "#EXT-X-DISCONTINUITY", lines
                assert any(line.startswith("seg") for line in lines[: at - 2]), lines
            if attempt == KILLS:
                break
            # Any instant: encoding, renaming, appending to the log or writing a playlist.
            await asyncio.sleep(rng.uniform(0, 1.2))
            os.kill(proc.pid, signal.SIGKILL)
            assert await asyncio.to_thread(proc.wait, 10) == -signal.SIGKILL
        finally:
            if proc.returncode is None and attempt < KILLS:
                proc.kill()
        assert proc.stdin is not None
        if attempt < KILLS:
            proc.stdin.close()
        watch()
        for name in (LIVE_PLAYLIST, LIVE_PLAYLIST.replace(".m3u8", "-low.m3u8")):
            check_whole(directory, name, 2)
        # Listed only once logged (a kill between the two leaves the log one ahead), and every
        # segment ever listed is still there.
        assert set(listed(directory)[0]) <= {segment_name(e.index) for e in read_log(log)}
        assert all((directory / uri).is_file() for uri in ever_listed)

    # The last run ends the hearing: the on-demand playlist lists every segment ever listed.
    proc.stdin.write(b"end\n")
    proc.stdin.close()
    assert await asyncio.to_thread(proc.wait, 30) == 0
    vod = check_whole(directory, VOD_PLAYLIST, len(ever_listed))
    assert set(ever_listed) <= set(vod)
    entries = read_log(log)
    assert vod == [segment_name(e.index) for e in entries]
    # One discontinuity where each restart began, and nowhere else.
    assert [e.index for e in entries if e.discontinuity] == runs_first[1:]
    assert sorted(e.index for e in entries) == [e.index for e in entries]
    text = (directory / VOD_PLAYLIST).read_text()
    assert text.count("#EXT-X-DISCONTINUITY\n") == KILLS


async def _child(directory: Path) -> None:
    from livestream.sidecar import Livestream
    from signaling.models import Hearing, HearingState

    hearing = Hearing(
        directory.name, "（2026）京0105民初1号", "t", "c", "civil", True,
        "2026-12-01T01:30:00+00:00", HearingState.IN_SESSION, "2026-12-01T01:00:00+00:00",
        "2026-12-01T01:00:00+00:00",
    )  # fmt: skip
    stream = Livestream(directory.parent, 0.5, lambda *_: None)
    assert await stream.start_stream(hearing, set())
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    stream.hearing_ended(hearing)  # what waits goes out after the delay, then on demand
    await eventually(lambda: (directory / VOD_PLAYLIST).is_file(), 20, "the on-demand playlist")
    await stream.close()


if __name__ == "__main__":
    asyncio.run(_child(Path(sys.argv[1])))


def test_the_catalog_reads_a_growing_log_from_another_process_whole_lines_only(tmp_path):
    """The control plane answers the catalog from the files while the compositor (another
    process) appends to segments.log: a record still being written is not counted yet."""
    states = DiskStates(tmp_path)
    directory = tmp_path / "h"
    directory.mkdir()
    log = directory / LOG
    assert states.state("h", on_air=True) == StreamState(None, 0.0, False)
    log.write_bytes(b"0 1.000 0\n1 1.5")  # the second record half written
    assert states.state("h", on_air=True) == StreamState("live", 1.0, False)
    with open(log, "ab") as f:
        f.write(b"00 0\n")
    (directory / POSTER).write_bytes(b"jpg")
    assert states.state("h", on_air=True) == StreamState("live", 2.5, True)
    # Cut back to its last whole line by a restarted compositor, then going on.
    log.write_bytes(b"0 1.000 0\n")
    assert states.state("h", on_air=True).duration == 1.0
    # Off air: nothing until the on-demand playlist exists, then that, for good.
    assert states.state("h", on_air=False) == StreamState(None, 0.0, False)
    (directory / VOD_PLAYLIST).write_text("#EXTM3U\n")
    assert states.state("h", on_air=False) == StreamState("vod", 1.0, True)
    log.write_bytes(b"")
    assert states.state("h", on_air=False) == StreamState("vod", 1.0, True)
