"""Reading a request with its model (``schemas``): a refusal is a :class:`CourtError` whose
sentence names the field and says why, as the API has always answered ("'title' must be a
string"); pydantic's errors are translated here."""

from __future__ import annotations

import re
from typing import TypeVar

from annotated_types import Ge, Le
from multidict import MultiMapping
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from signaling.errors import CourtError, bad_request
from signaling.schemas import RULE

M = TypeVar("M", bound=BaseModel)


def body(model: type[M], data: object, what: str = "request body") -> M:
    if not isinstance(data, dict):
        raise bad_request(f"{what} must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise refusal(model, exc, unknown="unknown field(s)", list_allowed=True) from None


def query(model: type[M], params: MultiMapping[str]) -> M:
    """Each parameter at most once."""
    values: dict[str, str] = {}
    for name in params:
        given = params.getall(name)
        if len(given) > 1:
            raise bad_request(f"'{name}' may be given once")
        values[name] = given[0]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise refusal(model, exc, unknown="unknown parameter(s)", list_allowed=False) from None


def refusal(
    model: type[BaseModel], exc: ValidationError, *, unknown: str, list_allowed: bool
) -> CourtError:
    """The sentence for the first thing wrong; unknown names first (likely a typo, which the
    other errors would only follow from), all of them, with what is allowed if asked."""
    errors = exc.errors(include_url=False, include_input=False)
    extra = sorted(".".join(map(str, e["loc"])) for e in errors if e["type"] == "extra_forbidden")
    if extra:
        top_level = all("." not in name for name in extra)
        allowed = (
            f"; allowed: {', '.join(sorted(model.model_fields))}"
            if list_allowed and top_level
            else ""
        )
        return bad_request(f"{unknown}: {', '.join(extra)}{allowed}")
    return bad_request(sentence(model, errors[0]))


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
}


def sentence(model: type[BaseModel], error: ErrorDetails) -> str:
    # The field's path, as 'candidate.sdpMid' or 'sources.2' (a dict's entry).
    loc = [str(part) for part in error["loc"] if part != "[key]"]
    field = ".".join(loc)
    kind = error["type"]
    if not field:
        return error["msg"] if kind in ("order", RULE) else f"not valid: {error['msg']}"
    name = f"'{field}'"
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"{name} is required"
    if kind in _TYPE_NAMES:
        return f"{name} must be {_TYPE_NAMES[kind]}"
    if kind == "string_unicode":
        return f"{name} holds a lone surrogate, which is not text"
    if kind == "string_too_short":
        return f"{name} must not be empty"
    if kind == "string_too_long":
        return f"{name} must be at most {ctx['max_length']} characters"
    if kind in ("too_long", "dict_too_long"):
        return f"{name} may have at most {ctx['max_length']} entries"
    if kind in ("whole_number", "greater_than_equal", "less_than_equal", "int_parsing"):
        if (bounds := _bounds(model, loc[0])) is not None:
            return f"{name} must be a whole number from {bounds[0]} to {bounds[1]}"
        if "ge" in ctx:
            return f"{name} must be at least {ctx['ge']}"
        if "le" in ctx:
            return f"{name} must be at most {ctx['le']}"
    if kind in ("enum", "literal_error"):
        return f"{name} must be one of: {_choices(ctx.get('expected', ''))}"
    if kind == RULE:
        return f"{name} {error['msg']}"
    return f"{name} is not valid: {error['msg']}"


def _bounds(model: type[BaseModel], name: str) -> tuple[int, int] | None:
    """The [low, high] of a whole-number field of ``model`` itself (a query's), if it has both."""
    info = model.model_fields.get(name)
    metadata = info.metadata if info is not None else []
    low = next((m.ge for m in metadata if isinstance(m, Ge)), None)
    high = next((m.le for m in metadata if isinstance(m, Le)), None)
    if low is None or high is None:
        return None
    return int(low), int(high)  # type: ignore[call-overload]


def _choices(expected: str) -> str:
    """pydantic's "'a', 'b' or 'c'" as the API says it: "a, b, c"."""
    return ", ".join(re.findall(r"'([^']*)'", expected))
