"""Checks on client-supplied JSON, each failing with a sentence that names the field."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from multidict import MultiMapping

from recorder.manifest import unrecordable
from signaling.errors import bad_request
from signaling.models import utc_iso

# ASCII digits only: str.isdigit() also takes "²" and "１", which int() rejects or misreads.
_WHOLE = re.compile(r"[0-9]{1,10}")


# A lone surrogate (what JSON's "\ud800" decodes to) is no Unicode text: it can be neither stored
# (UTF-8) nor sent back in a reply. A regex, not a loop over characters: text may be 1 MiB long.
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_size(value: object, what: str, max_bytes: int) -> None:
    """Refuse ``value`` if its JSON is over ``max_bytes`` of UTF-8, and then if it holds a lone
    surrogate anywhere (``reject_surrogates``). The size comes first: it is one C-speed encode,
    which fails only where there is a surrogate, so only then is the value walked to name it."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        size, lone = len(text.encode()), False
    except UnicodeEncodeError:
        size, lone = len(text.encode(errors="surrogatepass")), True
    if size > max_bytes:
        raise bad_request(f"{what} is larger than {max_bytes} bytes")
    if lone:
        reject_surrogates(value, what)


def reject_surrogates(value: object, what: str = "the request body") -> None:
    """Refuse a lone surrogate anywhere in decoded JSON (keys included), before any of it is used:
    an error message that quotes a field would otherwise fail to encode. The message names the
    field, as ``'title'`` or ``'sources.2'``."""
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    raise bad_request(
                        f"a key of {f'{where!r}' if where else what} holds a "
                        "lone surrogate, which is not text"
                    )
                stack.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, str) and (char := _SURROGATE.search(item)):
            field = f"{where!r}" if where else what
            raise bad_request(
                f"{field} holds a lone surrogate (\\u{ord(char[0]):04x}), which is not text"
            )


def reject_unknown_params(query: Mapping[str, str], allowed: Collection[str]) -> None:
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise bad_request(f"unknown parameter(s): {', '.join(unknown)}")


def query_int(query: MultiMapping[str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter given at most once, within [low, high]."""
    values = query.getall(name, [])
    if len(values) > 1:
        raise bad_request(f"'{name}' may be given once")
    if not values:
        return default
    if not _WHOLE.fullmatch(values[0]) or not low <= int(values[0]) <= high:
        raise bad_request(f"'{name}' must be a whole number from {low} to {high}")
    return int(values[0])


def require_object(value: object, what: str = "request body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{what} must be a JSON object")
    return value


def reject_unknown(body: dict[str, Any], allowed: Collection[str]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise bad_request(
            f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def text_field(body: dict[str, Any], name: str, *, max_len: int = 200) -> str:
    value = body.get(name)
    if value is None:
        raise bad_request(f"'{name}' is required")
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string")
    value = value.strip()
    if not value:
        raise bad_request(f"'{name}' must not be empty")
    if len(value) > max_len:
        raise bad_request(f"'{name}' must be at most {max_len} characters")
    # The record's own rule: names, titles and reasons reach the manifest, captions, logs and
    # file names, where a control character is syntax or an escape sequence and a bidi control
    # makes the text show as something it is not.
    if (problem := unrecordable(value)) is not None:
        raise bad_request(f"'{name}' {problem}")
    return value


def optional_text(body: dict[str, Any], name: str, *, max_len: int = 200) -> str | None:
    if body.get(name) is None:
        return None
    return text_field(body, name, max_len=max_len)


def bool_field(body: dict[str, Any], name: str, *, default: bool | None = None) -> bool:
    value = body.get(name)
    if value is None:
        if default is None:
            raise bad_request(f"'{name}' is required")
        return default
    # JSON true/false only: 0/1 or "yes" are more likely a client bug than intent.
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be true or false")
    return value


# RFC 3339's date-time, i.e. ISO 8601's extended format with everything a moment needs: a full
# date, a time of day and a UTC offset. datetime.fromisoformat alone also takes a bare date
# ("2025-03-01"), the basic format ("20250301T0930") and no offset at all; none of those says
# when a hearing starts, and a missing offset would leave the time zone to a guess.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)


def utc_datetime_field(body: dict[str, Any], name: str) -> str:
    """A date and time with a UTC offset, returned as UTC ISO 8601 (``…+00:00``), so that stored
    values compare the same way as the moments they stand for."""
    raw = text_field(body, name, max_len=64)
    problem = (
        f"'{name}' must be an ISO 8601 date and time with a UTC offset, "
        "e.g. 2025-03-01T09:30:00+08:00 or 2025-03-01T01:30:00Z"
    )
    if not _DATE_TIME.fullmatch(raw):
        raise bad_request(problem)
    try:
        parsed = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1] in "Zz" else raw)
        return utc_iso(parsed)
    except (ValueError, OverflowError):  # 2025-02-30, 24:00, or beyond year 1..9999 in UTC
        raise bad_request(problem) from None
