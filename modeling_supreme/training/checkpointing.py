"""Checkpoints of a run: `accelerator.save_state` folders named by optimisation step, plus the loop's own state.

Layout under `<output_dir>/checkpoints/`: `checkpoint-<step>/` holds what `save_state` writes (model, optimizer,
RNG states of every process, sampler, and the registered `TrainerState` and LR scheduler) and a readable copy of
the trainer state (`trainer_state.json`). A folder is written as `checkpoint-<step>.partial` and renamed once every
process has finished, so a run killed while saving never leaves a checkpoint that looks complete.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any, Optional

CHECKPOINTS_FOLDER = "checkpoints"
CHECKPOINT_PREFIX = "checkpoint-"
PARTIAL_SUFFIX = ".partial"
TRAINER_STATE_FILE = "trainer_state.json"
_CHECKPOINT_NAME = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")


@dataclasses.dataclass
class TrainerState:
    """Where the loop stands; saved in every checkpoint (`accelerator.register_for_checkpointing`).

    Attributes:
        global_step: optimisation steps done.
        epoch: current pass over the train split (0-based).
        batches_in_epoch: batches of the current epoch already consumed (what a resumed run skips).
        best_metric: best validation mean AUROC (x100) so far, None before the first validation.
        best_step: step of `best_metric`.
        evaluations: one {"step", "val/mean_auroc", ...} per validation.
    """

    global_step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    best_metric: Optional[float] = None
    best_step: Optional[int] = None
    evaluations: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def load_state_dict(self, values: dict[str, Any]) -> None:
        for field in dataclasses.fields(self):
            if field.name in values:
                setattr(self, field.name, values[field.name])

    def to_json(self) -> str:
        return json.dumps(self.state_dict(), indent=2) + "\n"


def checkpoints_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / CHECKPOINTS_FOLDER


def checkpoint_path(output_dir: str | Path, step: int) -> Path:
    """`<output_dir>/checkpoints/checkpoint-<step>`."""
    return checkpoints_dir(output_dir) / f"{CHECKPOINT_PREFIX}{step}"


def checkpoint_step(path: str | Path) -> Optional[int]:
    """The step of a complete checkpoint folder's name, None for anything else."""
    match = _CHECKPOINT_NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoint folders of a run, oldest step first."""
    folder = checkpoints_dir(output_dir)
    if not folder.is_dir():
        return []
    found = [(checkpoint_step(path), path) for path in folder.iterdir() if path.is_dir()]
    return [path for step, path in sorted((step, path) for step, path in found if step is not None)]


def latest_checkpoint(output_dir: str | Path) -> Optional[Path]:
    """The newest complete checkpoint of a run, None when there is none."""
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def resolve_resume_path(resume: str, output_dir: str | Path, latest_keyword: str) -> Path:
    """The checkpoint folder `--resume` names: `latest_keyword` -> the newest under `output_dir`.

    Raises:
        FileNotFoundError: no checkpoint to resume from, naming where it looked.
    """
    if resume == latest_keyword:
        path = latest_checkpoint(output_dir)
        if path is None:
            raise FileNotFoundError(f"--resume: no checkpoint under {checkpoints_dir(output_dir)}")
        return path
    path = Path(resume)
    if not path.is_dir():
        raise FileNotFoundError(f"--resume: checkpoint folder {path} does not exist")
    return path


def partial_path(final: Path) -> Path:
    return final.with_name(final.name + PARTIAL_SUFFIX)


def finalize_checkpoint(final: Path, state: TrainerState) -> None:
    """Main process, after every process saved into `partial_path(final)`: readable state, then the rename."""
    staging = partial_path(final)
    (staging / TRAINER_STATE_FILE).write_text(state.to_json(), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)


def remove_old_checkpoints(output_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` checkpoints (keep=0: delete none) and stale partial folders; -> removed."""
    removed = [path for path in checkpoints_dir(output_dir).glob(f"*{PARTIAL_SUFFIX}") if path.is_dir()]
    if keep > 0:
        removed += list_checkpoints(output_dir)[:-keep]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


__all__ = [
    "CHECKPOINTS_FOLDER",
    "TRAINER_STATE_FILE",
    "TrainerState",
    "checkpoint_path",
    "checkpoint_step",
    "checkpoints_dir",
    "finalize_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "partial_path",
    "remove_old_checkpoints",
    "resolve_resume_path",
]
