"""Lead-set augmentation in pre-training: ECGs that arrive with only some of their leads.

With `--lead-dropout P` each training ECG keeps, with probability P, only the leads of one lead set drawn from
`--lead-sets` (by default the PhysioNet/CinC 2021 sets and the single leads I and II, `NAMED_LEAD_SETS`), uniformly
or in proportion to `--lead-set-weights`; the other leads are zeroed and masked. The model thus sees, in
pre-training, the inputs a reduced-lead device gives it.

The draw is applied to collated batches (ecg_values (B, 12, T), lead_mask (B, 12)). That is what the feature extractor
gives a record holding only the set's leads: it normalises each lead on its own and zeroes the leads it masks, and
the limb leads it would derive from I and II (or any two of I, II, III) are the recorded ones (Einthoven's law, which
recorded 12-lead ECGs satisfy up to noise), so they are kept. Only `normalization="minmax"` (one range per record over
its recorded leads) differs, which `check_normalization` warns about.

The generator of a batch is seeded by (seed, epoch, batch index, process index) alone, like the label-text sampler,
so a resumed run draws what an uninterrupted one draws, with no state to save.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Optional

import numpy as np
import torch

from ..leads_supreme import DEFAULT_TRAINING_LEAD_SETS, lead_set_mask, parse_lead_sets

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LeadSetSampler:
    """Draws, per training ECG, whether it keeps all its leads or only those of one lead set.

    Attributes:
        lead_sets: the names of the sets drawn from (`leads_supreme.lead_set_leads`).
        probability: chance that an ECG is reduced to a drawn set (the draw may be "12", which keeps every lead).
        seed: the run's seed.
        weights: one non-negative weight per set, the relative chance of drawing it; None draws uniformly.
    """

    lead_sets: tuple[str, ...] = DEFAULT_TRAINING_LEAD_SETS
    probability: float = 0.0
    seed: int = 0
    weights: Optional[tuple[float, ...]] = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"--lead-dropout must lie in [0, 1], got {self.probability}")
        object.__setattr__(self, "lead_sets", tuple(parse_lead_sets(list(self.lead_sets))))
        if self.weights is not None:
            object.__setattr__(self, "weights", tuple(check_lead_set_weights(self.weights, self.lead_sets)))
        # (S, 12): the leads each set leaves, as the feature extractor would provide them.
        object.__setattr__(self, "_masks", np.stack([lead_set_mask(name) for name in self.lead_sets]))

    @property
    def enabled(self) -> bool:
        return self.probability > 0

    def draw(self, epoch: int, batch: int, batch_size: int, process: int = 0) -> list[str | None]:
        """Per ECG of the batch, the set it is reduced to, or None to keep it whole. The process index enters the
        seed so that every process of a distributed run draws for its own ECGs."""
        generator = np.random.default_rng([self.seed, epoch, batch, process])
        reduced = generator.random(batch_size) < self.probability
        if self.weights is None:  # kept apart so that runs without weights draw what they drew before weights existed
            choices = generator.integers(0, len(self.lead_sets), batch_size)
        else:
            probabilities = np.asarray(self.weights) / sum(self.weights)
            choices = generator.choice(len(self.lead_sets), size=batch_size, p=probabilities)
        return [self.lead_sets[int(choice)] if keep else None for keep, choice in zip(reduced, choices)]

    def keep_masks(self, drawn: Sequence[str | None]) -> np.ndarray:
        """(B, 12) bool: the leads each ECG keeps under `draw`'s result (every lead where it drew None)."""
        masks = np.ones((len(drawn), self._masks.shape[1]), dtype=bool)
        for row, name in enumerate(drawn):
            if name is not None:
                masks[row] = self._masks[self.lead_sets.index(name)]
        return masks

    def apply(
        self, batch: dict[str, torch.Tensor], epoch: int, index: int, process: int = 0
    ) -> dict[str, torch.Tensor]:
        """A copy of a collated batch with this batch's draw applied: `ecg_values` (B, 12, T) zero and `lead_mask`
        (B, 12) False on the dropped leads. The input batch is left as it is."""
        if not self.enabled:
            return batch
        values, mask = batch["ecg_values"], batch["lead_mask"]
        keep = torch.from_numpy(self.keep_masks(self.draw(epoch, index, values.shape[0], process))).to(mask.device)
        kept = mask.bool() & keep
        return {**batch, "ecg_values": values * kept.unsqueeze(-1).to(values.dtype), "lead_mask": kept}


def check_lead_set_weights(weights: Sequence[float], lead_sets: Sequence[str]) -> list[float]:
    """`weights` as floats, one per lead set, finite, non-negative and not all zero; a ValueError naming
    --lead-set-weights otherwise."""
    values = [float(weight) for weight in weights]
    if len(values) != len(lead_sets):
        raise ValueError(
            f"--lead-set-weights gives {len(values)} weights for {len(lead_sets)} lead sets {list(lead_sets)}: "
            "give one weight per set of --lead-sets, in its order"
        )
    if not all(math.isfinite(value) and value >= 0 for value in values) or not any(values):
        raise ValueError(f"--lead-set-weights must be finite, non-negative and not all zero, got {values}")
    return values


def set_shares(sampler: LeadSetSampler) -> dict[str, float]:
    """The fraction of training ECGs given each lead set's leads ("12" counts those kept whole too)."""
    weights = sampler.weights or (1.0,) * len(sampler.lead_sets)
    shares = {name: sampler.probability * weight / sum(weights) for name, weight in zip(sampler.lead_sets, weights)}
    shares["12"] = shares.get("12", 0.0) + 1.0 - sampler.probability
    return shares


def check_normalization(sampler: LeadSetSampler, normalization: str) -> None:
    """Warn where a dropped lead would not look like a missing one (see the module's docstring)."""
    if sampler.enabled and normalization == "minmax":
        logger.warning(
            "--lead-dropout with min-max normalisation: the kept leads keep the range of the whole record, while a "
            "record holding only them would be scaled by their own range"
        )


__all__ = ["LeadSetSampler", "check_lead_set_weights", "check_normalization", "set_shares"]
