"""`cloudcourt serve` and the database file: a missing one is created, a good one keeps its
records, and one that is empty, truncated or not ours stops the server with one sentence and exit
code 2, left exactly as it was; `--init` sets a bad one aside (never deletes it) for a new one."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e import Api
from tests.signaling_server import ServerProcess, free_port, start_server

pytestmark = pytest.mark.timeout(120)

DB = "cloudcourt.db"


class InitServer(ServerProcess):
    """The real server started with `--init`."""

    def command(self) -> list[str]:
        return [*super().command(), "--init"]


def serve_until_exit(data_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """Run `cloudcourt serve` expecting it to refuse: it must exit by itself, well within the
    timeout (a server that starts anyway runs until the timeout kills it and fails the test)."""
    server = ServerProcess(data_dir, free_port())
    return subprocess.run(
        [*server.command(), *flags],
        env=server.env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )


async def stored_database(data_dir: Path, hearings: int) -> bytes:
    """A real server's database holding ``hearings`` hearings, the server stopped."""
    srv = start_server(data_dir)
    try:
        api = Api(srv)
        for _ in range(hearings):
            await api.create_hearing()
    finally:
        srv.stop()
    return (data_dir / DB).read_bytes()


def other_apps_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes (body) VALUES ('not a hearing')")
    db.close()


BAD_FILES: dict[str, tuple[Callable[[Path, bytes], None], str]] = {
    "empty": (lambda path, ours: path.write_bytes(b""), "empty"),
    "truncated": (lambda path, ours: path.write_bytes(ours[: len(ours) // 2]), "truncated"),
    "header only": (lambda path, ours: path.write_bytes(ours[:60]), "truncated"),
    # the size is right, the pages are not: a b-tree page overwritten with zeros
    "scribbled": (
        lambda path, ours: path.write_bytes(ours[:4096] + bytes(4096) + ours[8192:]),
        "damaged",
    ),
    "other sqlite": (lambda path, ours: other_apps_database(path), "not a Cloud Court database"),
    "not sqlite": (
        lambda path, ours: path.write_bytes(b"PK\x03\x04 a zip archive, say" * 200),
        "not an SQLite database",
    ),
}


def one_sentence(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("cloudcourt: ") and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("kind", BAD_FILES)
async def test_a_bad_database_is_refused_and_left_as_it_was(tmp_path, kind):
    make, mentions = BAD_FILES[kind]
    ours = await stored_database(tmp_path / "ours", hearings=5)
    data = tmp_path / "data"
    data.mkdir()
    make(data / DB, ours)
    before = (data / DB).read_bytes()
    siblings = sorted(p.name for p in data.iterdir())

    proc = serve_until_exit(data)

    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    sentence = one_sentence(proc.stderr)
    assert mentions in sentence and str(data / DB) in sentence and "--init" in sentence, sentence
    assert (data / DB).read_bytes() == before, "the refused database file was changed"
    assert sorted(p.name for p in data.iterdir() if p.name.startswith(DB)) == [
        n for n in siblings if n.startswith(DB)
    ], "files were added beside the refused database"


async def test_a_good_database_starts_with_its_hearings(tmp_path):
    data = tmp_path / "data"
    await stored_database(data, hearings=5)
    srv = start_server(data)
    try:
        status, body, _ = await Api(srv).request("GET", "/api/hearings")
        assert status == 200 and len(body["hearings"]) == 5, body
    finally:
        srv.stop()


async def test_init_sets_a_bad_database_aside_and_starts_anew(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / DB).write_bytes(b"")
    other_apps_database(tmp_path / "other.db")
    for content in (b"", (tmp_path / "other.db").read_bytes()):
        (data / DB).write_bytes(content)
        srv = InitServer(data, free_port()).start()
        try:
            status, body, _ = await Api(srv).request("GET", "/api/hearings")
            assert status == 200 and body["hearings"] == [], body
            assert (await Api(srv).create_hearing())["id"]
        finally:
            srv.stop()
        kept = [p for p in data.iterdir() if p.name.startswith(f"{DB}.bad-")]
        assert any(p.read_bytes() == content for p in kept), kept
        assert any(p.name in srv.log_text() for p in kept), srv.log_text()
    # and the new database is a good one: a plain start keeps its hearing
    srv = start_server(data)
    try:
        _, body, _ = await Api(srv).request("GET", "/api/hearings")
        assert len(body["hearings"]) == 1, body
    finally:
        srv.stop()


async def test_init_never_replaces_a_good_database(tmp_path):
    data = tmp_path / "data"
    before = await stored_database(data, hearings=5)
    proc = serve_until_exit(data, "--init")
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "5 hearings" in one_sentence(proc.stderr)
    assert (data / DB).read_bytes() == before


async def test_init_creates_a_missing_database(tmp_path):
    srv = InitServer(tmp_path / "data", free_port()).start()
    try:
        assert (await Api(srv).create_hearing())["id"]
    finally:
        srv.stop()
