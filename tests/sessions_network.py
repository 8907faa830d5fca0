"""Test helpers for mediation sessions and the filing export, over the real HTTP API: a village
site with its liaison judge, officer and mediator, and a dispute of two of its residents taken
in there, in site mediation with its mediator appointed and accepted.

``net = await mediation_dispute(api)`` → {"judge", "officer", "mediator" (accounts, each with
its ``session``), "site", "dispute"}; ``await fail(api, net)`` fails its mediation (with a
reason); ``await upload(api, net, [("a.pdf", b"...")])`` adds evidence files.
"""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp

from tests.e2e import Api
from tests.network import account, site

_n = itertools.count(1)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number(n: int) -> str:
    """A citizen ID number (GB 11643-1999) with a right check character: 110101 (a district),
    a birth date in 1990, a sequence number from ``n``."""
    body = f"11010119900{(n % 9) + 1}1{n % 10}{n % 1000:03d}"
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def party(side: str, name: str, village: str, township: str = "青山镇") -> dict[str, Any]:
    n = next(_n)
    return {
        "side": side,
        "name": name,
        "id_number": id_number(n),
        "phone": f"138{n:08d}",
        "address": f"{township}{village}{n}号",
        "village": village,
        "township": township,
        "consents": {"online_mediation": True, "electronic_service": n % 2 == 0},
    }


# Sites with their people, made once per server and key: each account costs two argon2 hashes
# (creation, sign-in), seconds on a loaded machine; the disputes of a test are its own.
_SITES: dict[tuple[str, str], dict[str, Any]] = {}


async def site_people(api: Api, key: str = "A") -> dict[str, Any]:
    """A village site (one per ``key``) with its liaison judge, officer and mediator."""
    found = _SITES.get((str(api.server.data_dir), key))
    if found is None:
        n = next(_n)
        judge = await account(api, "judge", f"联系法官{key}{n}")
        officer = await account(api, "officer", f"庭务主任{key}{n}")
        mediator = await account(api, "mediator", f"调解员{key}{n}")
        home = await site(
            api,
            kind="village",
            name=f"青山{key}{n}村云法庭",
            village=f"青山{key}{n}村",
            liaison_judge_id=judge["id"],
            officer_id=officer["id"],
            mediator_ids=[mediator["id"]],
        )
        found = {"judge": judge, "officer": officer, "mediator": mediator, "site": home}
        _SITES[(str(api.server.data_dir), key)] = found
    return found


async def mediation_dispute(api: Api, key: str = "A", *, accepted: bool = True) -> dict[str, Any]:
    """A new dispute of two residents of ``key``'s village, taken in at its site."""
    people = await site_people(api, key)
    judge, officer, mediator, home = (people[k] for k in ("judge", "officer", "mediator", "site"))
    village = home["village"]
    status, dispute, _ = await api.request(
        "POST",
        "/api/disputes",
        json={
            "intake_site_id": home["id"],
            "type": "neighbour",
            "summary": "申请人与被申请人因宅基地排水沟发生纠纷，申请人请求被申请人恢复排水沟原状。",
            "parties": [party("applicant", "张三", village), party("respondent", "李四", village)],
        },
        auth=officer["session"],
    )
    assert status == 201, dispute
    assert dispute["state"] == "site_mediation", dispute
    did = dispute["id"]
    status, dispute, _ = await api.request(
        "POST",
        f"/api/disputes/{did}/mediator",
        json={"mediator_id": mediator["id"]},
        auth=officer["session"],
    )
    assert status == 200, dispute
    if accepted:
        status, dispute, _ = await api.request(
            "POST", f"/api/disputes/{did}/mediator/accept", auth=mediator["session"]
        )
        assert status == 200 and dispute["mediator_status"] == "accepted", dispute
    return {
        "judge": judge,
        "officer": officer,
        "mediator": mediator,
        "site": home,
        "dispute": dispute,
    }


async def upload(api: Api, net: dict[str, Any], files: list[tuple[str, bytes]]) -> list[dict]:
    form = aiohttp.FormData()
    for name, data in files:
        form.add_field("file", data, filename=name, content_type="application/octet-stream")
    status, body, _ = await api.request(
        "POST",
        f"/api/disputes/{net['dispute']['id']}/evidence",
        data=form,
        auth=net["officer"]["session"],
    )
    assert status == 201, body
    return list(body["evidence"])


async def fail(api: Api, net: dict[str, Any], reason: str = "双方分歧过大，调解不成") -> dict:
    status, dispute, _ = await api.request(
        "POST",
        f"/api/disputes/{net['dispute']['id']}/transitions",
        json={"to": "failed", "reason": reason},
        auth=net["mediator"]["session"],
    )
    assert status == 200 and dispute["state"] == "failed", dispute
    return dict(dispute)
