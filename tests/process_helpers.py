"""Tests that start and kill processes check that no child survives: the process tree, read from /proc."""

from __future__ import annotations

import time
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state is [0], parent pid [1]); None once gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def descendants(pid: int) -> set[int]:
    """Process ids of every living process below `pid` (children, their children...)."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def children(pid: int) -> set[int]:
    """Process ids of the living direct children of `pid`."""
    found = set()
    for child in descendants(pid):
        fields = _stat_fields(child)
        if fields is not None and int(fields[1]) == pid:
            found.add(child)
    return found


def alive(pid: int) -> bool:
    """Running or sleeping (a zombie has ended: it only waits to be reaped)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def survivors(pids: set[int], timeout: float = 10.0) -> set[int]:
    """The processes of `pids` still alive after waiting up to `timeout` seconds for them to end."""
    deadline = time.monotonic() + timeout
    remaining = {pid for pid in pids if alive(pid)}
    while remaining and time.monotonic() < deadline:
        time.sleep(0.1)
        remaining = {pid for pid in remaining if alive(pid)}
    return remaining


_PEAK_PRELUDE = """
import resource as _resource

_marks = []


def mark_peak():
    _marks.append(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss)

"""
_PEAK_EPILOGUE = """
print("PEAK-RSS-EXTRA", (_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss - _marks[-1]) * 1024)
"""


def peak_rss_of_snippet(code: str, timeout: float = 300.0) -> int:
    """Run `code` in a fresh interpreter (from the repository root) and return, in bytes, how far its peak resident
    memory rose after its last call of `mark_peak()` (a function the snippet may call; memory allocated before the
    mark, imports and inputs, is not counted). A subprocess, so that no earlier test's peak hides this one's."""
    import subprocess
    import sys

    from tests.sample_data import REPO_ROOT

    completed = subprocess.run(
        [sys.executable, "-c", _PEAK_PRELUDE + code + _PEAK_EPILOGUE], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("PEAK-RSS-EXTRA"))
    return int(line.split()[1])
