"""The load generator on the served path (issue 17): servers it starts itself (--spawn-server),
the bare worker beside them (--bare-worker), the loss limit (--capacity-loss) and the phases
(--phases). Smoke runs: the report holds every setup, phase and ratio the issue asks for; their
values are the benchmark's to report, not this test's to judge."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import psutil
import pytest

# Alone, after the parallel run (scripts/test): it measures CPU and encodes the live composite.
pytestmark = pytest.mark.serial

# --quick: a short clip to encode, two hearings of one publisher; the rest as each test says.
SMALL = ("--quick", "--duration", "2", "--settle", "0.5")


def _bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.sfu", "--baseline-subscribers", "0", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _number(value: object) -> float:
    assert isinstance(value, int | float) and math.isfinite(value), value
    return value


def _left_behind() -> list[str]:
    """Processes of a server the load test started (their data dir is its temporary one)."""
    left = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "cloudcourt-loadtest-" in cmdline:
            left.append(f"{process.pid} {cmdline[:100]}")
    return left


@pytest.fixture(scope="module")
def workers_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("served")
    run = _bench(
        *("--spawn-server", "--sfu-workers 1", "--spawn-server", "--sfu-workers 2"),
        *("--bare-worker", "--capacity-loss", "0.01", "--sampled", "1"),
        *SMALL,
        *("--subscribers", "2", "--steps", "2", "--out", str(out)),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return out, run


def test_spawned_servers_and_the_bare_worker_carry_the_same_load_in_one_run(workers_run):
    out, _ = workers_run
    result = json.loads((out / "sfu.json").read_text())
    setups = result["setups"]
    assert set(setups) == {"sfu_1_worker", "serve --sfu-workers 1", "serve --sfu-workers 2"}
    for name in ("serve --sfu-workers 1", "serve --sfu-workers 2"):
        setup = setups[name]
        assert setup["sfu_workers"] == int(name[-1])  # as the server's /api/health says
        assert setup["children_outlived"] == []
        assert setup["recorded_hearings"] == 2  # publisher 0 is a judge: every hearing recorded
        assert isinstance(setup["worker_restarts"], int)
        assert [s["subscribers"] for s in setup["steps"]] == [
            s["subscribers"] for s in setups["sfu_1_worker"]["steps"]
        ]
        full = setup["steps"][-1]
        assert full["subscribers_not_flowing"] == 0 and full["failed_peers"] == 0
        assert set(full["worker_cpu_percent"]) == {str(w) for w in range(setup["sfu_workers"])}
    assert not _left_behind()  # each server was stopped, and nothing it started outlived it


def test_the_report_holds_served_vs_bare_and_two_workers_vs_one(workers_run):
    out, run = workers_run
    served = json.loads((out / "sfu.json").read_text())["served"]
    assert served["capacity_loss_percent"] == 1.0
    for name in ("serve --sfu-workers 1", "serve --sfu-workers 2"):
        _number(served["served_vs_bare"][name]["ratio"])
        assert served["served_vs_bare"][name]["target"] == ">= 0.85"
    two = served["workers"]["serve --sfu-workers 2"]
    _number(two["per_worker_scaling"])
    _number(two["capacity_ratio"])
    assert isinstance(two["limits_found"], bool)
    assert set(served["capacity"]) == {
        "sfu_1_worker",
        "serve --sfu-workers 1",
        "serve --sfu-workers 2",
    }
    assert json.loads(run.stdout)["served"] == served  # printed as well as written
    report = (out / "report.md").read_text()
    assert "### Served path vs the bare worker" in report
    assert "### Worker processes: N vs 1" in report


def test_phases_give_one_window_each_and_their_ratios_against_quiet(tmp_path):
    run = _bench(
        *("--spawn-server", "--broadcast-delay 1"),
        # Archives last: a later phase would wait for them to be built (at the lowest priority).
        *("--phases", "quiet,public:1,hls:50,archives:1", "--archive-seconds", "3"),
        *SMALL,
        *("--subscribers", "2", "--steps", "1", "--sampled", "2", "--out", str(tmp_path)),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "sfu.json").read_text())
    setup = result["setups"]["serve --broadcast-delay 1"]
    assert setup["phase_hearings"] == 1  # the other one is on air from public:1 on
    windows = {w["phase"]: w for w in setup["phases"]}
    assert list(windows) == ["quiet", "public:1", "hls:50", "archives:1"]
    # The same subscribers in every window: those of the hearing never on air.
    assert {w["subscribers"] for w in windows.values()} == {2}
    assert windows["public:1"]["conditions"]["on_air"] == 1
    assert windows["archives:1"]["conditions"]["archives"].get("building") == 1
    assert windows["hls:50"]["hls"]["requests_per_s"] > 0
    phases = {p["phase"]: p for p in result["served"]["phases"]["serve --broadcast-delay 1"]}
    for name, phase in phases.items():
        for key in ("loss_percent", "added_latency_ms_p99", "delivered_fps_min"):
            _number(phase[key])
        # Subscribers joined in its window.
        assert phase["join_missing"] == 0, [
            (w["phase"], w["first_frame_s"], w["failed_peers"], w["errors"], w["duration_s"])
            for w in setup["phases"]
        ]
        _number(phase["join_to_first_frame_ms_p50"])
        if name != "quiet":
            for key in ("join_p50_ratio", "added_p99_ratio", "fps_min_ratio"):
                _number(phase["vs_quiet"][key])
            assert isinstance(phase["vs_quiet"]["met"], bool)
    assert phases["hls:50"]["vs_before"]["phase"] == "public:1"  # the streams without viewers
    assert "### Phases on `serve --broadcast-delay 1`" in (tmp_path / "report.md").read_text()
    assert setup["children_outlived"] == [] and not _left_behind()


def test_a_server_that_does_not_start_is_one_clear_error():
    run = _bench(*("--spawn-server", "--sfu-workers -1"), *SMALL, "--subscribers", "1")
    assert run.returncode == 1
    assert "cloudcourt serve --sfu-workers -1 exited with 2" in run.stderr
    assert not _left_behind()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bare-worker"], "need a server"),
        (["--phases", "quiet"], "need a server"),
        (["--spawn-server", "", "--phases", "public:1"], "need a quiet one"),
        (["--spawn-server", "", "--phases", "quiet,hls:10,public:1"], "needs a public:N"),
        (["--spawn-server", "", "--phases", "quiet,loud"], "a phase is quiet, public:N"),
        (["--spawn-server", "", "--hearings", "2", "--phases", "quiet,public:2"], "N < --hearings"),
        (
            ["--spawn-server", "", "--server", "http://127.0.0.1:9", "--admin-key", "k"],
            "one server",
        ),
        (["--spawn-server", "", "--capacity-loss", "5"], "a fraction"),
    ],
)
def test_refuses_nonsense_arguments(args, message):
    run = _bench(*args, timeout=60)
    assert run.returncode == 2
    assert message in run.stderr
