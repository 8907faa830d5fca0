"""Every word the officer's and the liaison judge's desks show has its text in both languages.

The keys are read from the pages themselves (data-i18n attributes, ``t("…")`` calls) and from
the names the server sends that the desks put into words (states, types, site kinds, roles, time
limits, refusal grounds …), taken from the server's own enumerations: a new state or a new
limit without its words fails here, not in front of a site officer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from signaling.accounts import AccountRole
from signaling.confirmation import ConfirmationState
from signaling.disputes import DisputeState, DisputeType, HandlerLevel, Side
from signaling.models import HearingState
from signaling.schemas_signing import RefusalGround
from signaling.signing import DocumentState, SignerStatus
from signaling.sites import SiteKind
from signaling.time_limits import LIMITS

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
LANGUAGES = ("zh-CN", "en")
# The tables each desk loads after the base one (js/officer.js, js/liaison.js main()).
PAGES = {"officer": ("officer", "disputes"), "liaison": ("liaison", "disputes", "officer")}
# The modules both desks import (js/dom.js has no texts today; a text added there counts).
SHARED_JS = ("disputes_view.js", "desk.js", "dom.js")


def table(page: str, lang: str) -> dict[str, str]:
    texts: dict[str, str] = json.loads((STATIC / "i18n" / f"{lang}.json").read_text())
    for name in PAGES[page]:
        texts.update(json.loads((STATIC / "i18n" / f"{name}.{lang}.json").read_text()))
    return texts


def literal_keys(page: str) -> set[str]:
    keys: set[str] = set()
    for name in (f"{page}.js", *SHARED_JS):
        source = (STATIC / "js" / name).read_text()
        keys |= set(re.findall(r'\bt\("([a-z_][\w.]*)"', source))
        # Keys handed to helpers (act("escalate", "act.escalate", …), reasonForm("…")).
        keys |= set(
            re.findall(r'"((?:act|liaison|officer|dispute|desk|agreement)\.[\w.]+)"', source)
        )
    html = (STATIC / f"{page}.html").read_text()
    keys |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html))
    # act("<name>", …) on the officer's desk is shown as act.<name>.
    if page == "officer":
        keys |= {
            f"act.{k}"
            for k in re.findall(r'\bact\("(\w+)"', (STATIC / "js/officer.js").read_text())
        }
    return keys


def server_names() -> set[str]:
    return (
        {f"dispute.state.{s.value}" for s in DisputeState}
        | {f"dispute.type.{t.value}" for t in DisputeType}
        | {f"party.side.{s.value}" for s in Side}
        | {f"handler.{h.value}" for h in HandlerLevel}
        | {"handler.police"}
        | {f"site.kind.{k.value}" for k in SiteKind}
        | {f"role.{r.value}" for r in AccountRole}
        | {f"limit.{limit.name}" for limit in LIMITS}
        | {f"agreement.state.{s.value}" for s in DocumentState}
        | {f"act.signer.{s.value}" for s in SignerStatus}
        | {f"act.session_state.{s.value}" for s in HearingState}
        | {f"confirmation.ground.{g.value}" for g in RefusalGround}
        | {f"confirmation.state.{s.value}" for s in ConfirmationState}
        | {f"dispute.deadline.{s}" for s in ("running", "met", "met_late", "overdue", "ended")}
    )


@pytest.mark.parametrize("page", sorted(PAGES))
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_the_desk_uses_has_a_text(page: str, lang: str) -> None:
    texts = table(page, lang)
    wanted = literal_keys(page) | server_names()
    missing = sorted(k for k in wanted if not texts.get(k, "").strip())
    assert not missing, f"/{page} in {lang} has no text for {missing}"


def test_both_languages_have_the_same_keys() -> None:
    for name in ("officer", "liaison", "disputes"):
        zh, en = (
            set(json.loads((STATIC / "i18n" / f"{name}.{lang}.json").read_text()))
            for lang in LANGUAGES
        )
        assert zh == en, f"{name}: only zh-CN {sorted(zh - en)}, only en {sorted(en - zh)}"
