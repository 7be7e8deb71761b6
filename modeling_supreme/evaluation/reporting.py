"""Results of an evaluation and the files they are written to: `results.json`, a Markdown table (`results.md`) and
ROC curves per task (`roc_curves.png`). Shared by the zero-shot benchmark, the linear probe and LoRA fine-tuning.

All AUROC / AUPRC values in the files are x100; per-label values are None where a label has a single class in the
test split (no AUROC), and such labels are left out of the means.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .auroc import auroc_per_label, bootstrap_ci, mean_auroc
from .benchmark_tasks import TaskSpec
from .metrics import average_precision_per_label, choose_f1_thresholds, f1_per_label
from .results import METRIC_NOTE, EvaluationReport, TaskResult, json_number, skipped
from .robustness import robustness_markdown

RESULTS_FILE = "results.json"
TABLE_FILE = "results.md"
ROC_FILE = "roc_curves.png"


def summarize_task(
    spec: TaskSpec,
    label_names: Sequence[str],
    targets: np.ndarray,
    scores: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
) -> TaskResult:
    """Metrics of one task's test scores. targets (N, L) 0/1, scores (N, L) -> an evaluated `TaskResult`.

    A task with no record, or no label with both classes, is returned as skipped with the reason."""
    if len(targets) == 0:
        return skipped(spec, "no test record could be scored")
    fractions = auroc_per_label(targets, scores, label_names)
    if all(value is None for value in fractions.values()):
        return skipped(spec, f"no label has both classes among the {len(targets)} test records")
    precision = average_precision_per_label(targets, scores)
    return TaskResult(
        spec=spec,
        status="evaluated",
        label_names=list(label_names),
        per_label={name: None if value is None else 100 * value for name, value in fractions.items()},
        auroc=mean_auroc(fractions),
        ci95=bootstrap_ci(targets, scores, n_resamples=n_resamples, seed=seed),
        auprc=float(100 * np.nanmean(precision)) if not np.isnan(precision).all() else float("nan"),
        n_records=len(targets),
        targets=targets,
        scores=scores,
    )


def f1_at_validation_thresholds(
    label_names: Sequence[str],
    validation_targets: np.ndarray,
    validation_scores: np.ndarray,
    test_targets: np.ndarray,
    test_scores: np.ndarray,
) -> dict[str, Any]:
    """Test F1 (x100) at per-label thresholds chosen on the validation split (never on test).

    validation_* (N_val, L), test_* (N_test, L) -> {"f1": mean x100, "f1_per_label": {...}, "f1_thresholds": {...}}.
    """
    thresholds = choose_f1_thresholds(validation_targets, validation_scores)
    per_label = f1_per_label(test_targets, test_scores, thresholds)
    return {
        "f1": json_number(100 * float(np.nanmean(per_label))) if not np.isnan(per_label).all() else None,
        "f1_per_label": {name: json_number(100 * value) for name, value in zip(label_names, per_label)},
        "f1_thresholds": {name: float(value) for name, value in zip(label_names, thresholds)},
    }


def markdown_table(report: EvaluationReport) -> str:
    """The report as Markdown: one row per task (AUROC, 95 % CI, AUPRC, records, labels), the mean, notes."""
    lines = [
        f"## {report.protocol}: {report.model}",
        "",
        "| Task | AUROC | 95 % CI | AUPRC | Records (table / benchmark) | Labels (defined) |",
        "| --- | ---: | :---: | ---: | ---: | ---: |",
    ]
    for name, result in report.tasks.items():
        if result.evaluated:
            defined = sum(value is not None for value in result.per_label.values())
            lines.append(
                f"| {result.spec.title} | {result.auroc:.2f} | {result.ci95[0]:.2f}-{result.ci95[1]:.2f} | "
                f"{result.auprc:.2f} | {result.n_records} ({result.n_table_rows} / "
                f"{result.spec.benchmark_test_rows}) | {len(result.label_names)} ({defined}) |"
            )
        else:
            lines.append(f"| {result.spec.title} | skipped | | | | |")
    evaluated = len(report.evaluated)
    lines.append(f"| **Mean over {evaluated} of {len(report.tasks)} tasks** | **{report.mean_auroc:.2f}** | | | | |")
    lines += ["", METRIC_NOTE]
    skipped_lines = [
        f"- {result.spec.title}: skipped, {result.reason}" for result in report.tasks.values() if not result.evaluated
    ]
    notes = list(dict.fromkeys(note for result in report.evaluated for note in result.spec.notes))
    partial = [result.spec.title for result in report.evaluated if result.n_records != result.spec.benchmark_test_rows]
    if partial:
        lines += [
            "",
            f"Partial evaluation (fewer records than the published test table): {', '.join(partial)}; "
            "not comparable with full-benchmark numbers.",
        ]
    lead_set_lines = lead_sets_markdown(report)
    if lead_set_lines:
        lines += ["", *lead_set_lines]
    for result in report.evaluated:
        if result.extra.get("robustness"):
            lines += ["", *robustness_markdown(
                result.spec.title, result.extra["robustness"], result.extra.get("query_axis_shares")
            )]
    if skipped_lines:
        lines += ["", "Skipped tasks:", "", *skipped_lines]
    if notes:
        lines += ["", "Notes on the benchmark tables:", "", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def lead_sets_markdown(report: EvaluationReport) -> list[str]:
    """A table of AUROC by lead set (columns) and task (rows), from the tasks' `extra["lead_sets"]`; [] if none."""
    by_task = {
        result.spec.title: result.extra["lead_sets"] for result in report.evaluated if result.extra.get("lead_sets")
    }
    if not by_task:
        return []
    names = list(dict.fromkeys(name for sets in by_task.values() for name in sets))
    lines = [
        "AUROC by lead set (the other leads removed from the records before the feature extractor, which derives "
        "the limb leads it can from two of I, II, III):",
        "",
        "| Task | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    for title, sets in by_task.items():
        cells = [f"{sets[name]['auroc']:.2f}" if sets.get(name, {}).get("auroc") is not None else "-" for name in names]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def write_report(report: EvaluationReport, out_dir: str | Path) -> dict[str, Path]:
    """Write `results.json`, `results.md` and (if a task was evaluated) `roc_curves.png` into `out_dir`.

    Returns:
        file kind ("json", "markdown", "roc") -> path written.
    """
    from .plotting import plot_roc_curves  # matplotlib is imported only where a figure is drawn

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / RESULTS_FILE, "markdown": out / TABLE_FILE}
    paths["json"].write_text(json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(markdown_table(report), encoding="utf-8")
    if report.evaluated:
        paths["roc"] = plot_roc_curves(report.evaluated, out / ROC_FILE, title=f"{report.protocol}: {report.model}")
    return paths


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a `results.json` (a file or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Cannot read evaluation results from {path}: {error}") from error
    if not isinstance(results, Mapping) or "tasks" not in results:
        raise ValueError(f"{path} is not an evaluation results.json (no 'tasks')")
    return dict(results)


__all__ = [
    "f1_at_validation_thresholds",
    "load_results",
    "lead_sets_markdown",
    "markdown_table",
    "summarize_task",
    "write_report",
]
