"""Zero-shot figures on chosen PTB-XL folds of a built dataset: what tells a model that separates findings by text
from one that only ranks ECGs by "how abnormal".

For the four PTB-XL tasks of the benchmark tables (super-class, sub-class, form, rhythm; the label columns a
`datasets_scripts/build_ptbxl.py` dataset carries, named as in the tables), every record of the given `strat_fold`s
is asked for every label by its query (the project's descriptions, MERL's CKEPE prompts or a file). Reported:

- AUROC per label and its mean per task;
- the within-abnormal AUROC per label: the AUROC among the ECGs whose super-class is not NORM (does the MI query
  find the infarcts among other abnormal ECGs?), and its mean per task (NORM itself has none);
- the first-axis share of all query scores (`robustness.logit_axis_shares` over every query of every task at once):
  near 1, one ranking of the ECGs explains every query;
- with `wordings`, per label the AUROC of each wording asked alone (worst, spread); with `lead_sets`, the task means
  again with the records reduced to each lead set.

PTB-XL folds are in-domain for a model pre-trained on PTB-XL: these are not MERL's zero-shot figures (pre-trained on
MIMIC-IV-ECG, tested on PTB-XL).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from ..dataset_builders.labels import multi_hot_matrix, multi_label_names
from .auroc import auroc_per_label, mean_auroc
from .robustness import flatten_wordings, logit_axis_shares, wording_results
from .scoring import LabelQuery, label_texts_for, score_ecgs

# Benchmark task -> the dataset's label column.
FOLD_TASKS: Mapping[str, str] = {
    "ptbxl_super": "super_class", "ptbxl_sub": "sub_class", "ptbxl_form": "form", "ptbxl_rhythm": "rhythm"
}
NORMAL_LABEL = "NORM"
FOLD_COLUMN = "strat_fold"
IN_DOMAIN_NOTE = ("PTB-XL is in-domain here (the model was pre-trained on other PTB-XL folds): not MERL's zero-shot "
                  "setting (pre-trained on MIMIC-IV-ECG, tested on PTB-XL); MERL's published figures are not "
                  "comparable with these.")


@dataclasses.dataclass
class FoldTaskResult:
    """One task on the chosen folds.

    Attributes:
        label_names / label_texts: the L labels and their queries.
        per_label / within_abnormal: label -> AUROC x100 over all ECGs / over the ECGs that are not NORM; None where
            the targets have a single class.
        wordings: label -> {wording: AUROC x100 or None}, when wordings were asked.
        lead_sets: lead set -> {"auroc": task mean, "per_label": {...}}, when lead sets were asked.
    """

    label_names: list[str]
    label_texts: list[LabelQuery]
    per_label: dict[str, Optional[float]]
    within_abnormal: dict[str, Optional[float]]
    wordings: dict[str, dict[str, Optional[float]]] = dataclasses.field(default_factory=dict)
    lead_sets: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def mean(self) -> float:
        return mean_auroc(self.per_label, scale=1.0)

    @property
    def within_abnormal_mean(self) -> float:
        return mean_auroc({k: v for k, v in self.within_abnormal.items() if k != NORMAL_LABEL}, scale=1.0)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "auroc": _number(self.mean), "within_abnormal_auroc": _number(self.within_abnormal_mean),
            "per_label": self.per_label, "within_abnormal": self.within_abnormal,
            "label_texts": dict(zip(self.label_names, self.label_texts)),
        }
        if self.wordings:
            entry["wordings"] = {label: _wording_summary(values) for label, values in self.wordings.items()}
        if self.lead_sets:
            entry["lead_sets"] = self.lead_sets
        return entry


@dataclasses.dataclass
class FoldReport:
    """Every task on the chosen folds of one dataset, with the first-axis shares of all query scores."""

    folds: list[int]
    n_records: int
    n_abnormal: int
    tasks: dict[str, FoldTaskResult]
    query_axis_shares: list[float]

    @property
    def first_axis_share(self) -> Optional[float]:
        return self.query_axis_shares[0] if self.query_axis_shares else None

    def to_json(self) -> dict[str, Any]:
        return {"folds": self.folds, "n_records": self.n_records, "n_abnormal": self.n_abnormal,
                "first_axis_share": self.first_axis_share, "query_axis_shares": self.query_axis_shares,
                "note": IN_DOMAIN_NOTE, "tasks": {name: task.to_json() for name, task in self.tasks.items()}}


def _number(value: float) -> Optional[float]:
    return None if np.isnan(value) else float(value)


def _wording_summary(values: Mapping[str, Optional[float]]) -> dict[str, Any]:
    defined = {text: value for text, value in values.items() if value is not None}
    if not defined:
        return {"worst": None, "spread": None, "worst_wording": None, "auroc": dict(values)}
    worst = min(defined, key=defined.__getitem__)
    return {"worst": defined[worst], "spread": max(defined.values()) - defined[worst], "worst_wording": worst,
            "auroc": dict(values)}


def _percent(values: Mapping[str, Optional[float]]) -> dict[str, Optional[float]]:
    return {name: None if value is None else 100 * value for name, value in values.items()}


def select_folds(dataset: Any, folds: Sequence[int]) -> Any:
    """The rows of every split of a `DatasetDict` (or one `Dataset`) whose `strat_fold` is in `folds`, concatenated.

    Raises:
        ValueError: no `strat_fold` column, or no row in those folds.
    """
    import datasets

    parts = list(dataset.values()) if isinstance(dataset, Mapping) else [dataset]
    if any(FOLD_COLUMN not in part.column_names for part in parts):
        raise ValueError(f"the dataset has no {FOLD_COLUMN!r} column: give a PTB-XL dataset built by build_ptbxl.py")
    wanted = set(int(fold) for fold in folds)
    chosen = [part.select(np.flatnonzero(np.isin(part[FOLD_COLUMN], list(wanted)))) for part in parts]
    joined = datasets.concatenate_datasets([part for part in chosen if len(part)]) if any(map(len, chosen)) else None
    if joined is None:
        raise ValueError(f"the dataset has no record in strat_fold {sorted(wanted)}")
    return joined


def _task_targets(split: Any, column: str) -> tuple[np.ndarray, list[str]]:
    return multi_hot_matrix(split, column), multi_label_names(split.features, column)


def _score(model: Any, processor: Any, split: Any, queries: Sequence[LabelQuery], batch_size: int,
           lead_set: Optional[str]) -> np.ndarray:
    from ..training.data import SupremeCollator, ecg_batches, formatted_for_collation

    collator = SupremeCollator(processor, lead_set=lead_set)
    batches = ecg_batches(formatted_for_collation(split), collator, range(len(split)), batch_size)
    return score_ecgs(model, processor, batches, list(queries), progress=False)


def evaluate_ptbxl_folds(
    model: Any,
    processor: Any,
    split: Any,
    folds: Sequence[int],
    descriptions: Mapping[str, Mapping[str, LabelQuery]],
    tasks: Sequence[str] = tuple(FOLD_TASKS),
    wordings: Optional[Mapping[str, Mapping[str, Sequence[str]]]] = None,
    lead_sets: Sequence[str] = (),
    batch_size: int = 64,
) -> FoldReport:
    """Score the records of `split` (already reduced to `folds`, see `select_folds`) for every label of `tasks`.

    Args:
        split: a PTB-XL `Dataset` with the label columns of `FOLD_TASKS` and the ECG columns.
        folds: the folds `split` holds (reported).
        descriptions: {task: {label: query}} (`load_label_descriptions`).
        tasks: names of `FOLD_TASKS`.
        wordings: {task: {label: [wordings]}}: each wording is also asked alone.
        lead_sets: lead-set names: the task means again with the records reduced to each set.

    Raises:
        ValueError: an unknown task, or a label without a query.
    """
    unknown = [task for task in tasks if task not in FOLD_TASKS]
    if unknown:
        raise ValueError(f"unknown PTB-XL fold tasks {unknown}; choose from {list(FOLD_TASKS)}")
    super_targets, super_names = _task_targets(split, FOLD_TASKS["ptbxl_super"])
    abnormal = super_targets[:, super_names.index(NORMAL_LABEL)] == 0
    targets, names, texts, pairs = {}, {}, {}, {}
    for task in tasks:
        targets[task], names[task] = _task_targets(split, FOLD_TASKS[task])
        texts[task] = label_texts_for(descriptions, task, names[task])
        pairs[task] = flatten_wordings((wordings or {}).get(task, {}), names[task])
    queries = [query for task in tasks for query in [*texts[task], *(text for _, text in pairs[task])]]
    scores = _score(model, processor, split, queries, batch_size, None)
    results: dict[str, FoldTaskResult] = {}
    start = 0
    for task in tasks:
        count = len(texts[task])
        task_scores, wording_scores = scores[:, start: start + count], scores[:, start + count: start + count +
                                                                             len(pairs[task])]
        start += count + len(pairs[task])
        results[task] = FoldTaskResult(
            names[task], texts[task],
            _percent(auroc_per_label(targets[task], task_scores, names[task])),
            _percent(auroc_per_label(targets[task][abnormal], task_scores[abnormal], names[task])),
            {label: dict(result.auroc)
             for label, result in wording_results(targets[task], names[task], pairs[task], wording_scores).items()},
        )
    for lead_set in lead_sets:
        reduced = _score(model, processor, split, [q for task in tasks for q in texts[task]], batch_size, lead_set)
        start = 0
        for task in tasks:
            count = len(texts[task])
            per_label = _percent(auroc_per_label(targets[task], reduced[:, start: start + count], names[task]))
            results[task].lead_sets[lead_set] = {"auroc": _number(mean_auroc(per_label, scale=1.0)),
                                                 "per_label": per_label}
            start += count
    return FoldReport(sorted(int(fold) for fold in folds), len(split), int(abnormal.sum()), results,
                      logit_axis_shares(scores))


def _cell(value: Optional[float]) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.1f}"


def fold_report_markdown(report: FoldReport) -> str:
    """The report as Markdown: the task means, then per task AUROC and within-abnormal AUROC per label."""
    share = report.first_axis_share
    lines = [f"## Zero-shot on PTB-XL strat_fold {report.folds} ({report.n_records} ECGs, {report.n_abnormal} not "
             "NORM)", "", f"> {IN_DOMAIN_NOTE}", "",
             f"First-axis share of all query scores: {'n/a' if share is None else f'{share:.2f}'}.", "",
             "| Task | Mean AUROC | Within-abnormal mean |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {_cell(task.mean)} | {_cell(task.within_abnormal_mean)} |"
              for name, task in report.tasks.items()]
    for name, task in report.tasks.items():
        lines += ["", f"### {name}", "", "| Label | AUROC | Within-abnormal | Worst wording | Spread | Query |",
                  "| --- | ---: | ---: | ---: | ---: | --- |"]
        for label, text in zip(task.label_names, task.label_texts):
            wording = _wording_summary(task.wordings[label]) if label in task.wordings else {}
            shown = text if isinstance(text, str) else " / ".join(text)
            lines.append(f"| {label} | {_cell(task.per_label[label])} | {_cell(task.within_abnormal[label])} | "
                         f"{_cell(wording.get('worst'))} | {_cell(wording.get('spread'))} | {shown} |")
        if task.lead_sets:
            lines += ["", "| Lead set | Mean AUROC |", "| --- | ---: |"]
            lines += [f"| {lead_set} | {_cell(entry['auroc'])} |" for lead_set, entry in task.lead_sets.items()]
    return "\n".join(lines) + "\n"


__all__ = ["FOLD_TASKS", "FoldReport", "FoldTaskResult", "IN_DOMAIN_NOTE", "evaluate_ptbxl_folds",
           "fold_report_markdown", "select_folds"]
