"""Figures of evaluations: ROC curves per task, and a label's cross-attention over time drawn on the 12-lead ECG.

Figures are built with `matplotlib.figure.Figure` (no pyplot), so nothing changes matplotlib's global state or
needs a display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

if TYPE_CHECKING:
    from .reporting import TaskResult

# Per-label legends stay readable up to this many labels; larger tasks show only the mean in the title.
MAX_LEGEND_LABELS = 12


def plot_roc_curves(results: Sequence["TaskResult"], path: str | Path, title: str = "", columns: int = 3) -> Path:
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


def _draw_task_roc(axis, result: "TaskResult") -> None:
    with_legend = len(result.label_names) <= MAX_LEGEND_LABELS
    for index, name in enumerate(result.label_names):
        auroc = result.per_label.get(name)
        if auroc is None:
            continue
        false_positive, true_positive, _ = roc_curve(result.targets[:, index], result.scores[:, index])
        label = f"{name} ({auroc:.1f})" if with_legend else None
        axis.plot(false_positive, true_positive, linewidth=1.0, alpha=0.8 if with_legend else 0.45, label=label)
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    axis.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate")
    axis.set_title(
        f"{result.spec.title}: AUROC {result.auroc:.1f}\n95 % CI {result.ci95[0]:.1f}-{result.ci95[1]:.1f}, "
        f"{result.n_records} records",
        fontsize=9,
    )
    if with_legend:
        axis.legend(fontsize=6, loc="lower right")
