"""Metric scripts in the format of the `evaluate` library, shipped with the package so that nothing is fetched from
the Hub at run time: `evaluate.load(metric_path("multilabel_auroc"))` loads one offline, and the package imports the
same functions directly (one implementation of each metric).

- `multilabel_auroc`: AUROC per label (rank formula, ties averaged) and the mean over labels with both classes.
- `multilabel_auprc`: average precision per label and the mean over labels with a positive.
- `multilabel_f1`: F1 per label at given thresholds; `choose_f1_thresholds` picks them on a validation split.
"""

from __future__ import annotations

from pathlib import Path

from .multilabel_auprc import average_precision_per_label
from .multilabel_auroc import roc_auc_per_label
from .multilabel_f1 import DEFAULT_THRESHOLD, choose_f1_thresholds, f1_per_label

METRICS_DIR = Path(__file__).resolve().parent
METRIC_NAMES = ("multilabel_auroc", "multilabel_auprc", "multilabel_f1")


def metric_path(name: str) -> str:
    """Path of a shipped metric script, to pass to `evaluate.load` (works offline)."""
    if name not in METRIC_NAMES:
        raise ValueError(f"Unknown metric {name!r}; the package ships {METRIC_NAMES}.")
    return str(METRICS_DIR / f"{name}.py")


__all__ = [
    "DEFAULT_THRESHOLD",
    "METRICS_DIR",
    "METRIC_NAMES",
    "average_precision_per_label",
    "choose_f1_thresholds",
    "f1_per_label",
    "metric_path",
    "roc_auc_per_label",
]
