"""Settings: command-line arguments plus CLOUDCOURT_* environment variables.

Secrets that must survive a restart (the admin key when not given, the JWT signing key) live in
files in the data directory, readable by the server's user only.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from livestream.clock import DEFAULT_TIMEZONE, zone

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = Path("data")
DEFAULT_TOKEN_TTL = 12 * 3600
# Seconds the public stream lags the courtroom, so a judge can cut it before something that must
# not be public is published (docs/LIVESTREAM.md).
DEFAULT_BROADCAST_DELAY = 10.0
MAX_BROADCAST_DELAY = 600.0
MAX_SFU_WORKERS = 64
# A loop silent this long is wedged, not merely starved: on a 2-core machine under a load of
# 20-30, 2 s killed healthy workers mid-hearing (a false kill resets everyone's media).
DEFAULT_HEARTBEAT_TIMEOUT = 5.0
# Composite archive builds at a time: one keeps a burst of hearings ending together off the
# cores (each ffmpeg runs 2 threads, SCHED_IDLE); more finish the queue sooner on a larger machine.
DEFAULT_ARCHIVE_JOBS = 1
MAX_ARCHIVE_JOBS = 32
# Seconds a Socket.IO connection may stay without a joined participant (never joined, or left)
# before the server closes it: an idle socket costs memory and a file descriptor, and has no use.
DEFAULT_JOIN_TIMEOUT = 30.0
MAX_JOIN_TIMEOUT = 3600.0
# How long a person's login session lasts (docs/NETWORK.md): a working day at a site.
DEFAULT_SESSION_TTL = 12 * 3600
MAX_SESSION_TTL = 7 * 24 * 3600
# Seconds without a heartbeat from any of a site's kiosks before the site shows offline; the
# kiosk beats every 15 s, so the default tolerates two lost beats on a poor rural uplink.
DEFAULT_SITE_OFFLINE_AFTER = 45.0
MAX_SITE_OFFLINE_AFTER = 3600.0

ADMIN_KEY_FILE = "admin.key"
JWT_KEY_FILE = "jwt.key"
DB_FILE = "cloudcourt.db"


class ConfigError(ValueError):
    """A setting is unusable; the message says which and why."""


@dataclass(frozen=True, slots=True)
class IceServer:
    urls: list[str]
    username: str | None = None
    credential: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urls": self.urls}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    admin_key: str = ""
    # True when this start created the admin key, so the CLI shows it exactly once.
    admin_key_generated: bool = False
    # Whether the key came from CLOUDCOURT_ADMIN_KEY (the CLI warns when it is short).
    admin_key_from_env: bool = False
    jwt_secret: bytes = b""
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL
    ice_loopback: bool = False
    ice_servers: list[IceServer] = field(default_factory=list)
    public_url: str = ""
    log_level: str = "INFO"
    max_body_bytes: int = 1024 * 1024
    max_sdp_bytes: int = 64 * 1024
    max_event_bytes: int = 64 * 1024
    broadcast_delay: float = DEFAULT_BROADCAST_DELAY
    join_timeout: float = DEFAULT_JOIN_TIMEOUT
    # The court's IANA time zone: the clock of the public stream and of the composite archive.
    timezone: str = DEFAULT_TIMEZONE
    session_ttl_seconds: int = DEFAULT_SESSION_TTL
    site_offline_after: float = DEFAULT_SITE_OFFLINE_AFTER
    # Public holidays, which the mediation rules' "working days" skip besides weekends.
    holidays: frozenset[date] = frozenset()
    # SFU worker processes (issue 17): N >= 1 spawns N supervised workers and runs the recorder
    # and the compositor in processes of their own; 0 runs all of it in this process (tests).
    sfu_workers: int = 1
    # A worker silent this long (no heartbeat) is taken as wedged and killed.
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    # Composite archives built at a time (each an ffmpeg on 2 threads at idle priority).
    archive_jobs: int = DEFAULT_ARCHIVE_JOBS

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILE

    @classmethod
    def load(
        cls,
        *,
        host: str | None = None,
        port: int | None = None,
        data_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        broadcast_delay: float | None = None,
        sfu_workers: int | None = None,
        archive_jobs: int | None = None,
    ) -> Settings:
        env = os.environ if env is None else env
        host = host or DEFAULT_HOST
        port = DEFAULT_PORT if port is None else port
        if not 1 <= port <= 65535:
            raise ConfigError(f"port must be between 1 and 65535, not {port}")
        data = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
        _prepare_data_dir(data)

        admin_key = env.get("CLOUDCOURT_ADMIN_KEY", "").strip()
        generated = False
        if not admin_key:
            admin_key, generated = _read_or_create_secret(data / ADMIN_KEY_FILE)
        # It travels in an Authorization header, which carries only ASCII reliably.
        if not (admin_key.isascii() and admin_key.isprintable()) or " " in admin_key:
            raise ConfigError("the admin key must be printable ASCII without spaces")

        jwt_secret_text = env.get("CLOUDCOURT_JWT_SECRET", "").strip()
        if not jwt_secret_text:
            jwt_secret_text, _ = _read_or_create_secret(data / JWT_KEY_FILE)
        if len(jwt_secret_text) < 32:
            raise ConfigError("CLOUDCOURT_JWT_SECRET must be at least 32 characters long")

        return cls(
            host=host,
            port=port,
            data_dir=data,
            admin_key=admin_key,
            admin_key_generated=generated,
            admin_key_from_env=not generated and bool(env.get("CLOUDCOURT_ADMIN_KEY", "").strip()),
            jwt_secret=jwt_secret_text.encode(),
            token_ttl_seconds=_parse_ttl(env.get("CLOUDCOURT_TOKEN_TTL")),
            ice_loopback=_parse_flag("CLOUDCOURT_ICE_LOOPBACK", env.get("CLOUDCOURT_ICE_LOOPBACK")),
            ice_servers=parse_ice_servers(env.get("CLOUDCOURT_ICE_SERVERS")),
            public_url=_public_url(env.get("CLOUDCOURT_PUBLIC_URL"), host, port),
            log_level=_parse_log_level(env.get("CLOUDCOURT_LOG_LEVEL")),
            broadcast_delay=_broadcast_delay(
                broadcast_delay, env.get("CLOUDCOURT_BROADCAST_DELAY")
            ),
            join_timeout=_join_timeout(env.get("CLOUDCOURT_JOIN_TIMEOUT")),
            timezone=_timezone(env.get("CLOUDCOURT_TIMEZONE")),
            session_ttl_seconds=_session_ttl(env.get("CLOUDCOURT_SESSION_TTL")),
            site_offline_after=_site_offline_after(env.get("CLOUDCOURT_SITE_OFFLINE_AFTER")),
            holidays=_holidays(env.get("CLOUDCOURT_HOLIDAYS")),
            sfu_workers=_sfu_workers(sfu_workers, env.get("CLOUDCOURT_SFU_WORKERS")),
            heartbeat_timeout=_heartbeat_timeout(env.get("CLOUDCOURT_HEARTBEAT_TIMEOUT")),
            archive_jobs=_archive_jobs(archive_jobs, env.get("CLOUDCOURT_ARCHIVE_JOBS")),
        )


def _prepare_data_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create data directory {path}: {exc.strerror}") from None
    if not path.is_dir():
        raise ConfigError(f"data directory {path} is not a directory")
    if not os.access(path, os.W_OK):
        raise ConfigError(f"data directory {path} is not writable")


def _read_or_create_secret(path: Path) -> tuple[str, bool]:
    """The secret stored in ``path``, created (mode 0600) if missing; and whether it was created."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if text:
        return text, False
    secret = secrets.token_urlsafe(32)
    try:
        # O_EXCL: two servers starting on one data dir must not overwrite each other's key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_or_create_secret(path)
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret, True


def _parse_flag(name: str, value: str | None) -> bool:
    if value is None or value.strip() == "":
        return False
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, not {value!r}")


def _parse_ttl(value: str | None) -> int:
    if value is None or value.strip() == "":
        return DEFAULT_TOKEN_TTL
    try:
        ttl = int(value)
    except ValueError:
        raise ConfigError(
            f"CLOUDCOURT_TOKEN_TTL must be a number of seconds, not {value!r}"
        ) from None
    if ttl < 60:
        raise ConfigError("CLOUDCOURT_TOKEN_TTL must be at least 60 seconds")
    return ttl


def _sfu_workers(flag: int | None, value: str | None) -> int:
    """--sfu-workers wins over CLOUDCOURT_SFU_WORKERS; 0 (in-process) to MAX_SFU_WORKERS;
    by default one per core this process may run on."""
    if flag is None:
        if value is None or value.strip() == "":
            return min(len(os.sched_getaffinity(0)), MAX_SFU_WORKERS)
        try:
            flag = int(value)
        except ValueError:
            raise ConfigError(
                f"CLOUDCOURT_SFU_WORKERS must be a whole number, not {value!r}"
            ) from None
    if not 0 <= flag <= MAX_SFU_WORKERS:
        raise ConfigError(f"the SFU workers must be between 0 and {MAX_SFU_WORKERS}, not {flag}")
    return flag


def _archive_jobs(flag: int | None, value: str | None) -> int:
    """--archive-jobs wins over CLOUDCOURT_ARCHIVE_JOBS; 1 to MAX_ARCHIVE_JOBS."""
    if flag is None:
        if value is None or value.strip() == "":
            return DEFAULT_ARCHIVE_JOBS
        try:
            flag = int(value)
        except ValueError:
            raise ConfigError(
                f"CLOUDCOURT_ARCHIVE_JOBS must be a whole number, not {value!r}"
            ) from None
    if not 1 <= flag <= MAX_ARCHIVE_JOBS:
        raise ConfigError(f"the archive jobs must be between 1 and {MAX_ARCHIVE_JOBS}, not {flag}")
    return flag


def _heartbeat_timeout(value: str | None) -> float:
    if value is None or value.strip() == "":
        return DEFAULT_HEARTBEAT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(
            f"CLOUDCOURT_HEARTBEAT_TIMEOUT must be a number of seconds, not {value!r}"
        ) from None
    # Under 0.5 s a busy machine's scheduling alone would read as a wedged worker.
    if not 0.5 <= seconds <= 60:
        raise ConfigError("CLOUDCOURT_HEARTBEAT_TIMEOUT must be between 0.5 and 60 seconds")
    return seconds


def _broadcast_delay(flag: float | None, value: str | None) -> float:
    """--broadcast-delay wins over CLOUDCOURT_BROADCAST_DELAY; seconds, 0 to 600."""
    if flag is None:
        if value is None or value.strip() == "":
            return DEFAULT_BROADCAST_DELAY
        try:
            flag = float(value)
        except ValueError:
            raise ConfigError(
                f"CLOUDCOURT_BROADCAST_DELAY must be a number of seconds, not {value!r}"
            ) from None
    if not 0 <= flag <= MAX_BROADCAST_DELAY:  # also rejects NaN
        raise ConfigError(
            f"the broadcast delay must be between 0 and {MAX_BROADCAST_DELAY:g} seconds, not {flag}"
        )
    return flag


def _join_timeout(value: str | None) -> float:
    if value is None or value.strip() == "":
        return DEFAULT_JOIN_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 1 <= seconds <= MAX_JOIN_TIMEOUT:  # also rejects NaN
        raise ConfigError(
            f"CLOUDCOURT_JOIN_TIMEOUT must be a number of seconds from 1 to "
            f"{MAX_JOIN_TIMEOUT:g}, not {value!r}"
        )
    return seconds


def _session_ttl(value: str | None) -> int:
    if value is None or value.strip() == "":
        return DEFAULT_SESSION_TTL
    ttl = int(value) if value.strip().isascii() and value.strip().isdigit() else 0
    if not 60 <= ttl <= MAX_SESSION_TTL:
        raise ConfigError(
            f"CLOUDCOURT_SESSION_TTL must be a whole number of seconds from 60 to "
            f"{MAX_SESSION_TTL}, not {value!r}"
        )
    return ttl


def _site_offline_after(value: str | None) -> float:
    if value is None or value.strip() == "":
        return DEFAULT_SITE_OFFLINE_AFTER
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 1 <= seconds <= MAX_SITE_OFFLINE_AFTER:  # also rejects NaN
        raise ConfigError(
            f"CLOUDCOURT_SITE_OFFLINE_AFTER must be a number of seconds from 1 to "
            f"{MAX_SITE_OFFLINE_AFTER:g}, not {value!r}"
        )
    return seconds


def _holidays(value: str | None) -> frozenset[date]:
    try:
        return frozenset(
            date.fromisoformat(day.strip()) for day in (value or "").split(",") if day.strip()
        )
    except ValueError:
        raise ConfigError(
            "CLOUDCOURT_HOLIDAYS must be dates separated by commas, e.g. 2026-10-01,2026-10-02, "
            f"not {value!r}"
        ) from None


def _timezone(value: str | None) -> str:
    name = (value or "").strip() or DEFAULT_TIMEZONE
    try:
        zone(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return name


def _parse_log_level(value: str | None) -> str:
    level = (value or "INFO").strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"CLOUDCOURT_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {value!r}"
        )
    return level


def parse_ice_servers(value: str | None) -> list[IceServer]:
    """CLOUDCOURT_ICE_SERVERS: a JSON list of {"urls", "username"?, "credential"?}."""
    if value is None or value.strip() == "":
        return []
    what = "CLOUDCOURT_ICE_SERVERS"
    try:
        items = json.loads(value)
    except ValueError:
        raise ConfigError(f"{what} is not valid JSON") from None
    if not isinstance(items, list):
        raise ConfigError(f"{what} must be a JSON list of objects with 'urls'")
    servers = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"{what}[{i}] must be an object with 'urls'")
        urls = item.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if (
            not isinstance(urls, list)
            or not urls
            or not all(
                isinstance(u, str) and u.split(":", 1)[0] in ("stun", "turn", "turns") for u in urls
            )
        ):
            raise ConfigError(f"{what}[{i}].urls must be stun:, turn: or turns: URLs")
        username, credential = item.get("username"), item.get("credential")
        for key, v in (("username", username), ("credential", credential)):
            if v is not None and not isinstance(v, str):
                raise ConfigError(f"{what}[{i}].{key} must be a string")
        servers.append(IceServer(urls=urls, username=username, credential=credential))
    return servers


def _public_url(value: str | None, host: str, port: int) -> str:
    if value and value.strip():
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"CLOUDCOURT_PUBLIC_URL must be an http(s) URL, not {value!r}")
        return url
    # A wildcard bind address is not something a browser can open.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"
