"""Checks on client-supplied JSON, each failing with a sentence that names the field."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from signaling.errors import bad_request


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


def iso_datetime_field(body: dict[str, Any], name: str) -> str:
    raw = text_field(body, name, max_len=64)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_request(
            f"'{name}' must be an ISO 8601 date and time, e.g. 2025-03-01T09:30:00+08:00"
        ) from None
    return parsed.isoformat()
