"""The recording's manifest: an append-only, hash-chained log of everything that happened to it.

One JSON object per line (`manifest.jsonl`). Each entry carries `prev`, the hash of the entry
before it (64 zeros for the first), and `hash`, the SHA-256 of its own canonical JSON without
`hash`. Changing, removing or reordering any entry breaks every hash after it, so the last hash
(the chain head, shown by the API) commits to the whole history and every sealed segment's
SHA-256 in it; anchoring the head elsewhere (the case file, a timestamping service) makes the
recording tamper-evident.

Appends are flushed and fsynced one by one: an entry that `append` returned is on disk. A crash
can leave at most a torn last line, which `repair` cuts off (it was never acknowledged).

A damaged manifest is evidence and is never written again: the recording goes on in a new chain
(`manifest-2.jsonl`, `manifest-3.jsonl`, …) whose first entry names the damaged one, why, and
the last hash of it that still verifies. The last chain is the recording's current one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
MANIFEST = "manifest.jsonl"
CHAIN = re.compile(r"manifest(?:-([2-9]|[1-9]\d+))?\.jsonl")
# Characters that would make a recorded text show as something it is not (or break a line).
_DECEIVING = {
    "\u2028",
    "\u2029",
    *map(chr, range(0x202A, 0x202F)),  # bidi embeddings and overrides
    *map(chr, range(0x2066, 0x206A)),  # bidi isolates
}


def chain_name(number: int) -> str:
    return MANIFEST if number == 1 else f"manifest-{number}.jsonl"


def chain_number(name: str) -> int:
    match = CHAIN.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is not a manifest chain")
    return int(match.group(1) or 1)


def chains(directory: Path) -> list[str]:
    """The recording's manifest chains in order, the current one last."""
    try:
        names = [p.name for p in directory.iterdir() if CHAIN.fullmatch(p.name) and p.is_file()]
    except (FileNotFoundError, NotADirectoryError):  # nothing recorded there
        return []
    return sorted(names, key=chain_number)


def unrecordable(text: str) -> str | None:
    """Why ``text`` cannot go into the record as it is (None if it can)."""
    for char in text:
        if 0xD800 <= ord(char) <= 0xDFFF:
            return "contains a lone surrogate (not text)"
        if unicodedata.category(char) == "Cc":
            return f"contains the control character U+{ord(char):04X}"
        if char in _DECEIVING:
            return f"contains U+{ord(char):04X}, which changes how the text is shown"
    return None


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ChainError(ValueError):
    """The manifest is not a valid chain; the message names the first bad line."""


@dataclass
class ChainCheck:
    """What of a chain file verifies, and the file as found (to pin it as evidence)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    bytes: int = 0
    sha256: str = hashlib.sha256(b"").hexdigest()

    @property
    def head(self) -> str:
        return self.entries[-1]["hash"] if self.entries else GENESIS


def check_chain(path: Path) -> ChainCheck:
    """The longest prefix of ``path`` that verifies (a missing file has none)."""
    check = ChainCheck()
    try:
        data = path.read_bytes()
    except OSError as exc:
        check.error = f"{path.name} cannot be read: {exc.strerror or exc}"
        return check
    check.bytes, check.sha256 = len(data), hashlib.sha256(data).hexdigest()
    try:
        for _, entry in _chained(data.splitlines(keepends=True)):
            check.entries.append(entry)
    except ChainError as exc:
        check.error = str(exc)
    return check


def first_entry(path: Path) -> dict[str, Any] | None:
    """A chain's first entry, if it verifies (it names the chain before, if any)."""
    try:
        with open(path, "rb") as f:
            line = f.readline()
        return next(_chained([line]))[1]
    except (OSError, ChainError, StopIteration):
        return None


def read_entries(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, entry) for every line; raises ChainError at the first broken link."""
    with open(path, "rb") as f:
        yield from _chained(f)


def _chained(lines: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    prev = GENESIS
    for number, line in enumerate(lines, 1):
        if not line.endswith(b"\n"):
            raise ChainError(f"manifest line {number} is cut short (no end of line)")
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
    """Appends to one chain of a recording's manifest (one writer at a time: the recording's disk
    thread). It appends only to the file as it left it: a file that changed size meanwhile (cut
    short, or written by someone else) is damaged, and `append` refuses it with ChainError."""

    def __init__(
        self,
        directory: Path,
        on_entry: Callable[[dict[str, Any]], object] | None = None,
        name: str = MANIFEST,
    ) -> None:
        self.path = directory / name
        self.on_entry = on_entry  # told of every entry loaded or appended, in order
        self.head = GENESIS
        self.count = 0
        self.entries: list[dict[str, Any]] = []
        self.size = 0  # bytes of the file as this writer knows it
        self.torn = 0  # bytes of a torn last line found by `load`, until `repair` cuts them

    def load(self) -> list[dict[str, Any]]:
        """Read what is there; the chain must be intact to be continued. A torn last line (a
        crash mid-append) is left out, and left in the file until `repair`; bytes after the last
        line that cannot be the start of an entry are damage."""
        data = self.path.read_bytes() if self.path.exists() else b""
        lines = data.splitlines(keepends=True)
        torn = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        if torn and not torn.startswith(b'{"'):
            raise ChainError(
                f"manifest line {len(lines) + 1} is not an entry ({len(torn)} bytes of something "
                "else at the end)"
            )
        self.entries = [entry for _, entry in _chained(lines)]
        if self.on_entry is not None:
            for entry in self.entries:
                self.on_entry(entry)
        self.count = len(self.entries)
        self.head = self.entries[-1]["hash"] if self.entries else GENESIS
        self.torn, self.size = len(torn), len(data) - len(torn)
        return self.entries

    def repair(self) -> bool:
        """Cut off the torn last line `load` found; True if there was one (it was never
        acknowledged, so no entry is lost)."""
        if not self.torn:
            return False
        with open(self.path, "r+b") as f:
            if os.fstat(f.fileno()).st_size != self.size + self.torn:
                raise ChainError(f"{self.path.name} changed while it was being repaired")
            f.truncate(self.size)
            os.fsync(f.fileno())
        self.torn = 0
        return True

    def append(self, entry_type: str, /, **fields: Any) -> dict[str, Any]:
        entry = {"n": self.count, "type": entry_type, "at": utc_now(), **fields, "prev": self.head}
        entry["hash"] = entry_hash(entry)  # also the check that every text in it can be written
        line = canonical(entry) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size != self.size + self.torn:
                raise ChainError(
                    f"{self.path.name} changed behind the recorder's back: {size} bytes where "
                    f"it had written {self.size}"
                )
            if self.torn:
                raise ChainError(f"{self.path.name} ends in a torn line (repair it first)")
            try:
                written = os.write(fd, line)
                if written != len(line):
                    # A regular file takes less than asked only when the disk is full.
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
                os.fsync(fd)
            except OSError:
                # Leave no torn line behind: the next append must still continue the chain.
                os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
        self.count += 1
        self.size += len(line)
        self.head = entry["hash"]
        self.entries.append(entry)
        if self.on_entry is not None:
            self.on_entry(entry)
        return entry
