"""The forwarding benchmark runs and measures something real (a smoke run, not a target)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Alone, after the parallel run (scripts/test): it encodes in real time or measures CPU.
pytestmark = pytest.mark.serial


def test_forwarding_benchmark_reports_what_subscribers_received(tmp_path):
    out = tmp_path / "forwarding.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.forwarding",
            "--subscribers",
            "4",
            "--duration",
            "3",
            "--json",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    result = json.loads(out.read_text())
    assert result["forwarded_packets_per_s"] > 100  # ~200 packets/s in x 4 subscribers
    # Every forwarded packet reached a subscriber (loopback loses none).
    assert abs(result["received_packets_per_s"] - result["forwarded_packets_per_s"]) < (
        0.05 * result["forwarded_packets_per_s"]
    )
    assert result["forwarded_packets_per_cpu_second"] > 0
    assert result["decoders_created"] == 0 and result["decoder_threads"] == 0


def test_forwarding_benchmark_refuses_nonsense_arguments():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.forwarding", "--subscribers", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--subscribers must be" in result.stderr
