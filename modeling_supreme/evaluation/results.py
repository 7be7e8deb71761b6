"""The result types of an evaluation: one task's result (`TaskResult`) and a report over several tasks
(`EvaluationReport`), with their `results.json` form. Computing them is `reporting`'s job, drawing them `plotting`'s;
both import these types from here, so neither imports the other for them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .auroc import mean_auroc
from .benchmark_tasks import TaskSpec

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
            "auroc": json_number(self.auroc),
            "ci95": [json_number(self.ci95[0]), json_number(self.ci95[1])],
            "per_label": {name: json_number(value) for name, value in self.per_label.items()},
            "auprc": json_number(self.auprc),
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


def json_number(value: float | None) -> float | None:
    """A number as `results.json` holds it: rounded to 4 decimals, NaN as None (null)."""
    return None if value is None or math.isnan(value) else round(float(value), 4)


def skipped(spec: TaskSpec, reason: str) -> TaskResult:
    """A task that could not be evaluated (reported as skipped, never as a zero score)."""
    return TaskResult(spec=spec, status="skipped", reason=reason)


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
        return mean_auroc([result.auroc for result in self.evaluated], scale=1.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "model": self.model,
            "metric": METRIC_NOTE,
            "mean_auroc": json_number(self.mean_auroc),
            "tasks_evaluated": [result.spec.name for result in self.evaluated],
            "tasks_skipped": [name for name, result in self.tasks.items() if not result.evaluated],
            "tasks": {name: result.to_json() for name, result in self.tasks.items()},
            "settings": self.settings,
        }


__all__ = ["METRIC_NOTE", "EvaluationReport", "TaskResult", "json_number", "skipped"]
