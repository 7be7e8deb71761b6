"""One run at a time per run folder (`--output-dir`): a second run started on a folder in use is refused.

Two runs writing the same folder both reported success while the metrics log mixed them and every checkpoint and
`model/` ended up holding one of them. The lock is an advisory `flock` on `<output-dir>/.run.lock`, which the kernel
releases when the holder exits however it dies (SIGKILL included), so a dead run never leaves the folder locked; the
file itself stays and names the last holder.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Optional

try:
    import fcntl
except ImportError:  # not on Windows: runs there are not guarded
    fcntl = None

LOCK_FILE = ".run.lock"


class OutputDirInUse(RuntimeError):
    """Another living run holds the run folder."""


class OutputDirLock:
    """Holds the lock of a run folder from `acquire()` to `release()` (or the end of the process).

    Raises (acquire):
        OutputDirInUse: another living process holds it; the message names the folder and that process.
    """

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / LOCK_FILE
        self._handle: Optional[Any] = None

    def acquire(self) -> "OutputDirLock":
        if fcntl is None or self._handle is not None:
            return self
        self.output_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held open for the run's lifetime)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "a process that wrote no details"
            handle.close()
            raise OutputDirInUse(
                f"--output-dir {self.output_dir} is in use by another run ({_described(holder)}): two runs in one "
                "folder would overwrite each other's checkpoints, logs and model; wait for it to end, stop it, or "
                "choose another --output-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}) + "\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the flock
            self._handle = None

    def __enter__(self) -> "OutputDirLock":
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def _described(holder: str) -> str:
    """The lock file's JSON line -> "pid 1234 on host node1, started 2026-12-07 15:40:00 UTC"."""
    try:
        details = json.loads(holder)
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(details["started"])))
        return f"pid {details['pid']} on host {details['host']}, started {started}"
    except (ValueError, KeyError, TypeError):
        return holder[:200]


__all__ = ["LOCK_FILE", "OutputDirInUse", "OutputDirLock"]
