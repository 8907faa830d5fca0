"""Every alarm code the server can raise has its text in both languages of the judge console.

The codes are read from the source, not listed again here: each alarm is raised by a call whose
second argument is its code — `alarm_json(source, code, ...)` or `alarm(hearing_id, code, ...)`
— as a literal, a module constant or a local variable given literals.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from pathlib import Path

from livestream.layout import ROLE_CAPTIONS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("recorder", "livestream", "signaling", "sfu")
LANGUAGES = ("zh-CN", "en")


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _literals(nodes: Iterable[ast.AST], name: str) -> set[str]:
    """The string literals assigned to ``name`` by ``nodes``."""
    return {
        node.value.value
        for node in nodes
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    }


def _codes(path: Path) -> set[str]:
    module = ast.parse(path.read_text(), str(path))
    functions = [
        n for n in ast.walk(module) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    found: set[str] = set()
    for function in functions:
        for call in ast.walk(function):
            if not isinstance(call, ast.Call) or len(call.args) < 2:
                continue
            if _name(call.func) not in ("alarm", "_alarm", "alarm_json", "raise_standing"):
                continue
            code = call.args[1]
            if isinstance(code, ast.Constant) and isinstance(code.value, str):
                found.add(code.value)
            elif isinstance(code, ast.Name):
                # A parameter passes on a code raised elsewhere; anything else must be known.
                local = _literals(ast.walk(function), code.id)
                found |= local or _literals(module.body, code.id)
    return found


def alarm_codes() -> set[str]:
    return {
        code for pkg in PACKAGES for path in (ROOT / pkg).rglob("*.py") for code in _codes(path)
    }


def test_the_scan_finds_the_alarms_of_every_sidecar() -> None:
    codes = alarm_codes()
    assert {"recording_disk_error", "recording_chain_damaged", "stream_failed"} <= codes, codes


def test_every_alarm_code_has_a_text_in_both_languages() -> None:
    codes = alarm_codes()
    for language in LANGUAGES:
        texts = json.loads((ROOT / "web/static/i18n" / f"{language}.json").read_text())
        missing = sorted(code for code in codes if not texts.get(f"alarm.{code}", "").strip())
        assert not missing, f"{language}.json has no text for the alarm(s) {missing}"


# One vocabulary for the roles (issue 12): the pages' names are the public stream's captions.
SHARED_ROLES = ("judge", "clerk", "party", "agent", "witness", "mediator", "site")


def test_the_pages_name_the_roles_as_the_stream_captions_do() -> None:
    texts = json.loads((ROOT / "web/static/i18n/zh-CN.json").read_text())
    pages = {role: texts[f"role.{role}"] for role in SHARED_ROLES}
    assert pages == {
        "judge": "法官",
        "clerk": "书记员",
        "party": "当事人",
        "agent": "代理人",
        "witness": "证人",
        "mediator": "调解员",
        "site": "云法庭点",
    }
    assert pages == {role: ROLE_CAPTIONS[role] for role in SHARED_ROLES}
