"""The project's AUROC figures: AUROC per label (from the shipped metric module `metrics/multilabel_auroc.py`, also
loadable with `evaluate.load`), the one mean over labels (x100) that every figure uses (benchmark tasks, bootstrap
resamples, validation during training, linear-probe and LoRA model selection, a report's mean over tasks), and the
bootstrap 95 % interval of that mean."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .metrics import roc_auc_per_label
from .metrics.multilabel_inputs import mean_of_defined


def auroc_per_label(targets: np.ndarray, scores: np.ndarray, label_names: Sequence[str]) -> dict[str, float | None]:
    """targets (N, L) 0/1, scores (N, L) -> {label: AUROC in [0, 1]}; None for a label with a single class in
    `targets` (it has no AUROC: reported, never counted as 0 or 0.5)."""
    if len(label_names) != np.shape(scores)[1]:
        raise ValueError(f"{len(label_names)} label names for {np.shape(scores)[1]} score columns")
    values = roc_auc_per_label(targets, scores)
    return {name: (None if np.isnan(value) else float(value)) for name, value in zip(label_names, values)}


def mean_auroc(
    per_label: Mapping[str, float | None] | Sequence[float | None] | np.ndarray, scale: float = 100.0
) -> float:
    """Mean AUROC over the labels where it is defined, times `scale` (100: AUROC in [0, 1] -> percent); NaN when no
    label has both classes (e.g. a tiny validation split).

    Args:
        per_label: {label: AUROC or None} (`auroc_per_label`), or AUROCs (L,) with NaN or None where undefined
            (`roc_auc_per_label`), or a report's task AUROCs (already x100, with `scale=1`).
    """
    values = per_label.values() if isinstance(per_label, Mapping) else per_label
    defined = mean_of_defined(np.array([np.nan if value is None else value for value in values], dtype=np.float64))
    return float("nan") if defined is None else float(scale * defined)


def bootstrap_ci(
    targets: np.ndarray, scores: np.ndarray, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean-over-labels AUROC, x100.

    Records (rows) are resampled with replacement; in each resample the mean is taken over the labels that have
    both classes in it. targets (N, L) 0/1, scores (N, L).

    Returns:
        (low, high) at level 1 - alpha; (NaN, NaN) when no resample has a label with both classes.
    """
    targets, scores = np.asarray(targets), np.asarray(scores)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
    if targets.shape[0] == 0:
        raise ValueError("bootstrap_ci needs at least one record")
    generator = np.random.default_rng(seed)
    means = np.full(n_resamples, np.nan)
    for resample in range(n_resamples):
        rows = generator.integers(0, targets.shape[0], targets.shape[0])
        means[resample] = mean_auroc(roc_auc_per_label(targets[rows], scores[rows]), scale=1.0)
    means = means[~np.isnan(means)]
    if means.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(means, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(100 * low), float(100 * high)


__all__ = ["auroc_per_label", "bootstrap_ci", "mean_auroc"]
