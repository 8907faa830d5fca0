"""Checks on a whole decoded JSON body or payload, before its model (``schemas``) reads it: its
size, and lone surrogates anywhere in it, keys included (an error message quoting a key or a
value that holds one could not even be encoded)."""

from __future__ import annotations

import json

from signaling.errors import bad_request
from signaling.schemas import SURROGATE


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
                if isinstance(key, str) and SURROGATE.search(key):
                    raise bad_request(
                        f"a key of {f'{where!r}' if where else what} holds a "
                        "lone surrogate, which is not text"
                    )
                stack.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, str) and (char := SURROGATE.search(item)):
            field = f"{where!r}" if where else what
            raise bad_request(
                f"{field} holds a lone surrogate (\\u{ord(char[0]):04x}), which is not text"
            )
