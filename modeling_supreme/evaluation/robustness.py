"""Query robustness: does a label keep its AUROC when it is asked in other words?

A paraphrase file maps {task: {label column: [wordings]}}. The project has five, none of their wordings a training
label text and no wording in two of them:
- `default` (`paraphrases.json`): five or more wordings for each PTB-XL super-class and for 25 other benchmark labels,
  negated and colloquial ones included;
- `blind` (`paraphrases_blind.json`): four to six wordings for each super-class and 25 other labels, written by
  someone who had seen neither the training texts, nor their templates, nor the first set, after the training
  templates were fixed: the held-out check of changes to the training texts made after looking at `default`;
- `blind2` (`paraphrases_blind2.json`): written the same way, after the other two had been used to compare training
  variants: the held-out check of the variants chosen then;
- `blind3` (`paraphrases_blind3.json`): four or more wordings for each of the 30 PTB-XL labels (five or more for the
  super-classes), written the same way on 2026-12-01, before the training variants then being chosen were scored on
  it: the held-out check of those variants;
- `blind4` (`paraphrases_blind4.json`): five or more wordings for each of the 30 PTB-XL labels (six or more for the
  super-classes), written the same way on 2026-12-02, before any model was scored on it: the held-out check of a
  change kept apart from the sets it could have been tuned on.
Each wording is asked alone; per label the result is every wording's AUROC, the worst, the best, the spread
(best - worst) and the mean, all x100.

`logit_axis_shares` says why a wording can invert: if nearly all of the variance of the logits of every query lies
on one axis over the ECGs, the model ranks the ECGs one way whatever is asked, and a wording's text only chooses
the sign (and offset) of that ranking. Each wording's AUROC is then its label's AUROC on that axis or its mirror
image (100 minus it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .metrics import roc_auc_per_label
from .scoring import read_json_file

DEFAULT_PARAPHRASES = "default"
# Name -> the package's file.
PACKAGED_PARAPHRASES = {
    DEFAULT_PARAPHRASES: "paraphrases.json", "blind": "paraphrases_blind.json", "blind2": "paraphrases_blind2.json",
    "blind3": "paraphrases_blind3.json", "blind4": "paraphrases_blind4.json",
}


@dataclasses.dataclass
class WordingResult:
    """AUROC (x100) of one label asked by each of its wordings; None where the targets have a single class."""

    label: str
    auroc: dict[str, Optional[float]]

    def _defined(self) -> list[float]:
        return [value for value in self.auroc.values() if value is not None]

    @property
    def worst(self) -> Optional[float]:
        return min(self._defined(), default=None)

    @property
    def best(self) -> Optional[float]:
        return max(self._defined(), default=None)

    @property
    def spread(self) -> Optional[float]:
        return self.best - self.worst if self._defined() else None

    @property
    def mean(self) -> Optional[float]:
        return float(np.mean(self._defined())) if self._defined() else None

    @property
    def worst_wording(self) -> Optional[str]:
        worst = self.worst
        return next((text for text, value in self.auroc.items() if value == worst), None)

    def to_json(self) -> dict[str, Any]:
        return {"auroc": self.auroc, "worst": self.worst, "worst_wording": self.worst_wording, "best": self.best,
                "spread": self.spread, "mean": self.mean}


def load_paraphrases(path: str | Path | None = DEFAULT_PARAPHRASES) -> dict[str, dict[str, list[str]]]:
    """{task: {label: [wordings]}} from a JSON file, or one of the project's files by name (`PACKAGED_PARAPHRASES`:
    "default", the default for None, "blind", "blind2", "blind3" or "blind4"). Keys starting with "_" (comments) are
    skipped.

    Raises:
        ValueError: not that shape, or a label with no wordings or a wording that is not text, naming the file.
    """
    packaged = PACKAGED_PARAPHRASES.get(DEFAULT_PARAPHRASES if path is None else str(path))
    data, source = read_json_file(path, packaged, "paraphrase file")
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected an object {{task: {{label: [wordings]}}}}")
    paraphrases: dict[str, dict[str, list[str]]] = {}
    for task, labels in data.items():
        if task.startswith("_"):
            continue
        if not isinstance(labels, dict):
            raise ValueError(f"{source}: task {task!r} must map labels to lists of wordings")
        for label, wordings in labels.items():
            if (
                not isinstance(wordings, list)
                or not wordings
                or not all(isinstance(w, str) and w.strip() for w in wordings)
            ):
                raise ValueError(
                    f"{source}: task {task!r}, label {label!r} needs a non-empty list of non-empty wordings"
                )
        paraphrases[task] = {label: list(wordings) for label, wordings in labels.items()}
    return paraphrases


def flatten_wordings(wordings: Mapping[str, Sequence[str]], label_names: Sequence[str]) -> list[tuple[str, str]]:
    """(label, wording) pairs of the labels in `label_names` (in that order) that have wordings."""
    return [(label, text) for label in label_names for text in wordings.get(label, ())]


def wording_results(
    targets: np.ndarray, label_names: Sequence[str], pairs: Sequence[tuple[str, str]], scores: np.ndarray
) -> dict[str, WordingResult]:
    """targets (N, L) for `label_names`, scores (N, W) for the W (label, wording) `pairs` -> per label its result."""
    if np.shape(scores)[1] != len(pairs):
        raise ValueError(f"{np.shape(scores)[1]} score columns for {len(pairs)} wordings")
    column = {name: index for index, name in enumerate(label_names)}
    wording_targets = np.stack([targets[:, column[label]] for label, _ in pairs], axis=1) if pairs else targets[:, :0]
    values = roc_auc_per_label(wording_targets, scores) if pairs else []
    results: dict[str, WordingResult] = {}
    for (label, text), value in zip(pairs, values):
        result = results.setdefault(label, WordingResult(label, {}))
        result.auroc[text] = None if np.isnan(value) else float(100 * value)
    return results


def logit_axis_shares(logits: np.ndarray, count: int = 3) -> list[float]:
    """Share of the scores' variance on each of the first `count` principal axes over the ECGs, largest first.

    Args:
        logits: (N, Q) scores of N ECGs for Q queries (logits, or the probabilities or cosines `score_ecgs` returns).
            Each query's column is centred first, so a query's own offset is not counted as agreement with the
            others.

    Returns:
        min(count, N, Q) fractions in [0, 1] summing to at most 1: the squared singular values of the centred
        matrix over their total. A first share near 1 means one ranking of the ECGs explains every query's
        scores; 1 / min(N, Q) is what queries independent of each other give. [] when there is no axis: fewer
        than two ECGs, or every query scoring every ECG the same.

    Raises:
        ValueError: not a 2-D matrix, NaN or infinite values, or a `count` below 1.
    """
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"logit_axis_shares needs an (ECGs, queries) matrix, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("logit_axis_shares: the logits hold NaN or infinite values")
    if count < 1:
        raise ValueError(f"logit_axis_shares: count must be at least 1, got {count}")
    if values.shape[0] < 2 or values.shape[1] < 1:
        return []
    energies = np.linalg.svd(values - values.mean(axis=0, keepdims=True), compute_uv=False) ** 2
    if energies.sum() == 0:
        return []
    return [float(value) for value in energies[:count] / energies.sum()]


def robustness_markdown(
    title: str, results: Mapping[str, Mapping[str, Any]], axis_shares: Optional[Sequence[float]] = None
) -> list[str]:
    """Markdown lines from {label: `WordingResult.to_json()`}: per label the worst / best / spread / mean AUROC and
    the worst wording; with `axis_shares` (`logit_axis_shares` of the same scores) a line that says how much of the
    queries' scores one ranking of the ECGs explains."""
    lines = [f"### Query robustness: {title}", ""]
    if axis_shares:
        rest = ", ".join(f"{share:.2f}" for share in axis_shares[1:])
        lines += [f"Share of the variance of every query's scores on their first axis over the ECGs: "
                  f"{axis_shares[0]:.2f}" + (f" (next: {rest})" if rest else "") + ". Near 1, the model ranks the "
                  "ECGs one way whatever it is asked, and a wording only chooses the sign of that ranking.", ""]
    lines += ["| Label | Wordings | Worst | Best | Spread | Mean | Worst wording |",
              "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for label, result in results.items():
        if result["worst"] is None:
            lines.append(f"| {label} | {len(result['auroc'])} | n/a | n/a | n/a | n/a | (single class) |")
            continue
        lines.append(
            f"| {label} | {len(result['auroc'])} | {result['worst']:.1f} | {result['best']:.1f} | "
            f"{result['spread']:.1f} | {result['mean']:.1f} | {result['worst_wording']} |"
        )
    return lines


__all__ = [
    "DEFAULT_PARAPHRASES",
    "PACKAGED_PARAPHRASES",
    "WordingResult",
    "flatten_wordings",
    "load_paraphrases",
    "logit_axis_shares",
    "robustness_markdown",
    "wording_results",
]
