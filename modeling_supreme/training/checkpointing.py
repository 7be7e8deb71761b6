"""Checkpoints of a run: folders named by optimisation step, holding no pickle (see `run_state`).

Layout under `<output_dir>/checkpoints/`: `checkpoint-<step>/` holds the model (`model.safetensors`), the optimizer
(`optimizer.json` + `.safetensors`), the loop's stateful objects (`loop_state.json`: LR scheduler, gradient
scaler, and whatever the trainer registers), the random states of every process (`rng_state_<rank>.*`) and the
trainer state (`trainer_state.json`). A folder is written as `checkpoint-<step>.partial` and renamed once every
process has finished, so a run killed while saving never leaves a checkpoint that looks complete.

Resuming from the newest checkpoint skips one that fails to load (truncated or garbage files), with a warning
naming it, and uses the newest complete one (`load_newest_checkpoint`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from safetensors.torch import save_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from .run_state import (
    CHECKPOINT_ERRORS,
    LOOP_STATE_STEM,
    MODEL_FILE,
    OPTIMIZER_STEM,
    RNG_STEM,
    Stateful,
    read_safetensors,
    read_tree,
    rng_state,
    set_rng_state,
    write_tree,
)

logger = logging.getLogger(__name__)

CHECKPOINTS_FOLDER = "checkpoints"
CHECKPOINT_PREFIX = "checkpoint-"
PARTIAL_SUFFIX = ".partial"
TRAINER_STATE_FILE = "trainer_state.json"
_CHECKPOINT_NAME = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")


@dataclasses.dataclass
class TrainerState:
    """Where the loop stands; saved in every checkpoint as `trainer_state.json`.

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

    @classmethod
    def read(cls, path: Path) -> TrainerState:
        """The state in a `trainer_state.json`; ValueError naming the file if it is not one."""
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(values, dict) or not isinstance(values.get("global_step"), int):
                raise ValueError("no integer global_step")
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a trainer state ({error})") from error
        state = cls()
        state.load_state_dict(values)
        return state

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


# -- writing and reading the training state ------------------------------------------------------------------------

_FULL_STATE = StateDictOptions(full_state_dict=True, cpu_offload=True)


def save_training_state(
    folder: Path,
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    stateful: Mapping[str, Stateful],
) -> None:
    """Write the training state into `folder` (every process calls it; full state dicts are gathered).

    Args:
        folder: the (partial) checkpoint folder; created.
        accelerator: the run's accelerator.
        model: the prepared model (DDP / FSDP wrappers are handled).
        optimizer: the optimizer (prepared or not).
        stateful: name -> object whose `state_dict()` goes into `loop_state.json` (the LR scheduler and others).
    """
    folder.mkdir(parents=True, exist_ok=True)
    raw_optimizer = getattr(optimizer, "optimizer", optimizer)
    model_state = get_model_state_dict(model, options=_FULL_STATE)
    optimizer_state = get_optimizer_state_dict(model, raw_optimizer, options=_FULL_STATE)
    if accelerator.is_main_process:
        # Clones: tensors that share storage (tied weights, views) cannot be saved as they are.
        save_file({key: value.detach().contiguous().clone() for key, value in model_state.items()},
                  str(folder / MODEL_FILE))
        write_tree(folder, OPTIMIZER_STEM, optimizer_state)
        write_tree(folder, LOOP_STATE_STEM, {name: value.state_dict() for name, value in stateful.items()})
    write_tree(folder, RNG_STEM.format(rank=accelerator.process_index), rng_state())


@dataclasses.dataclass
class _CheckpointContents:
    """Everything a checkpoint holds, read and checked before any of it is applied."""

    state: TrainerState
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    loop: dict[str, Any]
    rng: Optional[dict[str, Any]]


def _read_checkpoint(folder: Path, process_index: int, stateful: Mapping[str, Stateful]) -> _CheckpointContents:
    """Read every file of a checkpoint; ValueError naming the file that is missing, truncated or malformed."""
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    state = TrainerState.read(folder / TRAINER_STATE_FILE)
    model = read_safetensors(folder / MODEL_FILE)
    optimizer = read_tree(folder, OPTIMIZER_STEM)
    loop = read_tree(folder, LOOP_STATE_STEM)
    missing = sorted(set(stateful) - set(loop))
    if missing:
        raise ValueError(f"{folder / (LOOP_STATE_STEM + '.json')}: no state for {missing}")
    rng_path = folder / f"{RNG_STEM.format(rank=process_index)}.json"
    rng = read_tree(folder, rng_path.stem) if rng_path.exists() else None
    return _CheckpointContents(state, model, optimizer, loop, rng)


def _apply_checkpoint(
    contents: _CheckpointContents,
    folder: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainerState,
    stateful: Mapping[str, Stateful],
    process_index: int,
) -> None:
    raw_optimizer = getattr(optimizer, "optimizer", optimizer)
    set_model_state_dict(model, contents.model, options=StateDictOptions(full_state_dict=True))
    set_optimizer_state_dict(model, raw_optimizer, contents.optimizer, options=StateDictOptions(full_state_dict=True))
    for name, value in stateful.items():
        value.load_state_dict(contents.loop[name])
    state.load_state_dict(contents.state.state_dict())
    if contents.rng is None:
        logger.warning("%s holds no random state for process %d (another number of processes?); the run goes on "
                       "but will not repeat the uninterrupted one exactly", folder, process_index)
    else:
        set_rng_state(contents.rng)


def load_checkpoint(
    folder: Path,
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainerState,
    stateful: Mapping[str, Stateful],
) -> None:
    """Restore a checkpoint written by `save_training_state` (every process calls it).

    Nothing is applied unless every process could read every file it needs, so a failure leaves the run as it was.

    Raises:
        ValueError: a file of the checkpoint cannot be read on some process (names the file).
    """
    error: Optional[str] = None
    contents = None
    try:
        contents = _read_checkpoint(folder, accelerator.process_index, stateful)
    except CHECKPOINT_ERRORS as failure:
        error = str(failure)
    errors = [message for message in gather_object([error]) if message]
    if errors:
        raise ValueError(f"checkpoint {folder} cannot be loaded: {errors[0]}")
    try:
        _apply_checkpoint(contents, folder, model, optimizer, state, stateful, accelerator.process_index)
    except CHECKPOINT_ERRORS as failure:  # shapes or names that do not fit this model
        raise ValueError(f"checkpoint {folder} does not fit this run: {failure}") from failure


def load_newest_checkpoint(
    candidates: Sequence[Path],
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainerState,
    stateful: Mapping[str, Stateful],
) -> Path:
    """Load the newest of `candidates` (oldest first) that loads; each one that fails is skipped with a warning.

    Raises:
        ValueError: none of them loads (names each and why).
    """
    failures = []
    for folder in reversed(candidates):
        try:
            load_checkpoint(folder, accelerator, model, optimizer, state, stateful)
            return folder
        except ValueError as error:
            logger.warning("skipping checkpoint %s, which cannot be loaded: %s", folder, error)
            failures.append(str(error))
    raise ValueError("no checkpoint could be loaded:\n" + "\n".join(failures))


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
    "load_checkpoint",
    "load_newest_checkpoint",
    "save_training_state",
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
