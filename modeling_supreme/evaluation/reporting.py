"""Results of an evaluation and the files they are written to: `results.json`, a Markdown table (`results.md`) and
ROC curves per task (`roc_curves.png`). Shared by the zero-shot benchmark, the linear probe and LoRA fine-tuning.

All AUROC / AUPRC values in the files are x100; per-label values are None where a label has a single class in the
test split (no AUROC), and such labels are left out of the means.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .benchmark import TaskSpec
from .metrics import average_precision_per_label, choose_f1_thresholds, f1_per_label
from .robustness import robustness_markdown
from .zero_shot import auroc_per_label, bootstrap_ci, mean_auroc

RESULTS_FILE = "results.json"
TABLE_FILE = "results.md"
ROC_FILE = "roc_curves.png"
METRIC_NOTE = (
    "AUROC x100 per label (one-vs-rest, each label queried separately), averaged over the labels that have both "
    "classes in the test split; 95 % interval by percentile bootstrap over records."
)


@dataclasses.dataclass
class TaskResult:
    """Evaluation of one task on its test split.

    Attributes:
        spec: the task.
        status: "evaluated" or "skipped".
        reason: why a task was skipped.
        label_names: the L label columns.
        per_label: label -> AUROC x100 (None where undefined).
        auroc: mean AUROC x100 over the defined labels.
        ci95: bootstrap 95 % interval (low, high), x100.
        auprc: mean average precision x100 over the labels with a positive.
        n_table_rows: rows of the test table.
        n_records: records scored.
        missing: ids of table rows whose record the data source does not hold.
        rejected: (id, reason) of records that could not be read or preprocessed.
        extra: further JSON-serialisable fields (e.g. F1 at validation thresholds, linear-probe settings).
        targets, scores: (n_records, L) arrays behind the numbers (for plots; not written to JSON).
    """

    spec: TaskSpec
    status: str
    reason: str = ""
    label_names: list[str] = dataclasses.field(default_factory=list)
    per_label: dict[str, float | None] = dataclasses.field(default_factory=dict)
    auroc: float = float("nan")
    ci95: tuple[float, float] = (float("nan"), float("nan"))
    auprc: float = float("nan")
    n_table_rows: int = 0
    n_records: int = 0
    missing: list[str] = dataclasses.field(default_factory=list)
    rejected: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    targets: np.ndarray | None = None
    scores: np.ndarray | None = None

    @property
    def evaluated(self) -> bool:
        return self.status == "evaluated"

    def to_json(self) -> dict[str, Any]:
        """The task's entry of `results.json` (NaN written as null)."""
        if not self.evaluated:
            return {
                "status": self.status,
                "reason": self.reason,
                "title": self.spec.title,
                "notes": list(self.spec.notes),
            }
        undefined = [name for name, value in self.per_label.items() if value is None]
        return {
            "status": self.status,
            "title": self.spec.title,
            "auroc": _number(self.auroc),
            "ci95": [_number(self.ci95[0]), _number(self.ci95[1])],
            "per_label": {name: _number(value) for name, value in self.per_label.items()},
            "auprc": _number(self.auprc),
            "n_labels": len(self.label_names),
            "undefined_labels": undefined,
            "n_table_rows": self.n_table_rows,
            "n_records": self.n_records,
            "benchmark_test_rows": self.spec.benchmark_test_rows,
            "full_benchmark": self.n_records == self.spec.benchmark_test_rows,
            "n_missing": len(self.missing),
            "missing_examples": self.missing[:20],
            "rejected": [{"id": key, "reason": reason} for key, reason in self.rejected],
            "notes": list(self.spec.notes),
            **self.extra,
        }


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 4)


def skipped(spec: TaskSpec, reason: str) -> TaskResult:
    """A task that could not be evaluated (reported as skipped, never as a zero score)."""
    return TaskResult(spec=spec, status="skipped", reason=reason)


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
        "f1": _number(100 * float(np.nanmean(per_label))) if not np.isnan(per_label).all() else None,
        "f1_per_label": {name: _number(100 * value) for name, value in zip(label_names, per_label)},
        "f1_thresholds": {name: float(value) for name, value in zip(label_names, thresholds)},
    }


@dataclasses.dataclass
class EvaluationReport:
    """An evaluation over several tasks.

    Attributes:
        protocol: "zero-shot", "linear-probe (10 % of train)", "LoRA fine-tuning"...
        model: the model's folder or Hub id.
        tasks: task name -> result, in evaluation order.
        settings: how the evaluation ran (splits folder, data sources, label descriptions, bootstrap...).
    """

    protocol: str
    model: str
    tasks: dict[str, TaskResult]
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def evaluated(self) -> list[TaskResult]:
        return [result for result in self.tasks.values() if result.evaluated]

    @property
    def mean_auroc(self) -> float:
        """Mean of the evaluated tasks' AUROC (x100); NaN if none was evaluated."""
        values = [result.auroc for result in self.evaluated]
        return float(np.mean(values)) if values else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "model": self.model,
            "metric": METRIC_NOTE,
            "mean_auroc": _number(self.mean_auroc),
            "tasks_evaluated": [result.spec.name for result in self.evaluated],
            "tasks_skipped": [name for name, result in self.tasks.items() if not result.evaluated],
            "tasks": {name: result.to_json() for name, result in self.tasks.items()},
            "settings": self.settings,
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
            lines += ["", *robustness_markdown(result.spec.title, result.extra["robustness"])]
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
    from .plotting import plot_roc_curves

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
    "EvaluationReport",
    "TaskResult",
    "f1_at_validation_thresholds",
    "load_results",
    "lead_sets_markdown",
    "markdown_table",
    "skipped",
    "summarize_task",
    "write_report",
]
