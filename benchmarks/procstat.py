"""CPU time and memory of processes (psutil), and percentiles of samples."""

from __future__ import annotations

import math
import resource

import psutil  # type: ignore[import-untyped]


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, all its threads included (not its children)."""
    times = psutil.Process(pid).cpu_times()
    return times.user, times.system


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads included."""
    return sum(cpu_times(pid))


def machine_busy_seconds() -> float:
    """CPU-seconds all cores spent on anything but idle and I/O wait since boot.

    Compared with the run's own processes it shows what else loaded the machine meanwhile.
    """
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq + t.steal)


def _tree(pid: int) -> list[psutil.Process]:
    """The process and everything it started (recursively)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process and everything it started, the children that
    already exited included.

    A child's time moves into its parent's `children_*` times when the parent reaps it (an
    archive's ffmpeg that ends inside a window), so the sum over the live members of both stays
    continuous: nothing is lost when a child exits and nothing counts twice.
    """
    user = system = 0.0
    for member in _tree(pid):
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:  # exited meanwhile
            continue
        user += times.user + times.children_user
        system += times.system + times.children_system
    return user, system


def tree_cpu_seconds(pid: int) -> float:
    return sum(tree_cpu_times(pid))


def rss_bytes(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def tree_rss_bytes(pid: int) -> int:
    total = 0
    for member in _tree(pid):
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def own_cpu_seconds() -> float:
    return cpu_seconds(psutil.Process().pid)


def pid_listening_on(port: int) -> int | None:
    """The process holding a listening TCP socket on this port (this machine), if visible."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return int(conn.pid) if conn.pid is not None else None
    return None


def raise_fd_limit() -> None:
    """Hundreds of peer connections need hundreds of UDP sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of a list; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
