"""Evidence files of disputes on disk: ``<data dir>/evidence/<dispute id>/<sha256>``.

A file is named by its SHA-256, so the name is the proof of what it holds: it is written to a
temporary file in the same directory, hashed as it streams in, fsynced and renamed into place
(a crash leaves a whole file or none, never a half one under a hash's name), and hashed again
whenever it is read, so an altered or damaged file is refused rather than served as evidence.

Uploads are read part by part from the multipart stream (``request.multipart()``); aiohttp's
``client_max_size`` does not bound a streamed read, so the bytes are counted here, per file and
per request. Disk writes and hashing of a whole file run off the event loop (the SFU's).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from recorder.manifest import unrecordable
from signaling.disputes import Evidence, new_evidence_id
from signaling.errors import Code, CourtError, bad_request, conflict
from signaling.models import utc_now

log = logging.getLogger("cloudcourt.evidence")

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_REQUEST_BYTES = 200 * 1024 * 1024
MAX_FILES = 20
MAX_FILENAME = 200
CHUNK = 64 * 1024
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
OCTET_STREAM = "application/octet-stream"


def too_large(message: str) -> web.HTTPRequestEntityTooLarge:
    # The error middleware renders it as JSON {"error": message} with status 413.
    return web.HTTPRequestEntityTooLarge(MAX_FILE_BYTES, text=message)


def _filename(raw: str | None) -> str:
    """The name as the uploader's machine called it, without any folder (a browser may send
    C:\\fakepath\\… or a/b.pdf); refused if it holds what the record cannot show."""
    if raw is None:
        raise bad_request("each part must be a file (a Content-Disposition filename)")
    # Percent-escapes are undone: the HTML form-data rules escape '"' and line breaks that
    # way, and some clients (aiohttp's among them) escape every non-ASCII character.
    if "%" in raw and "\ufffd" not in (unquoted := unquote(raw, errors="replace")):
        raw = unquoted
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", ".."):
        raise bad_request("a file's name must not be empty")
    if len(name) > MAX_FILENAME:
        raise bad_request(f"a file's name must be at most {MAX_FILENAME} characters")
    if (problem := unrecordable(name)) is not None:
        raise bad_request(f"the file name {name!r} {problem}")
    return name


def _media_type(raw: str | None) -> str:
    value = (raw or OCTET_STREAM).split(";", 1)[0].strip().lower()
    return value if _MEDIA_TYPE.fullmatch(value) else OCTET_STREAM


def repr_digest(sha256_hex: str) -> str:
    """The RFC 9530 Repr-Digest value: ``sha-256=:<base64>:``."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode()}:"


def content_disposition(filename: str) -> str:
    """attachment, with an ASCII fallback and the real (UTF-8) name (RFC 6266, RFC 5987)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "evidence"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass
class _Upload:
    temp: Path
    filename: str
    media_type: str
    size: int
    sha256: str


class EvidenceFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, dispute_id: str) -> Path:
        return self.root / dispute_id

    def path(self, item: Evidence) -> Path:
        return self.folder(item.dispute_id) / item.sha256

    async def receive(
        self, request: web.Request, dispute_id: str, uploaded_by: str
    ) -> list[Evidence]:
        """Every file of the multipart body, stored; all or none of them are recorded."""
        mime = request.content_type
        if mime != "multipart/form-data":
            raise bad_request("the body must be multipart/form-data, one part per file")
        folder = self.folder(dispute_id)
        uploads: list[_Upload] = []
        try:
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            await self._read_parts(request, folder, uploads)
            if not uploads:
                raise bad_request("the upload holds no file")
            for upload in uploads:
                await asyncio.to_thread(self._keep, upload, folder)
        except (ValueError, AssertionError, LookupError) as exc:
            # LookupError: a part's filename* names a charset Python does not know.
            raise bad_request(f"the multipart body is malformed: {_brief(exc)}") from None
        except HttpProcessingError:
            # aiohttp's parser refusing a part's headers (a line without ':' is InvalidHeader,
            # one over its line limit LineTooLong): the uploader's fault, not the server's.
            raise bad_request(
                "the multipart body is malformed: a part's header lines are invalid or too long"
            ) from None
        except ConnectionError:
            raise  # the uploader went away: nobody to answer
        except OSError as exc:
            log.error("evidence of %s cannot be written to %s: %s", dispute_id, folder, exc)
            raise CourtError(
                Code.INTERNAL,
                f"the server cannot store evidence files ({exc.strerror or exc}); nothing of "
                "this upload was recorded",
            ) from None
        finally:
            for upload in uploads:  # those kept were renamed away already
                await asyncio.to_thread(upload.temp.unlink, missing_ok=True)
        now = utc_now()
        return [
            Evidence(
                id=new_evidence_id(),
                dispute_id=dispute_id,
                filename=upload.filename,
                media_type=upload.media_type,
                size=upload.size,
                sha256=upload.sha256,
                uploaded_by=uploaded_by,
                uploaded_at=now,
            )
            for upload in uploads
        ]

    async def _read_parts(self, request: web.Request, folder: Path, uploads: list[_Upload]) -> None:
        """Each part into a temporary file of ``folder``, appended to ``uploads`` as it is."""
        reader = await request.multipart()
        total = 0
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise bad_request("a nested multipart is not a file")
            if len(uploads) == MAX_FILES:
                raise too_large(f"at most {MAX_FILES} files per upload")
            upload = await self._receive_part(part, folder, MAX_REQUEST_BYTES - total)
            uploads.append(upload)
            total += upload.size

    async def _receive_part(self, part: BodyPartReader, folder: Path, room: int) -> _Upload:
        filename = _filename(part.filename)
        media_type = _media_type(part.headers.get("Content-Type"))
        temp = folder / f".upload-{secrets.token_hex(8)}"
        digest = hashlib.sha256()
        size = 0
        out: BinaryIO = await asyncio.to_thread(temp.open, "xb")
        try:
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise too_large(
                        f"{filename} is over {MAX_FILE_BYTES // (1024 * 1024)} MiB, the limit "
                        "for one evidence file"
                    )
                if size > room:
                    raise too_large(
                        f"the upload is over {MAX_REQUEST_BYTES // (1024 * 1024)} MiB in all"
                    )
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(_sync_close, out)
        except BaseException:
            await asyncio.to_thread(out.close)
            await asyncio.to_thread(temp.unlink, missing_ok=True)
            raise
        return _Upload(temp, filename, media_type, size, digest.hexdigest())

    @staticmethod
    def _keep(upload: _Upload, folder: Path) -> None:
        final = folder / upload.sha256
        # Same name, same bytes: a file uploaded twice is kept once.
        os.replace(upload.temp, final)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself survives a crash
        finally:
            os.close(fd)

    async def verified(self, item: Evidence) -> Path:
        """The file, after checking it still hashes to its recorded SHA-256; 409 if not (the
        mismatch is logged: evidence that changed on disk is an incident)."""
        path = self.path(item)
        found = await asyncio.to_thread(_sha256_of, path)
        if found is None:
            log.error("evidence %s of %s: file %s is missing", item.id, item.dispute_id, path)
            raise conflict(
                f"evidence {item.id}'s file is missing from the server's disk; it cannot be "
                "served (restore it from a backup)"
            )
        if found != item.sha256:
            log.error(
                "evidence %s of %s: %s hashes to %s, recorded %s",
                item.id,
                item.dispute_id,
                path,
                found,
                item.sha256,
            )
            raise conflict(
                f"evidence {item.id} no longer matches its recorded SHA-256 ({item.sha256}): "
                "the stored file was altered or damaged, so it is not served (restore it "
                "from a backup)"
            )
        return path


def _brief(exc: Exception) -> str:
    """The parser's complaint, cut short: it may quote the uploader's bytes at any length."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _sync_close(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()


def _sha256_of(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()
