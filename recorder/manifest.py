"""The recording's manifest: an append-only, hash-chained log of everything that happened to it.

One JSON object per line (`manifest.jsonl`). Each entry carries `prev`, the hash of the entry
before it (64 zeros for the first), and `hash`, the SHA-256 of its own canonical JSON without
`hash`. Changing, removing or reordering any entry breaks every hash after it, so the last hash
(the chain head, shown by the API) commits to the whole history and every sealed segment's
SHA-256 in it; anchoring the head elsewhere (the case file, a timestamping service) makes the
recording tamper-evident.

Appends are flushed and fsynced one by one: an entry that `append` returned is on disk. A crash
can leave at most a torn last line, which `repair` cuts off (it was never acknowledged).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
MANIFEST = "manifest.jsonl"


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ChainError(ValueError):
    """The manifest is not a valid chain; the message names the first bad line."""


def read_entries(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, entry) for every line; raises ChainError at the first broken link."""
    prev = GENESIS
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                entry = json.loads(line)
            except ValueError:
                raise ChainError(f"manifest line {number} is not valid JSON") from None
            if not isinstance(entry, dict) or entry.get("n") != number - 1:
                raise ChainError(f"manifest line {number} is out of sequence")
            if entry.get("prev") != prev:
                raise ChainError(
                    f"manifest line {number} does not follow line {number - 1} (chain broken)"
                )
            if entry.get("hash") != entry_hash(entry):
                raise ChainError(f"manifest line {number} was altered (its hash does not match)")
            prev = entry["hash"]
            yield number, entry


class Manifest:
    """Appends to one recording's manifest (one writer at a time: the recording's disk thread)."""

    def __init__(
        self, directory: Path, on_entry: Callable[[dict[str, Any]], object] | None = None
    ) -> None:
        self.path = directory / MANIFEST
        self.on_entry = on_entry  # told of every entry loaded or appended, in order
        self.head = GENESIS
        self.count = 0
        self.entries: list[dict[str, Any]] = []

    def load(self) -> list[dict[str, Any]]:
        """Read what is there (after `repair`); the chain must be intact to be continued."""
        self.entries = [entry for _, entry in read_entries(self.path)] if self.path.exists() else []
        if self.on_entry is not None:
            for entry in self.entries:
                self.on_entry(entry)
        self.count = len(self.entries)
        self.head = self.entries[-1]["hash"] if self.entries else GENESIS
        return self.entries

    def repair(self) -> bool:
        """Cut off a torn last line left by a crash mid-append; True if there was one."""
        if not self.path.exists():
            return False
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return False
        with open(self.path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
            os.fsync(f.fileno())
        return True

    def append(self, entry_type: str, /, **fields: Any) -> dict[str, Any]:
        entry = {"n": self.count, "type": entry_type, "at": utc_now(), **fields, "prev": self.head}
        entry["hash"] = entry_hash(entry)
        line = canonical(entry) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            if written != len(line):
                # A regular file takes less than asked only when the disk is full.
                raise OSError(errno.ENOSPC, "short write (disk full?)", str(self.path))
            os.fsync(fd)
        except OSError:
            # Leave no torn line behind: the next append must still continue the chain.
            os.ftruncate(fd, size)
            raise
        finally:
            os.close(fd)
        self.count += 1
        self.head = entry["hash"]
        self.entries.append(entry)
        if self.on_entry is not None:
            self.on_entry(entry)
        return entry
