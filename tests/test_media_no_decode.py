"""The SFU forwards RTP: with media flowing through it, nothing in the server decodes.

Two independent proofs:
- the server's own counter (Prometheus ``cloudcourt_sfu_decoders_created``) stays 0 while its
  forwarded-packet counter grows;
- the server process grows no per-track threads: aiortc starts one decoder thread per
  RTCRtpReceiver it runs (``RTCRtpReceiver.receive``), so an SFU that decoded the N tracks it
  receives would add at least N threads.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.e2e import eventually, everyone_sees_and_hears, metric_value

pytestmark = pytest.mark.timeout(120)

DECODERS = "cloudcourt_sfu_decoders_created"
DECODER_THREADS = "cloudcourt_sfu_decoder_threads"


def _forward_counters(metrics: str) -> list[str]:
    found = re.findall(r"^(cloudcourt_sfu_\w*(?:forward|packets_out)\w*)", metrics, re.M)
    return sorted(set(found))


def server_pid(server) -> int:
    pid = getattr(server, "pid", None)
    if pid is None and getattr(server, "proc", None) is not None:
        pid = server.proc.pid
    assert pid, "cannot find the server's pid"
    # the launcher may be a wrapper script: take the python process that listens
    return pid


def thread_count(pid: int) -> int:
    total = len(os.listdir(f"/proc/{pid}/task"))
    for child in _children(pid):
        total += len(os.listdir(f"/proc/{child}/task"))
    return total


def _children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


async def test_sfu_never_decodes(cast, server):
    pid = server_pid(server)
    threads_before = thread_count(pid)

    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", 1)
    a = await cast.join(hearing, "party", 2, judge=judge)
    b = await cast.join(hearing, "party", 3, judge=judge, video_codec="video/H264")
    people = [judge, a, b]
    await everyone_sees_and_hears(people)

    received_tracks = 2 * len(people)  # the SFU receives audio + video from each
    threads_during = thread_count(pid)
    assert threads_during - threads_before < received_tracks, (
        f"server threads grew from {threads_before} to {threads_during} with {received_tracks} "
        "received tracks: looks like one decoder thread per track"
    )

    metrics = await cast.api.metrics()
    decoders = metric_value(metrics, DECODERS)
    assert decoders is not None, f"/metrics has no {DECODERS} line:\n{metrics[:3000]}"
    assert decoders == 0, f"{DECODERS} = {decoders}"
    threads = metric_value(metrics, DECODER_THREADS)
    assert threads in (None, 0), f"{DECODER_THREADS} = {threads}"
    # and it is forwarding: a packets-out / forwarded counter moved
    names = _forward_counters(metrics)
    assert names, f"no cloudcourt_sfu packets-out/forwarded counter in /metrics:\n{metrics[:3000]}"
    first = {n: metric_value(metrics, n) or 0 for n in names}

    async def forwarding():
        m = await cast.api.metrics()
        return any((metric_value(m, n) or 0) > first[n] + 100 for n in names)

    await eventually(forwarding, 10, f"a forwarded-packets counter ({names}) grows")
