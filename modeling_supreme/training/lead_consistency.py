"""Full-view consistency for lead-set augmentation: a reduced ECG should score as its twelve leads do.

Lead-set augmentation (`lead_sets.py`) teaches the model what missing leads look like, but a single lead carries less
of the evidence the labels were read from, so its BCE targets are partly unlearnable from it. With
`--lead-consistency W` every ECG the augmentation reduced is also scored with all its leads, in the same step, without
gradient (a detached teacher: the model itself on the full view), and the reduced view's label logits are pulled
toward the full view's by the Bernoulli KL divergence between their probabilities (BCE with the full view's
probabilities as soft targets, less their entropy, so that the term is 0 when the views agree). The reduced view thus
learns what the twelve-lead model would say, which is available for every label, rather than only the hard targets.

The full-view forward runs in training mode (as the reduced one: batch statistics, dropout) but leaves the
normalisation layers' running statistics as they were, so the evaluated model's statistics come from the ECGs it was
trained on, as without the term. It draws no random numbers of its own beyond the model's dropout, whose generator
state the checkpoints hold, so `--resume` reproduces it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class FullView:
    """The full view of a batch's reduced ECGs.

    Attributes:
        rows: (B,) bool, the ECGs of the batch that lost a lead to the augmentation.
        logits: (R, L) label logits of those R ECGs with all their leads, detached (R may be 0).
    """

    rows: torch.Tensor
    logits: torch.Tensor


def reduced_rows(full_mask: torch.Tensor, reduced_mask: torch.Tensor) -> torch.Tensor:
    """(B, 12) lead masks before and after the augmentation -> (B,) bool, True where an ECG lost a lead (a draw of
    "12", or of a set the record already lacked, changes nothing and needs no consistency)."""
    return (full_mask.bool() != reduced_mask.bool()).any(dim=1)


@contextlib.contextmanager
def unchanged_norm_statistics(model: nn.Module) -> Iterator[None]:
    """Run forwards in training mode without moving the batch-norm running statistics (restored on exit)."""
    saved = [
        (buffer, buffer.clone())
        for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)
        for buffer in (module.running_mean, module.running_var, module.num_batches_tracked) if buffer is not None
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


def consistency_loss(reduced_logits: torch.Tensor, full_logits: torch.Tensor) -> torch.Tensor:
    """Mean Bernoulli KL(full || reduced) over ECGs and labels; reduced_logits and full_logits (R, L) -> scalar.
    Gradient reaches `reduced_logits` only; 0 (not NaN) for R = 0, so every process logs the same losses."""
    if reduced_logits.shape != full_logits.shape:
        raise ValueError(f"reduced logits {tuple(reduced_logits.shape)} and full-view logits "
                         f"{tuple(full_logits.shape)} differ in shape")
    if reduced_logits.numel() == 0:
        return reduced_logits.float().sum()
    targets = torch.sigmoid(full_logits.detach().float())
    cross_entropy = F.binary_cross_entropy_with_logits(reduced_logits.float(), targets)
    entropy = F.binary_cross_entropy_with_logits(full_logits.detach().float(), targets)
    return cross_entropy - entropy


def check_lead_consistency(weight: float) -> float:
    """`weight` as a float, refused unless finite and >= 0 (a ValueError naming --lead-consistency)."""
    if not (weight >= 0 and math.isfinite(weight)):
        raise ValueError(f"--lead-consistency must be a finite weight >= 0, got {weight}")
    return float(weight)


@dataclasses.dataclass(frozen=True)
class LeadConsistency:
    """`--lead-consistency`: weight 0 turns it off (no extra forward).

    Use: `view = consistency.full_view(model, batch, reduced_batch, label_inputs)` before the training forward, then
    `loss + consistency.weight * consistency.loss(outputs.logits, view)`.
    """

    weight: float = 0.0

    def __post_init__(self) -> None:
        check_lead_consistency(self.weight)

    @property
    def enabled(self) -> bool:
        return self.weight > 0

    def full_view(
        self, model: nn.Module, batch: Mapping[str, torch.Tensor], reduced_batch: Mapping[str, torch.Tensor],
        label_inputs: Mapping[str, Any],
    ) -> Optional[FullView]:
        """The detached full-view logits of `batch` (None when off). `batch` and `reduced_batch` hold `ecg_values`
        (B, 12, T) and `lead_mask` (B, 12) before and after the augmentation.

        The whole batch is scored, not only its reduced rows: every process then runs the same forwards whatever it
        drew (a prepared DDP/FSDP model communicates in forward), and batch norm sees the batch the training forward
        sees."""
        if not self.enabled:
            return None
        rows = reduced_rows(batch["lead_mask"], reduced_batch["lead_mask"])
        with torch.no_grad(), unchanged_norm_statistics(model):
            logits = model(ecg_values=batch["ecg_values"], lead_mask=batch["lead_mask"], **label_inputs).logits
        return FullView(rows, logits[rows].detach())

    def loss(self, logits: torch.Tensor, view: Optional[FullView]) -> Optional[torch.Tensor]:
        """The unweighted consistency term for the training forward's `logits` (B, L); None when off."""
        if view is None:
            return None
        return consistency_loss(logits[view.rows], view.logits)


__all__ = [
    "FullView",
    "LeadConsistency",
    "check_lead_consistency",
    "consistency_loss",
    "reduced_rows",
    "unchanged_norm_statistics",
]
