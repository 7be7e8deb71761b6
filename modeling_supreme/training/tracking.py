"""Offline experiment trackers for accelerate: TensorBoard (accelerate's own) or a JSON-lines file."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Optional

from accelerate.tracking import GeneralTracker

METRICS_FILE = "metrics.jsonl"
HPARAMS_FILE = "hparams.json"


class JsonlTracker(GeneralTracker):
    """Writes one JSON object per `log` call to `<logging_dir>/<run_name>/metrics.jsonl`:
    `{"step": 10, "time": 1718000000.0, "train/loss": 0.41, ...}`; the run's options go to `hparams.json`.

    Built before `Accelerator(...)` it touches no distributed state: the file is opened in `start()`, which
    accelerate calls on the main process only.
    """

    name = "jsonl"
    requires_logging_directory = True
    main_process_only = True

    def __init__(self, run_name: str, logging_dir: str | Path) -> None:
        super().__init__()
        self.run_name = run_name
        self.folder = Path(logging_dir) / run_name
        self._handle: Optional[Any] = None

    @property
    def tracker(self) -> Optional[Any]:
        return self._handle

    @property
    def metrics_path(self) -> Path:
        return self.folder / METRICS_FILE

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # Appending: a resumed run continues the same file, cut back to its checkpoint first (`cut_metrics_back`).
        self._handle = self.metrics_path.open("a", encoding="utf-8")

    def store_init_configuration(self, values: dict[str, Any]) -> None:
        (self.folder / HPARAMS_FILE).write_text(json.dumps(values, indent=2, default=str) + "\n", encoding="utf-8")

    def log(self, values: dict[str, Any], step: Optional[int] = None, **kwargs: Any) -> None:
        if self._handle is None:
            self.start()
        record = {"step": step, "time": time.time(), **{key: _json_value(value) for key, value in values.items()}}
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    def finish(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _json_value(value: Any) -> Any:
    """Scalars (tensors included) as JSON values; NaN / inf as null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` file, in order."""
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def cut_metrics_back(path: str | Path, step: int) -> int:
    """Drop the records after `step` from a `metrics.jsonl` file: a run resumed from the checkpoint of `step` logs
    the later steps again, and an interrupted run's lines for them would otherwise stay in the file twice. The file is
    replaced in one rename (a crash leaves the old or the new one). A line that is no JSON record (the last line of a
    killed run, cut in the middle) is dropped too.

    Returns:
        the number of lines dropped (0 when the file does not exist).
    """
    path = Path(path)
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record_step = json.loads(line).get("step")
            except (ValueError, AttributeError):
                dropped += 1
                continue
            if isinstance(record_step, int) and record_step > step:
                dropped += 1
            else:
                kept.append(line if line.endswith("\n") else line + "\n")
    if dropped:
        partial = path.with_name(path.name + ".partial")
        partial.write_text("".join(kept), encoding="utf-8")
        os.replace(partial, path)
    return dropped


def make_trackers(log_with: str, run_name: str, logging_dir: str | Path) -> list[Any]:
    """`log_with` argument of `Accelerator`: "jsonl" -> a `JsonlTracker`, "tensorboard" -> accelerate's,
    "none" -> []."""
    if log_with == "jsonl":
        return [JsonlTracker(run_name, logging_dir)]
    if log_with == "tensorboard":
        return ["tensorboard"]
    if log_with == "none":
        return []
    raise ValueError(f"unknown tracker {log_with!r}; use jsonl, tensorboard or none")


__all__ = ["HPARAMS_FILE", "JsonlTracker", "METRICS_FILE", "cut_metrics_back", "make_trackers", "read_metrics"]
