"""The nginx recipe of docs/OPERATIONS.md (docs/nginx/cloudcourt.conf) in front of a real server.

Debian's nginx runs as a child of the test with that very file, only its listen port, upstream
port and cache directory substituted, in front of a real `cloudcourt serve` with a public hearing
on air. Through nginx: the HLS a player reads (playlists and segments that decode), a crowd of
player-like viewers (benchmarks/hls_load.py) that costs the server a few playlist requests a
second and one request per segment, live playlists never older than half a target duration, a
closed hearing's paths 404 and staying 404, a stop reaching the public within the cache time,
and the portal, the catalog and a participant's Socket.IO websocket passed through.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_asyncio

from benchmarks.hls_load import Load, parse_media, summary
from tests.clients.hls import decode_segment, fetch, playlist, segment_url
from tests.e2e import Api, Cast, eventually
from tests.signaling_server import free_port, start_server

# Alone, after the parallel run (scripts/test): it encodes in real time or measures CPU.
pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.serial,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="Debian's nginx is not installed"),
]

RECIPE = Path(__file__).resolve().parent.parent / "docs" / "nginx" / "cloudcourt.conf"
DELAY = 2.0  # the broadcast delay of this module's server
JUDGE, PARTY = 21, 22
LIVE_ROUTE = "/live/{hearing_id}/{name}"
# The access log nginx writes for the test: what went to the server ($upstream_addr) and why.
LOG_FORMAT = 'log_format upstream "$msec $upstream_cache_status $status $uri $upstream_addr";'


def recipe(listen: int, upstream: int, cache: Path) -> str:
    """docs/nginx/cloudcourt.conf with the three values an operator edits replaced."""
    text = RECIPE.read_text()
    for old, new in (
        ("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{listen};"),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};"),
        ("/var/cache/nginx/cloudcourt", str(cache)),
    ):
        assert text.count(old) == 1, f"the recipe no longer has exactly one {old!r}"
        text = text.replace(old, new)
    return text


class Nginx:
    """Debian's nginx as a non-daemon child: `nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`,
    the recipe included into a minimal main configuration (what /etc/nginx/nginx.conf holds)."""

    def __init__(self, directory: Path, upstream: int) -> None:
        self.dir = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = directory / "access.log"
        self.error_log = directory / "error.log"
        for sub in ("cache", "temp"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        (directory / "cloudcourt.conf").write_text(recipe(self.port, upstream, directory / "cache"))
        temp = directory / "temp"
        # As root nginx's workers would drop to `nobody`, who cannot enter pytest's 0700 dirs.
        user = "user root root;" if os.geteuid() == 0 else ""
        (directory / "nginx.conf").write_text(
            f"""{user}
worker_processes 1;
worker_rlimit_nofile 20000;
pid {directory}/nginx.pid;
error_log {self.error_log} warn;
events {{ worker_connections 8192; }}
http {{
    {LOG_FORMAT}
    access_log {self.access_log} upstream;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {directory}/cloudcourt.conf;
}}
"""
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        command = ["nginx", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, f"nginx -t refused the recipe:\n{check.stderr}"
        self.proc = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "wb"),
        )
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, f"nginx exited:\n{self.log_tail()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                assert time.monotonic() < deadline, f"nginx never listened:\n{self.log_tail()}"
                time.sleep(0.05)

    def log_tail(self) -> str:
        parts = [p.read_text()[-3000:] for p in (self.error_log, self.dir / "stderr.log")]
        return "\n".join(p for p in parts if p)

    def upstream_requests(self, since: float) -> list[tuple[str, str, str]]:
        """(uri, cache status, status) of every request nginx sent to the server after ``since``
        (a time.time())."""
        found = []
        for line in self.access_log.read_text().splitlines():
            msec, cache, status, uri, upstream = line.split(" ", 4)
            if float(msec) >= since and upstream != "-":
                found.append((uri, cache, status))
        return found

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)  # graceful: the workers finish, then the master
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(
        tmp_path_factory.mktemp("nginx-server"), env={"CLOUDCOURT_BROADCAST_DELAY": str(DELAY)}
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def nginx(server, tmp_path_factory):
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), server.port).start()
    yield proxy
    proxy.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def on_air(server, nginx):
    """A public hearing on air with its judge, its live playlist readable through nginx."""
    cast = Cast(server)
    hearing, _judge = await cast.on_air(JUDGE)
    url = f"{nginx.url}/live/{hearing['id']}/index.m3u8"

    async def three_segments() -> bool:
        return len((await playlist(url)).segments) >= 3

    await eventually(three_segments, 40, "three public segments through nginx", interval=0.3)
    yield hearing
    await cast.close()


async def route_count(api: Api, route: str) -> float:
    """The server's own count of requests to ``route`` (every method and status)."""
    text = await api.metrics()
    # (.*): a route's pattern holds braces of its own.
    pattern = r"^cloudcourt_http_request_duration_seconds_count\{(.*)\}\s+(\S+)$"
    total = 0.0
    for m in re.finditer(pattern, text, re.MULTILINE):
        if f'route="{route}"' in m.group(1):
            total += float(m.group(2))
    return total


async def test_a_player_reads_the_stream_through_nginx_and_it_decodes(nginx, on_air):
    url = f"{nginx.url}/live/{on_air['id']}/index.m3u8"
    for variant in (0, 1):
        media = await playlist(url, variant)
        assert media.status == 200 and media.master is not None and len(media.segments) >= 3
        # The server's Cache-Control reaches the player unchanged: players revalidate every time.
        assert media.headers["Cache-Control"] == "no-cache, max-age=0"
        for uri, _ in media.segments[-2:]:
            status, data, headers = await fetch(segment_url(url, uri))
            assert status == 200, uri
            assert headers["Cache-Control"] == "public, max-age=86400"
            decoded = decode_segment(data)
            assert decoded.video_codec == "h264" and decoded.audio_codec == "aac"
            assert len(decoded.video) >= 10 and decoded.audio_samples > 0
            # The second viewer of a segment is served by nginx alone.
            again = await fetch(segment_url(url, uri))
            assert again[0] == 200 and again[1] == data and again[2]["X-Cache-Status"] == "HIT"


async def test_a_crowd_of_viewers_costs_the_server_a_few_requests_a_second(server, nginx, on_air):
    """200 player-like viewers through nginx: the server sees each live playlist at most twice a
    second (the half-second cache key) and each segment once (the cache lock collapses the
    crowd's misses into one request)."""
    api = Api(server)
    stream = f"/live/{on_air['id']}/index.m3u8"
    before = await route_count(api, LIVE_ROUTE)
    since = time.time()
    seconds = 12.0
    load = Load(nginx.url, [stream], 200, session=seconds / 2, seed=1)
    stats = await load.run(seconds)
    report = summary(stats)
    elapsed = time.time() - since
    upstream = [(uri, cache, status) for uri, cache, status in nginx.upstream_requests(since)]
    live = [u for u in upstream if u[0].startswith("/live/")]
    served = await route_count(api, LIVE_ROUTE) - before
    per_uri = Counter(uri for uri, _, _ in live)
    playlists = {u: n for u, n in per_uri.items() if u.endswith(".m3u8")}
    segments = {u: n for u, n in per_uri.items() if u.endswith(".ts")}
    detail = f"{report}\nupstream playlists {playlists}\nupstream segments {segments}"

    assert report["errors"] == 0, detail
    # Each viewer: a playlist and a segment a second (1 s segments), the portal and catalog twice.
    assert report["requests_per_s"] > 200 * 1.5, detail
    assert report["requests_per_s_by_kind"]["segment"] > 200 * 0.7, detail
    # What nginx sent the server is exactly what the server counted on its /live route.
    assert served == len(live), detail
    # A playlist twice a second at most (one request per half second, plus the second it
    # straddles), whatever the crowd; each segment once.
    for uri, n in playlists.items():
        assert n <= 2 * elapsed + 2, f"{uri}: {n} requests in {elapsed:.1f} s\n{detail}"
    assert set(playlists) == {
        f"/live/{on_air['id']}/{name}" for name in ("index.m3u8", "high.m3u8", "low.m3u8")
    }, detail
    assert segments and max(segments.values()) == 1, detail
    # Every arriving viewer asks for the portal and the catalog: nginx asks about once a second.
    arrivals = Counter(uri for uri, _, _ in upstream if not uri.startswith("/live/"))
    for uri in ("/portal/", "/api/catalog"):
        assert 0 < arrivals[uri] <= elapsed + 2, f"{uri}: {arrivals[uri]}\n{detail}"
    # Against ~4,800 requests from the crowd, the server answered ~100.
    assert served < 0.05 * report["requests"], detail
    # Viewers get a new segment within a poll and a download of its listing.
    assert report["behind_live_ms"]["p99"] < 2500, detail
    assert report["stalls"] == 0, detail


async def test_a_live_playlist_through_nginx_is_never_older_than_half_a_segment(
    server, nginx, on_air
):
    """Whenever the server lists a new segment, nginx lists it too within half a second (the
    target duration is 1 s)."""
    name = f"/live/{on_air['id']}/high.m3u8"
    checked = 0
    deadline = time.monotonic() + 20
    while checked < 4:
        assert time.monotonic() < deadline, f"only {checked} new segments in 20 s"
        status, body, _ = await fetch(server.url + name)
        assert status == 200
        newest = parse_media(body.decode()).segments[-1]
        seen_at = time.monotonic()

        async def nginx_lists_it(newest: str = newest) -> bool:
            status, body, _ = await fetch(nginx.url + name)
            return status == 200 and newest in parse_media(body.decode()).segments

        await eventually(nginx_lists_it, 2, f"nginx lists {newest}", interval=0.02)
        # Half a second, and a few fetches of slack on a loaded machine.
        assert time.monotonic() - seen_at < 0.5 + 0.25, f"nginx listed {newest} late"

        async def server_moves_on(newest: str = newest) -> bool:
            _, body, _ = await fetch(server.url + name)
            return parse_media(body.decode()).segments[-1] != newest

        await eventually(server_moves_on, 5, "the next segment", interval=0.05)
        checked += 1


async def test_a_closed_hearing_is_404_through_nginx_and_stays_404(server, nginx):
    api = Api(server)
    cast = Cast(server)
    try:
        hearing = await api.create_hearing(public=False)
        await cast.join(hearing, "judge", JUDGE + 10)
        status, _, _ = await api.request("POST", f"/api/hearings/{hearing['id']}/live/start")
        assert status == 403
        missing = "h-does-not-exist"
        for hearing_id in (hearing["id"], missing):
            for path in (
                f"/live/{hearing_id}/index.m3u8",
                f"/live/{hearing_id}/high.m3u8",
                f"/live/{hearing_id}/seg000000.ts",
                f"/live/{hearing_id}/poster.jpg",
                f"/vod/{hearing_id}/index.m3u8",
                f"/vod/{hearing_id}/seg000000.ts",
            ):
                first = await fetch(nginx.url + path)
                second = await fetch(nginx.url + path)  # from nginx's cache now: still a 404
                assert first[0] == 404 and second[0] == 404, path
                assert second[2].get("X-Cache-Status") in ("HIT", "MISS", "EXPIRED"), path
    finally:
        await cast.close()


async def test_the_portal_catalog_and_a_participants_websocket_pass_through(server, nginx, on_air):
    status, body, _ = await fetch(f"{nginx.url}/portal/")
    assert status == 200 and b"<html" in body.lower()
    front = Api(SimpleNamespace(url=nginx.url, admin_key=server.admin_key))
    status, catalog, _ = await front.request("GET", "/api/catalog", auth=None)
    assert status == 200
    assert any(e["id"] == on_air["id"] and e["status"] == "live" for e in catalog["items"])
    # The catalog's filters are part of its cache key: a filtered list is never the full one's.
    status, upcoming, _ = await front.request("GET", "/api/catalog?status=upcoming", auth=None)
    assert status == 200 and all(e["status"] == "upcoming" for e in upcoming["items"])
    # The API with credentials is never cached.
    status, _, headers = await front.request("GET", f"/api/hearings/{on_air['id']}/live")
    assert status == 200 and "X-Cache-Status" not in headers
    # A party joins through nginx: its Socket.IO is websocket-only (the Upgrade passes through);
    # media goes to the server's ICE candidates directly.
    cast = Cast(SimpleNamespace(url=nginx.url, admin_key=server.admin_key))
    try:
        party = await cast.join(on_air, "party", PARTY, admitted=True)
        assert party.sio.transport() == "websocket"
        await eventually(
            lambda: party.pub_pc is not None and party.pub_pc.connectionState == "connected",
            15,
            "the party publishes through nginx's signaling",
        )
    finally:
        await cast.close()


async def test_a_stop_reaches_the_public_through_nginx_within_the_cache_time(server, nginx, on_air):
    """Off air, the server's live playlist stops changing; nginx serves exactly that within half
    a second and keeps serving it (never a stale longer one, never a cached newer one)."""
    api = Api(server)
    name = f"/live/{on_air['id']}/high.m3u8"
    status, _, _ = await api.request("POST", f"/api/hearings/{on_air['id']}/live/stop")
    assert status == 200
    stopped_at = time.monotonic()
    status, body, _ = await fetch(server.url + name)
    final = body

    async def nginx_serves_the_final_playlist() -> bool:
        return (await fetch(nginx.url + name))[1] == final

    await eventually(nginx_serves_the_final_playlist, 2, "nginx serves the stopped playlist", 0.02)
    assert time.monotonic() - stopped_at < 0.5 + 0.3

    async def still_final() -> bool:
        return (await fetch(nginx.url + name))[1] == final == (await fetch(server.url + name))[1]

    # Nothing new for three segments' time (the delay's segments were deleted, not published).
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert await still_final(), "the public saw a segment after the stop"
        await asyncio.sleep(0.2)
