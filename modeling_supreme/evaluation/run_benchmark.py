"""The zero-shot benchmark: every label column of the six test tables is asked for by its text
description; AUROC per label, mean per task with a bootstrap 95 % interval, mean over the tasks evaluated.

```python
>>> from modeling_supreme.evaluation.run_benchmark import load_model_and_processor, run_zero_shot_benchmark
>>> model, processor = load_model_and_processor("path/or/hub-id")
>>> from modeling_supreme.data_sources import benchmark_splits_folder, ptbxl_folder
>>> sources = dict([open_source(ptbxl_folder(), ptbxl_rate=100)])
>>> report = run_zero_shot_benchmark(model, processor, ["ptbxl_super"], benchmark_splits_folder(), sources)
```
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..leads_supreme import lead_set_leads, parse_lead_sets
from .benchmark_tasks import TASKS, TaskSpec, get_task
from .records import RecordSource, TaskInputs
from .reporting import f1_at_validation_thresholds, summarize_task
from .results import EvaluationReport, TaskResult, skipped
from .robustness import flatten_wordings, logit_axis_shares, wording_results
from .scoring import (
    DEFAULT_BATCH_SIZE,
    LabelQuery,
    label_texts_for,
    load_label_descriptions,
    load_model_and_processor,
    score_ecgs,
)

logger = logging.getLogger(__name__)


def score_split(
    model: Any,
    processor: Any,
    spec: TaskSpec,
    splits_dir: str | Path,
    split: str,
    source: RecordSource,
    label_names: Sequence[str] | None = None,
    label_texts: Sequence[LabelQuery] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    lead_set: str | None = None,
) -> tuple[TaskInputs, Any]:
    """Score the records of one split of a task that `source` holds (reduced to `lead_set`'s leads if given).

    Returns:
        (inputs, scores): `inputs.targets()` (n, L) and `scores` (n, L) are aligned; `inputs.missing` /
        `inputs.rejected` name the rows left out. `scores` is None when no row of the table has a record.
    """
    inputs = TaskInputs.for_split(
        spec, splits_dir, split, source, processor.feature_extractor, label_names, lead_set=lead_set
    )
    if not inputs.available_rows:
        return inputs, None
    texts = label_texts if label_texts is not None else inputs.table.label_names
    scores = score_ecgs(model, processor, inputs.batches(batch_size), texts, progress=progress)
    return inputs, scores


def evaluate_task_zero_shot(
    model: Any,
    processor: Any,
    spec: TaskSpec,
    splits_dir: str | Path,
    source: RecordSource,
    descriptions: Mapping[str, Mapping[str, LabelQuery]],
    batch_size: int = DEFAULT_BATCH_SIZE,
    n_resamples: int = 1000,
    seed: int = 0,
    with_f1: bool = False,
    progress: bool = True,
    wordings: Mapping[str, Sequence[str]] | None = None,
    lead_sets: Sequence[str] = (),
) -> TaskResult:
    """Zero-shot evaluation of one task on its test split (and, with `with_f1`, F1 at thresholds chosen on val).

    `wordings` ({label: [texts]}, see `evaluation.robustness`) also asks each label by each of its wordings alone,
    in the same pass over the records (a label's score never depends on the other texts asked); the result's
    `extra["robustness"]` holds their AUROC per label and `extra["query_axis_shares"]` how much of every query's
    scores one ranking of the ECGs explains (`robustness.logit_axis_shares`). `lead_sets` ("12", "6", "II", ...)
    scores the test records again reduced to each set's leads; `extra["lead_sets"]` holds AUROC, interval and
    per-label AUROC per set.
    """
    label_names = spec.label_columns(splits_dir, "test")
    texts = label_texts_for(descriptions, spec.descriptions_key, label_names)
    pairs = flatten_wordings(wordings or {}, label_names)
    inputs, all_scores = score_split(
        model, processor, spec, splits_dir, "test", source, label_names, [*texts, *(text for _, text in pairs)],
        batch_size, progress,
    )
    if all_scores is None:
        return skipped(spec, f"none of the {len(inputs.table.keys)} test records is in {source.description}")
    scores = all_scores[:, : len(texts)]
    result = summarize_task(spec, label_names, inputs.targets(), scores, n_resamples=n_resamples, seed=seed)
    if pairs:
        by_label = wording_results(inputs.targets(), label_names, pairs, all_scores[:, len(texts) :])
        result.extra["robustness"] = {label: value.to_json() for label, value in by_label.items()}
        result.extra["query_axis_shares"] = logit_axis_shares(all_scores)
    result.n_table_rows = len(inputs.table.keys)
    result.missing = list(inputs.missing)
    result.rejected = [(item.key, item.reason) for item in inputs.rejected]
    if lead_sets and result.evaluated:
        result.extra["lead_sets"] = {
            name: _lead_set_result(model, processor, spec, splits_dir, source, label_names, texts, name, batch_size,
                                   n_resamples, seed, progress)
            for name in lead_sets
        }
    if with_f1 and result.evaluated:
        result.extra.update(
            _f1_from_validation(
                model, processor, spec, splits_dir, source, label_names, texts, inputs, scores, batch_size, progress
            )
        )
    return result


def _lead_set_result(
    model: Any,
    processor: Any,
    spec: TaskSpec,
    splits_dir: str | Path,
    source: RecordSource,
    label_names: Sequence[str],
    texts: Sequence[LabelQuery],
    lead_set: str,
    batch_size: int,
    n_resamples: int,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """The test split scored with the records reduced to `lead_set`: {"auroc", "ci95", "per_label", "n_records"}."""
    inputs, scores = score_split(
        model, processor, spec, splits_dir, "test", source, label_names, texts, batch_size, progress, lead_set=lead_set
    )
    result = summarize_task(spec, label_names, inputs.targets(), scores, n_resamples=n_resamples, seed=seed)
    entry = result.to_json()
    return {key: entry.get(key) for key in ("status", "reason", "auroc", "ci95", "per_label", "n_records", "rejected")
            if key in entry}


def _f1_from_validation(
    model: Any,
    processor: Any,
    spec: TaskSpec,
    splits_dir: str | Path,
    source: RecordSource,
    label_names: Sequence[str],
    texts: Sequence[LabelQuery],
    test_inputs: TaskInputs,
    test_scores: Any,
    batch_size: int,
    progress: bool,
) -> dict[str, Any]:
    validation, validation_scores = score_split(
        model, processor, spec, splits_dir, "val", source, label_names, texts, batch_size, progress
    )
    if validation_scores is None or len(validation.evaluated_rows) == 0:
        return {"f1": None, "f1_note": "no validation record available to choose thresholds"}
    return f1_at_validation_thresholds(
        label_names, validation.targets(), validation_scores, test_inputs.targets(), test_scores
    )


def run_zero_shot_benchmark(
    model: Any,
    processor: Any,
    tasks: Sequence[str],
    splits_dir: str | Path,
    sources: Mapping[str, RecordSource],
    descriptions: Mapping[str, Mapping[str, LabelQuery]] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    n_resamples: int = 1000,
    seed: int = 0,
    with_f1: bool = False,
    model_name: str = "",
    progress: bool = True,
    paraphrases: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    lead_sets: Sequence[str] = (),
) -> EvaluationReport:
    """Evaluate `tasks` zero-shot. A task whose data source is not given, whose table is missing or whose records
    are all absent is reported as skipped (with the reason), never as a zero score.

    Args:
        model, processor: a SuPreME model and its processor.
        tasks: names of `TASKS`.
        splits_dir: benchmark-splits folder.
        sources: data source name ("ptbxl", "cpsc2018", "csn") -> record source.
        descriptions: {task: {column: text or list of texts (a prompt ensemble)}}; default the project's label
            descriptions.
        batch_size: ECGs per forward pass.
        n_resamples, seed: bootstrap settings.
        with_f1: also report test F1 at per-label thresholds chosen on the validation split.
        model_name: how the model is named in the report.
        paraphrases: {task: {column: [wordings]}} (`evaluation.robustness.load_paraphrases`): also report, per
            label, the AUROC of each wording, the worst and the spread.
        lead_sets: lead-set names (`leads_supreme.parse_lead_sets`): also report each task with its test records
            reduced to each set's leads before the feature extractor.

    Raises:
        ValueError: an invalid lead set, or a record lacking a lead of a set (naming the set and the record).
    """
    lead_sets = parse_lead_sets(list(lead_sets)) if lead_sets else []
    descriptions = descriptions if descriptions is not None else load_label_descriptions()
    results: dict[str, TaskResult] = {}
    for name in tasks:
        spec = get_task(name)
        if spec.source not in sources:
            results[name] = skipped(spec, f"no {spec.source} data given")
            continue
        if not spec.table_path(splits_dir, "test").is_file():
            results[name] = skipped(spec, f"test table {spec.table_path(splits_dir, 'test')} not found")
            continue
        logger.info("zero-shot evaluation of %s on %s", name, sources[spec.source].description)
        results[name] = evaluate_task_zero_shot(
            model,
            processor,
            spec,
            splits_dir,
            sources[spec.source],
            descriptions,
            batch_size,
            n_resamples,
            seed,
            with_f1,
            progress,
            wordings=(paraphrases or {}).get(name, (paraphrases or {}).get(spec.descriptions_key)),
            lead_sets=lead_sets,
        )
    settings = {
        "splits_dir": str(splits_dir),
        **({"lead_sets": {name: list(lead_set_leads(name)) for name in lead_sets}} if lead_sets else {}),
        "sources": {name: source.description for name, source in sources.items()},
        "bootstrap": {"n_resamples": n_resamples, "seed": seed, "alpha": 0.05},
        "label_texts": {
            name: label_texts_for(descriptions, result.spec.descriptions_key, result.label_names)
            for name, result in results.items()
            if result.evaluated
        },
    }
    return EvaluationReport("zero-shot", model_name or type(model).__name__, results, settings)


__all__ = [
    "TASKS",
    "evaluate_task_zero_shot",
    "load_model_and_processor",
    "run_zero_shot_benchmark",
    "score_split",
]
