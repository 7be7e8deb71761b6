"""Figures of evaluations: ROC curves per task, and a label's cross-attention over time drawn on the 12-lead ECG.

Figures are built with `matplotlib.figure.Figure` (no pyplot), so nothing changes matplotlib's global state or
needs a display.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from .results import TaskResult

# Per-label legends stay readable up to this many labels; larger tasks show only the mean in the title.
MAX_LEGEND_LABELS = 12


def plot_roc_curves(results: Sequence[TaskResult], path: str | Path, title: str = "", columns: int = 3) -> Path:
    """One panel per evaluated task with the ROC curve of every label that has both classes.

    Args:
        results: evaluated tasks (with `targets` and `scores`).
        path: PNG to write.
        title: figure title.
        columns: panels per row.

    Returns:
        The written path.
    """
    if not results:
        raise ValueError("plot_roc_curves needs at least one evaluated task")
    rows = math.ceil(len(results) / columns)
    width = min(columns, len(results))
    figure = Figure(figsize=(4.2 * width, 4.0 * rows), layout="constrained")
    axes = figure.subplots(rows, width, squeeze=False).ravel()
    for axis, result in zip(axes, results):
        _draw_task_roc(axis, result)
    for axis in axes[len(results) :]:
        axis.set_visible(False)
    if title:
        figure.suptitle(title)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def draw_roc_curves(
    axis: Any,
    label_names: Sequence[str],
    targets: np.ndarray,
    scores: np.ndarray,
    per_label: Mapping[str, Optional[float]],
    title: str,
    legend: bool = True,
    legend_size: int = 6,
) -> None:
    """One ROC curve per label with a defined AUROC. targets, scores: (N, L); per_label: label -> AUROC x100."""
    for index, name in enumerate(label_names):
        auroc = per_label.get(name)
        if auroc is None:
            continue
        false_positive, true_positive, _ = roc_curve(targets[:, index], scores[:, index])
        label = f"{name} ({auroc:.1f})" if legend else None
        axis.plot(false_positive, true_positive, linewidth=1.0, alpha=0.8 if legend else 0.45, label=label)
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    axis.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate")
    axis.set_title(title, fontsize=9)
    if legend:
        axis.legend(title="label (AUROC)", fontsize=legend_size, loc="lower right")


def _draw_task_roc(axis, result: "TaskResult") -> None:
    title = (
        f"{result.spec.title}: AUROC {result.auroc:.1f}\n95 % CI {result.ci95[0]:.1f}-{result.ci95[1]:.1f}, "
        f"{result.n_records} records"
    )
    draw_roc_curves(
        axis, result.label_names, result.targets, result.scores, result.per_label, title,
        legend=len(result.label_names) <= MAX_LEGEND_LABELS,
    )
