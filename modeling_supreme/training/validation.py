"""Zero-shot validation during training: the validation split scored in shards by every process, and the record of
one validation (mean AUROC and AUROC per label, x100) that the loop logs and selects the best model by."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object

from ..evaluation import auroc_per_label, mean_auroc, score_ecgs
from ..label_scoring_supreme import LabelEmbeddingCache
from .data import SupremeCollator, ecg_batches
from .validation_targets import ValidationSet


def validation_scores(
    accelerator: Accelerator,
    model: torch.nn.Module,
    processor: Any,
    validation: ValidationSet,
    collator: SupremeCollator,
    batch_size: int,
    cache: LabelEmbeddingCache,
) -> np.ndarray:
    """Zero-shot probabilities (N, L) of the validation split, computed in shards by every process.

    Each process scores the same number of ECGs (the last shard is padded by repetition), so that models whose
    forward synchronises processes (DDP buffers, FSDP) stay in step; duplicates are dropped after gathering.
    """
    every_index = list(range(len(validation.targets)))
    with accelerator.split_between_processes(every_index, apply_padding=True) as shard:
        batches = ecg_batches(validation.split, collator, shard, batch_size)
        scores = score_ecgs(model, processor, batches, validation.label_texts, progress=False, cache=cache)
        gathered = gather_object([(list(shard), scores)])
    merged = np.zeros(validation.targets.shape, dtype=np.float32)
    for shard_indices, shard_scores in gathered:
        merged[shard_indices] = shard_scores
    return merged


def validation_record(step: int, validation: ValidationSet, scores: np.ndarray) -> dict[str, Any]:
    """{"step", "val/mean_auroc", "val/auroc/<label>"...} of scores (N, L); AUROC x100, None for a label with a
    single class, a NaN mean when no label has both."""
    per_label = auroc_per_label(validation.targets, scores, validation.label_names)
    record: dict[str, Any] = {"step": step, "val/mean_auroc": mean_auroc(per_label)}
    record.update(
        {f"val/auroc/{name}": (100 * value if value is not None else None) for name, value in per_label.items()}
    )
    return record


__all__ = ["validation_record", "validation_scores"]
