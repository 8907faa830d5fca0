"""Test helpers for signing (docs/SIGNING.md), over the real API: a village site with its
officer, liaison judge and mediator; a dispute of two of its residents taken in there and in
site mediation with the mediator accepted; a drawn signature as signature_pad would send it."""

from __future__ import annotations

import base64
import io
import itertools
from typing import Any

from PIL import Image, ImageDraw

from tests.e2e import Api
from tests.network import account, site

_seq = itertools.count(1)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(born: str = "19850312") -> str:
    """A citizen ID number with a right check character (GB 11643)."""
    base = f"330102{born}{next(_seq) % 1000:03d}"
    return base + "10X98765432"[sum(int(d) * w for d, w in zip(base, _WEIGHTS, strict=True)) % 11]


def signature_png(width: int = 500, height: int = 180, ink: bool = True) -> str:
    """A handwritten-looking stroke on transparency, as a data URL (signature_pad's toDataURL)."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    if ink:
        ImageDraw.Draw(image).line(
            [(20, 120), (90, 40), (160, 130), (240, 50), (330, 140), (470, 60)],
            fill=(17, 17, 17, 255),
            width=5,
        )
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


class Village:
    """One village site (its officer, liaison judge, a mediator), another site's officer and
    judge (for the 403s), and disputes of two residents in site mediation."""

    def __init__(self, api: Api) -> None:
        self.api = api
        # Whole ID numbers by party id (replies mask them): what a party knows of itself.
        self.id_numbers: dict[str, str] = {}

    async def build(self) -> Village:
        api = self.api
        self.judge = await account(api, "judge", "李法官")
        self.officer = await account(api, "officer", "青山村庭务主任")
        self.mediator = await account(api, "mediator", "张调解员")
        self.other_judge = await account(api, "judge", "王法官")
        self.other_officer = await account(api, "officer", "白水村庭务主任")
        self.site = await site(
            api,
            kind="village",
            name="青山村云法庭",
            county="青山县",
            village="青山村",
            officer_id=self.officer["id"],
            liaison_judge_id=self.judge["id"],
            mediator_ids=[self.mediator["id"]],
        )
        self.other_site = await site(
            api,
            kind="village",
            name="白水村云法庭",
            village="白水村",
            officer_id=self.other_officer["id"],
            liaison_judge_id=self.other_judge["id"],
        )
        return self

    def party(self, side: str, name: str) -> dict[str, Any]:
        return {
            "side": side,
            "name": name,
            "id_number": id_number(),
            "phone": "13812345678",
            "address": "青山镇青山村3组12号",
            "village": "青山村",
            "township": "青山镇",
            "consents": {"online_mediation": True, "electronic_service": True},
        }

    async def dispute(self) -> dict[str, Any]:
        """A neighbour dispute of two residents, in site mediation, the mediator accepted."""
        api = self.api
        parties = [self.party("applicant", "赵大山"), self.party("respondent", "钱小河")]
        status, dispute, _ = await api.request(
            "POST",
            "/api/disputes",
            json={
                "intake_site_id": self.site["id"],
                "type": "neighbour",
                "summary": "两户宅基地之间的围墙越界约半米，排水沟堵塞",
                "parties": parties,
            },
            auth=self.officer["session"],
        )
        assert status == 201, (status, dispute)
        assert dispute["state"] == "site_mediation", dispute
        for party, sent in zip(dispute["parties"], parties, strict=True):
            self.id_numbers[party["id"]] = sent["id_number"]
        status, data, _ = await api.request(
            "POST",
            f"/api/disputes/{dispute['id']}/mediator",
            json={"mediator_id": self.mediator["id"]},
            auth=self.officer["session"],
        )
        assert status == 200, (status, data)
        status, data, _ = await api.request(
            "POST", f"/api/disputes/{dispute['id']}/mediator/accept", auth=self.mediator["session"]
        )
        assert status == 200, (status, data)
        return dict(data)

    async def agreement(self, dispute: dict[str, Any], **extra: Any) -> dict[str, Any]:
        status, data, _ = await self.api.request(
            "POST",
            f"/api/disputes/{dispute['id']}/agreements",
            json={
                "terms": [
                    "钱小河于2027年1月31日前将越界围墙拆除并退回约半米。",
                    "双方共同疏通排水沟，费用各半。",
                ],
                **extra,
            },
            auth=self.mediator["session"],
        )
        assert status == 201, (status, data)
        return dict(data)

    async def sign_in_person(
        self, document: dict[str, Any], party_id: str, **extra: Any
    ) -> tuple[int, Any]:
        status, data, _ = await self.api.request(
            "POST",
            f"/api/documents/{document['id']}/signatures",
            json={
                "text_sha256": document["text_sha256"],
                "image": signature_png(),
                "party_id": party_id,
                "attest": True,
                **extra,
            },
            auth=self.officer["session"],
        )
        return status, data

    async def sign_as_mediator(self, document: dict[str, Any]) -> tuple[int, Any]:
        status, data, _ = await self.api.request(
            "POST",
            f"/api/documents/{document['id']}/signatures",
            json={"text_sha256": document["text_sha256"], "image": signature_png()},
            auth=self.mediator["session"],
        )
        return status, data

    async def link(
        self, document: dict[str, Any], party_id: str, auth: str | None = None
    ) -> dict[str, Any]:
        """A party's signing link, minted by the site officer, its identity confirmed with the
        last 6 digits of the party's ID number (as the party does on the /sign page)."""
        link = await self.unconfirmed_link(document, party_id, auth)
        status, data = await self.confirm(document, link["token"], self.last6(party_id))
        assert status == 200 and data["verified"] is True, (status, data)
        return link

    async def unconfirmed_link(
        self, document: dict[str, Any], party_id: str, auth: str | None = None
    ) -> dict[str, Any]:
        status, link, _ = await self.api.request(
            "POST",
            f"/api/documents/{document['id']}/links",
            json={"party_id": party_id},
            auth=auth or self.officer["session"],
        )
        assert status == 201, (status, link)
        return dict(link)

    def last6(self, party_id: str) -> str:
        return self.id_numbers[party_id][-6:]

    async def confirm(self, document: dict[str, Any], token: str, last6: str) -> tuple[int, Any]:
        status, data, _ = await self.api.request(
            "POST",
            f"/api/documents/{document['id']}/identity",
            json={"id_last6": last6},
            auth=token,
        )
        return status, data
