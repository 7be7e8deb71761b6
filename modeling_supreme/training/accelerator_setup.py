"""What a run is set up with before the loop starts: the `Accelerator` (precision, gradient accumulation, trackers,
seedable data order) and the AdamW optimiser with its weight-decay groups."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

from .options import TrainingOptions
from .tracking import make_trackers


def has_gpu() -> bool:
    """Whether accelerate will run on a GPU (CUDA, XPU or Apple MPS) rather than the CPU."""
    if os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes"):
        return False
    xpu = getattr(torch, "xpu", None)
    return torch.cuda.is_available() or bool(xpu and xpu.is_available()) or torch.backends.mps.is_available()


def resolve_mixed_precision(requested: Optional[str]) -> str:
    """The precision of a run: `--mixed-precision` when given, else what `accelerate launch --mixed_precision` or the
    accelerate config file exported (ACCELERATE_MIXED_PRECISION), else "no"."""
    if requested is not None:
        return requested
    return os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower() or "no"


def make_accelerator(options: TrainingOptions, output_dir: Path, logs_dir: Path) -> Accelerator:
    """The run's `Accelerator`; ValueError for fp16 without a GPU."""
    precision = resolve_mixed_precision(options.mixed_precision)
    # Checked before `Accelerator(...)`: a refused run must not leave fp16 in accelerate's per-process state.
    if precision == "fp16" and not has_gpu():
        raise ValueError(
            "mixed precision fp16 needs a GPU (from --mixed-precision or the launcher's mixed_precision); "
            "on CPU use bf16 or no"
        )
    return Accelerator(
        mixed_precision=precision,
        gradient_accumulation_steps=options.gradient_accumulation_steps,
        log_with=make_trackers(options.log_with, options.run_name, logs_dir),
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(logs_dir)),
        # Shuffling from (seed, epoch) alone lets a resumed run see the same batches as an uninterrupted one.
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=options.seed),
    )


def _no_weight_decay(parameter: torch.nn.Parameter) -> bool:
    """Biases, norm scales and scalars (the logit scale) are not decayed."""
    return parameter.ndim < 2


def build_optimizer(model: torch.nn.Module, options: TrainingOptions) -> torch.optim.AdamW:
    """AdamW over the trainable parameters: matrices decayed by `weight_decay`, biases, norms and scalars not."""
    trainable_parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    decay = [parameter for parameter in trainable_parameters if not _no_weight_decay(parameter)]
    no_decay = [parameter for parameter in trainable_parameters if _no_weight_decay(parameter)]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": options.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=options.learning_rate,
    )


__all__ = ["build_optimizer", "has_gpu", "make_accelerator", "resolve_mixed_precision"]
