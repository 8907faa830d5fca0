"""``cloudcourt`` command line: ``cloudcourt serve [--host H] [--port P] [--data-dir D] [--init]``,
``cloudcourt verify [<hearing-id>] [--signatures] [--data-dir D]``; ``cloudcourt recorder
--channel-fd FD --data-dir D`` is the recorder's process, which `serve` runs itself."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from signaling import __version__
from signaling.config import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, ConfigError, Settings
from signaling.store import StoreError, prepare_database

log = logging.getLogger("cloudcourt")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"cloudcourt: {message}; see 'cloudcourt --help'\n")


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, not {value!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, not {port}")
    return port


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cloudcourt", description="Cloud Court (云法庭) video-hearing server")
    p.add_argument("--version", action="version", version=f"cloudcourt {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    serve = sub.add_parser(
        "serve",
        help="run the server (HTTP API, Socket.IO, WHIP/WHEP, embedded SFU)",
        description="Run the server. Settings beyond these flags come from CLOUDCOURT_* "
        "environment variables (see docs/OPERATIONS.md).",
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port to bind (default {DEFAULT_PORT})"
    )
    serve.add_argument(
        "--data-dir",
        default=str(DEFAULT_DATA_DIR),
        help=f"where the database and keys live (default ./{DEFAULT_DATA_DIR})",
    )
    serve.add_argument(
        "--init",
        action="store_true",
        help="start with a new database when the one in the data directory is not usable "
        "(empty, truncated, another program's): it is renamed to cloudcourt.db.bad-<time>, "
        "never deleted; a database with records is never replaced",
    )
    serve.add_argument(
        "--sfu-workers",
        type=int,
        default=None,
        metavar="N",
        help="SFU worker processes, each hearing placed on the least loaded, the recorder "
        "and the public stream's compositor in processes of their own (default "
        "CLOUDCOURT_SFU_WORKERS or one per core; 0: all of it inside this process, for tests; "
        "see docs/SFU.md)",
    )
    serve.add_argument(
        "--archive-jobs",
        type=int,
        default=None,
        metavar="N",
        help="composite archives built at a time, each an ffmpeg at idle priority (default "
        "CLOUDCOURT_ARCHIVE_JOBS or 1)",
    )
    serve.add_argument(
        "--broadcast-delay",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how far the public live stream lags the courtroom (default "
        "CLOUDCOURT_BROADCAST_DELAY or 10)",
    )
    verify = sub.add_parser(
        "verify",
        help="check a hearing's recording against its hash-chained manifest, or the signature "
        "chain of the signed documents (--signatures)",
        description="Check every sealed segment of a hearing's recording and the manifest's hash "
        "chain; with --signatures, every entry of the signature chain (hash and link), each "
        "signed document's text against its SHA-256 and each signature image. Exit 0 with a "
        "summary, 1 naming the first bad or missing file or entry.",
    )
    verify.add_argument("hearing_id", nargs="?", help="the hearing's id (h_…)")
    verify.add_argument(
        "--signatures",
        action="store_true",
        help="check the signature chain of agreements and confirmations (docs/SIGNING.md)",
    )
    verify.add_argument(
        "--expect-head",
        metavar="SEQ:HASH",
        help="with --signatures: the chain head recorded earlier (e.g. in the daily report); "
        "exit 1 if the chain no longer reaches it (entries cut off or rewritten)",
    )
    verify.add_argument(
        "--data-dir",
        default=str(DEFAULT_DATA_DIR),
        help=f"the server's data directory (default ./{DEFAULT_DATA_DIR})",
    )
    sub.add_parser(
        "livestream",
        add_help=False,
        help="the public stream compositor's own process (run by `cloudcourt serve "
        "--sfu-workers N`, not by hand)",
        description="Arguments: --channel-fd FD --data-dir D --broadcast-delay S --timezone TZ.",
    )
    sub.add_parser(
        "recorder",
        add_help=False,
        help="the recorder's own process (run by `cloudcourt serve --sfu-workers N`, not by hand)",
        description="Arguments: --channel-fd FD --data-dir D [--archive-jobs N] [--timezone TZ].",
    )
    sub.add_parser(
        "loadtest",
        add_help=False,
        help="run the load generator and capacity report (python -m benchmarks.sfu)",
        description="Arguments go to the load generator; `cloudcourt loadtest --help` lists them.",
    )
    return p


def serve(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            broadcast_delay=args.broadcast_delay,
            sfu_workers=args.sfu_workers,
            archive_jobs=args.archive_jobs,
        )
    except ConfigError as exc:
        print(f"cloudcourt: {exc}", file=sys.stderr)
        return 2
    # Imported here: aiohttp's web stack is a quarter of a second of a sidecar's start-up
    # (`cloudcourt recorder` goes through this module too), and only `serve` needs it.
    from signaling import logs

    logs.setup(settings.log_level)
    if settings.admin_key_generated:
        # Shown this once; afterwards it is only in the key file.
        print(
            f"cloudcourt: generated admin key (stored in {settings.data_dir / 'admin.key'}):\n"
            f"{settings.admin_key}",
            flush=True,
        )
    elif settings.admin_key_from_env and len(settings.admin_key) < 16:
        log.warning("CLOUDCOURT_ADMIN_KEY is shorter than 16 characters; use a longer one")
    # Before anything else is logged: a database that cannot be used is one sentence, exit 2.
    try:
        note = prepare_database(settings.db_path, init=args.init)
    except StoreError as exc:
        print(f"cloudcourt: {exc}", file=sys.stderr)
        return 2
    if note:
        print(f"cloudcourt: {note}", file=sys.stderr, flush=True)
    if settings.ice_loopback:
        log.info("ICE: offering loopback (127.0.0.1) candidates only")
    if not settings.ice_servers:
        log.info("ICE: no STUN/TURN servers configured (set CLOUDCOURT_ICE_SERVERS to add some)")

    # Imported here so that `cloudcourt --help` and config errors do not pay for aiortc.
    from aiohttp import web

    from signaling.app import build_app

    def announce(message: object) -> None:
        log.info(
            "listening on http://%s:%d (data in %s; public URL %s)",
            settings.host,
            settings.port,
            settings.data_dir.resolve(),
            settings.public_url,
        )

    try:
        web.run_app(
            build_app(settings),
            host=settings.host,
            port=settings.port,
            access_log_class=logs.AccessLogger,
            access_log=logging.getLogger("cloudcourt.access"),
            print=announce,
            shutdown_timeout=5,
            handle_signals=True,
        )
    except StoreError as exc:
        print(f"cloudcourt: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"cloudcourt: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


def verify(args: argparse.Namespace) -> int:
    if args.hearing_id is None and not args.signatures:
        print(
            "cloudcourt: verify needs a hearing id, --signatures, or both; see "
            "'cloudcourt verify --help'",
            file=sys.stderr,
        )
        return 2
    ok = True
    if args.hearing_id is not None:
        from recorder.verify import verify as check

        verdict = check(Path(args.data_dir), args.hearing_id)
        print("\n".join(verdict.lines), file=sys.stdout if verdict.ok else sys.stderr)
        ok = verdict.ok
    if args.signatures:
        ok = verify_signatures(Path(args.data_dir), args.expect_head) and ok
    return 0 if ok else 1


def verify_signatures(data_dir: Path, expect_head: str | None = None) -> bool:
    """The signature chain of the database in ``data_dir``, read only (the server may run);
    ``expect_head`` (SEQ:HASH, recorded elsewhere) catches a chain cut short."""
    import sqlite3

    from signaling.config import DB_FILE
    from signaling.signing_store import parse_head, verify_chain

    try:
        head = parse_head(expect_head) if expect_head is not None else None
    except ValueError as exc:
        print(f"signatures: --expect-head: {exc}", file=sys.stderr)
        return False
    path = data_dir / DB_FILE
    if not path.is_file():
        print(f"signatures: no database at {path}", file=sys.stderr)
        return False
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            report = verify_chain(conn, head)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        print(f"signatures: cannot read {path}: {exc}", file=sys.stderr)
        return False
    if report.error is not None:
        lines = [f"signatures: BROKEN: {report.error}"]
        lines += [f"  also: {p}" for p in report.problems[1:]]
        print("\n".join(lines), file=sys.stderr)
        return False
    print(
        f"signatures: ok: {report.entries} entries, {report.documents} documents, "
        f"chain head {report.head_seq}:{report.head}"
    )
    return True


def loadtest(argv: list[str]) -> int:
    # Imported here: `cloudcourt serve` never loads the load generator's modules
    # (tests/test_import_graph.py holds this import to this function).
    from benchmarks.sfu import main as loadtest_main

    return loadtest_main(argv, prog="cloudcourt loadtest")


def recorder(argv: list[str]) -> int:
    # Imported here: `cloudcourt serve` and `verify` do not load the child's host.
    from recorder.process import build
    from signaling.sidecar_processes import run_child

    return run_child("recorder", argv, build)


def livestream(argv: list[str]) -> int:
    # Imported here: `cloudcourt serve` and `verify` do not load the child's host.
    from livestream.process import build
    from signaling.sidecar_processes import run_child

    return run_child("livestream", argv, build)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["loadtest"]:
        return loadtest(argv[1:])
    if argv[:1] == ["recorder"]:
        return recorder(argv[1:])
    if argv[:1] == ["livestream"]:
        return livestream(argv[1:])
    args = parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "verify":
        return verify(args)
    return 2  # unreachable: argparse refuses unknown commands


if __name__ == "__main__":
    sys.exit(main())
