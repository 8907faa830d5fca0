"""A restarted server keeps its hearings, and a call in a kept hearing works again."""

from __future__ import annotations

import pytest

from tests.e2e import Cast

pytestmark = pytest.mark.timeout(120)


async def test_hearing_survives_restart_and_media_flows_after(fresh_server):
    cast = Cast(fresh_server)
    try:
        hearing = await cast.api.create_hearing(title="survives restart")
        judge = await cast.join(hearing, "judge", 1)
        party_tok = await cast.api.token(hearing["id"], "party", "party", admitted=True)
        judge_tok = await cast.api.token(hearing["id"], "judge", "judge after restart")
        await judge.close()

        fresh_server.restart()

        status, body, _ = await cast.api.request("GET", f"/api/hearings/{hearing['id']}")
        assert status == 200, (status, body)
        for k in ("case_number", "title", "court", "case_type", "public"):
            assert body[k] == hearing[k], (k, body, hearing)
        status, body, _ = await cast.api.request("GET", "/api/hearings")
        listed = body if isinstance(body, list) else body.get("hearings", body.get("items", []))
        assert hearing["id"] in {h["id"] for h in listed}, body

        # tokens issued before the restart still work; media flows in the kept hearing
        judge2 = cast.participant(judge_tok, 1, name="judge-after")
        await judge2.start()
        party = cast.participant(party_tok, 2, name="party-after")
        await party.start()
        await judge2.wait_video_from(party, min_frames=10, timeout=25)
        await party.wait_video_from(judge2, min_frames=10, timeout=25)
        await party.wait_audio_from(judge2, min_frames=20, timeout=15)
    finally:
        await cast.close()
