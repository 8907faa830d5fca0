"""Rooms within a hearing (issue 13, docs/ROOMS.md) with real aiortc participants against a real
`cloudcourt serve`: media judged at the receiver, by RTP packets counted and by decoded content
(whose picture, whose tone), never by what the server says it did."""

from __future__ import annotations

import time

import pytest

from tests.clients.participant import Participant
from tests.e2e import Cast, eventually, everyone_sees_and_hears, steady

# Serial: "decoded by all within 1 s" is a latency measured in this process's decoders, which a
# second test file beside it (two at a time, scripts/test) slows by half a second and more.
pytestmark = [pytest.mark.timeout(240), pytest.mark.serial]

# The "receives zero RTP of the main room for 20 s while the main room decodes".
WITNESS_WAIT = 20.0
CAUCUS = 10.0
# Called in / sent out: "within 1 s".
AT_ONCE = 1.0
# Small pictures: every participant of a test decodes in this one Python process, and at full
# size a loaded machine's decoders fall behind (what is judged is whose picture, not its size).
SMALL = {"width": 160, "height": 120, "fps": 10}


async def packets_received(p: Participant) -> int:
    """Every RTP packet that reached ``p``'s subscriber connection so far (all its receivers)."""
    if p.sub_pc is None:
        return 0
    total = 0
    for receiver in p.sub_pc.getReceivers():
        for stats in (await receiver.getStats()).values():
            if stats.type == "inbound-rtp":
                total += stats.packetsReceived
    return total


def tracks_of(receiver: Participant, sender: Participant) -> list[str]:
    """The mids that the server's last word (`subscriber_offer` or `subscriptions`) says carry
    ``sender``'s publications to ``receiver`` now."""
    told = receiver.events_named("subscriber_offer", "subscriptions")
    tracks = told[-1][2]["tracks"] if told else []
    return [t["mid"] for t in tracks if t["participant_id"] == sender.participant_id]


def decodes_nothing_of(receiver: Participant, senders: list[Participant], since: float) -> bool:
    return all(
        receiver.video_frames_since(s, since) == 0 and receiver.audio_frames_since(s, since) == 0
        for s in senders
    )


def decoded_in_every_part(
    receiver: Participant, sender: Participant, start: float, end: float, parts: int = 4
) -> bool:
    """Whether ``receiver`` decoded ``sender``'s picture and voice in each of ``parts`` equal
    parts of [start, end): the media went on the whole time. Parts, not seconds: a loaded
    machine (six test sessions on two cores) stalls a Python decoder for seconds now and then;
    a stream that stopped is missing from the whole rest of the window."""
    video = [t for t, _ in receiver.sink.video[sender.media_id].counters]
    audio = receiver.sink.audio[sender.media_id].times
    step = (end - start) / parts
    bounds = [(start + i * step, start + (i + 1) * step) for i in range(parts)]
    return all(any(a <= t < b for t in video) and any(a <= t < b for t in audio) for a, b in bounds)


def first_after(stamps: list[tuple[float, int]], since: float) -> float:
    return min(t for t, _ in stamps if t >= since)


async def move(by: Participant, who: Participant, room_id: str) -> dict:
    ack = await by.call("move", {"participant_id": who.participant_id, "room_id": room_id})
    return ack["room"]


def listed(p: Participant) -> set[str]:
    """Whom ``p``'s participant list shows, as the events told it (join ack or `admitted`,
    `room_changed` replacing it, `participant_joined`/`participant_left`)."""
    people: dict[str, dict] = {}
    if p.join_ack and p.join_ack.get("state") == "admitted":
        people = {x["id"]: x for x in p.join_ack["participants"]}
    for _, event, data in p.events:
        if event in ("admitted", "room_changed"):
            people = {x["id"]: x for x in data["participants"]}
        elif event == "participant_joined":
            people[data["participant"]["id"]] = data["participant"]
        elif event == "participant_left":
            people.pop(data["participant_id"], None)
    return set(people)


async def test_a_witness_waits_unseen_and_unheard_until_called_in(cast: Cast) -> None:
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 11, **SMALL)
    a = await cast.join(hearing, "party", 12, admitted=True, **SMALL)
    b = await cast.join(hearing, "agent", 13, admitted=True, **SMALL)
    witness = await cast.join(hearing, "witness", 14, admitted=True, **SMALL)
    main = [judge, a, b]
    assert witness.join_ack is not None and witness.join_ack["room"]["kind"] == "witness"
    await witness.wait_event("room_changed", lambda d: d["room"]["id"] == "witness")
    await everyone_sees_and_hears(main)
    # The witness's own picture and voice reach the court (who watches the witness room) only.
    await judge.wait_video_from(witness, min_frames=10, timeout=25)
    await judge.wait_audio_from(witness, min_frames=20, timeout=15)

    t = time.monotonic()
    await steady(
        lambda: decodes_nothing_of(witness, main, 0)
        and decodes_nothing_of(a, [witness], 0)
        and decodes_nothing_of(b, [witness], 0)
        and not tracks_of(a, witness)
        and not tracks_of(b, witness),
        WITNESS_WAIT,
        "the waiting witness and the main room reached each other",
    )
    assert await packets_received(witness) == 0, "RTP of the hearing reached the waiting witness"
    end = time.monotonic()
    for p, q in [(p, q) for p in main for q in main if p is not q] + [(judge, witness)]:
        assert decoded_in_every_part(p, q, t, end), (
            f"{p.name} stopped decoding {q.name}: window {t:.1f}-{end:.1f}, video at "
            f"{[round(x) for x, _ in p.sink.video[q.media_id].counters if x >= t - 5][::10]}, "
            f"audio at {[round(x) for x in p.sink.audio[q.media_id].times if x >= t - 5][::25]}"
        )
    # Nor does the list give them away: the witness sees no one; the parties see no witness.
    assert listed(witness) == {witness.participant_id}
    assert witness.participant_id not in listed(a) | listed(b)
    assert witness.participant_id in listed(judge)

    # Called in: seen and heard by everyone, and sees and hears everyone, within a second.
    called = time.monotonic()
    room = await move(judge, witness, "main")
    assert room["id"] == "main"
    assert witness.participant_id in {m["participant_id"] for m in room["members"]}
    firsts = {}
    for p, q in [(p, witness) for p in (a, b)] + [(witness, q) for q in main]:
        await p.wait_video_from(q, min_frames=1, timeout=10, since=called)
        await p.wait_audio_from(q, min_frames=1, timeout=10, since=called)
        firsts[f"{p.name}<-{q.name}"] = (
            first_after(p.sink.video[q.media_id].counters, called) - called,
            first_after([(t, 0) for t in p.sink.audio[q.media_id].times], called) - called,
        )
    took = max(max(pair) for pair in firsts.values())
    print(f"called in: the last first frame decoded {took:.2f} s after the move")
    print({k: f"video {v:.2f} s, audio {u:.2f} s" for k, (v, u) in firsts.items()})
    assert took <= AT_ONCE, f"called in, but not decoded by all within 1 s: {firsts}"
    changed = await witness.wait_event("room_changed", lambda d: d["room"]["id"] == "main")
    assert changed["by"] == judge.participant_id
    assert {a.participant_id, b.participant_id, judge.participant_id} <= listed(witness)
    await eventually(lambda: witness.participant_id in listed(a), 5, "a lists the witness")

    # Sent out again: nothing flows either way a second later.
    sent = time.monotonic()
    await move(judge, witness, "witness")
    stopped = sent + AT_ONCE
    await eventually(lambda: time.monotonic() > stopped, 5, "a second")
    packets = await packets_received(witness)
    await steady(
        lambda: decodes_nothing_of(witness, [a, b], stopped)
        and decodes_nothing_of(a, [witness], stopped)
        and decodes_nothing_of(b, [witness], stopped),
        3.0,
        "media still flowed a second after the witness was sent out",
    )
    assert await packets_received(witness) == packets, "RTP reached the witness after 1 s"
    assert judge.video_frames_since(witness, stopped) > 0, "the court no longer sees the witness"
    await eventually(lambda: witness.participant_id not in listed(a), 5, "a unlists the witness")


async def test_a_caucus_keeps_the_other_side_out_until_back_in_the_main_room(cast: Cast) -> None:
    hearing = await cast.api.create_hearing(kind="mediation")
    mediator = await cast.join(hearing, "mediator", 21, **SMALL)
    a = await cast.join(hearing, "party", 22, admitted=True, **SMALL)
    b = await cast.join(hearing, "party", 23, admitted=True, **SMALL)
    everyone = [mediator, a, b]
    await everyone_sees_and_hears(everyone)

    opened = (await mediator.call("open_room", {"name": "背靠背·申请人"}))["room"]
    assert opened["id"].startswith("r_") and opened["kind"] == "private", opened
    await move(mediator, a, opened["id"])
    await move(mediator, mediator, opened["id"])
    began = time.monotonic()
    await mediator.wait_video_from(a, min_frames=1, timeout=10, since=began)
    await a.wait_video_from(mediator, min_frames=1, timeout=10, since=began)
    quiet = began + AT_ONCE

    # A party can move no one (themselves included), over Socket.IO and over HTTP.
    refused = await b.call(
        "move", {"participant_id": a.participant_id, "room_id": "main"}, check=False
    )
    assert refused["ok"] is False and refused["code"] == "forbidden", refused
    assert (await b.wait_event("error", lambda d: d["event"] == "move"))["code"] == "forbidden"
    refused = await b.call("open_room", {"name": "我的房间"}, check=False)
    assert refused["code"] == "forbidden", refused

    await eventually(lambda: time.monotonic() > quiet, 5, "a second")
    await steady(
        lambda: decodes_nothing_of(b, [mediator, a], quiet) and decodes_nothing_of(a, [b], quiet),
        CAUCUS,
        "the caucus and the other side reached each other",
    )
    end = time.monotonic()
    for p, q in ((mediator, a), (a, mediator)):
        assert decoded_in_every_part(p, q, quiet, end), f"{p.name} stopped decoding {q.name}"
    assert not tracks_of(b, a) and not tracks_of(b, mediator) and not tracks_of(a, b)
    # B's list has neither of them; A's has the mediator and not B.
    assert listed(b) == {b.participant_id}
    assert listed(a) == {a.participant_id, mediator.participant_id}

    # Closed: its members are back in the main room, and everyone decodes everyone again.
    closed = await mediator.call("close_room", {"room_id": opened["id"]})
    assert set(closed["moved"]) == {a.participant_id, mediator.participant_id}, closed
    back = time.monotonic()
    for p in everyone:
        for q in everyone:
            if p is not q:
                await p.wait_video_from(q, min_frames=5, timeout=15, since=back)
                await p.wait_audio_from(q, min_frames=10, timeout=15, since=back)
    # Moving into the closed room is a clear error.
    gone = await mediator.call(
        "move", {"participant_id": a.participant_id, "room_id": opened["id"]}, check=False
    )
    assert gone["code"] == "not_found" and opened["id"] in gone["error"], gone


async def test_a_reconnect_comes_back_to_the_same_room(cast: Cast) -> None:
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 41, publish=False)
    a = await cast.join(hearing, "party", 42, admitted=True, publish=False)
    room = (await judge.call("open_room", {"name": "代理人与当事人"}))["room"]
    await move(judge, a, room["id"])
    await a.wait_event("room_changed", lambda d: d["room"]["id"] == room["id"])

    # The page reloads: a new socket with the same token takes over, in the same room.
    reloaded = time.monotonic()
    again = cast.participant(a.token, 42, name="party-42-again")
    await again.connect()
    ack = await again.join()
    assert ack["state"] == "admitted" and ack["room"]["id"] == room["id"], ack
    assert [p["id"] for p in ack["participants"]] == [a.participant_id], ack["participants"]
    await a.wait_event("removed", lambda d: d["reason"] == "replaced")
    await judge.wait_event(
        "rooms",
        lambda d: any(
            r["id"] == room["id"]
            and [m["participant_id"] for m in r["members"]] == [a.participant_id]
            for r in d["rooms"]
        ),
        since=reloaded,
    )
