"""Zero-shot scoring and its metrics: every label is asked for by a text description, scores are sigmoid
probabilities, the metric is the mean over labels of AUROC (x100) with a bootstrap 95 % interval.

Used by the benchmark (`eval/zero_shot.py`), by training for validation AUROC, and by the linear probe / LoRA
evaluation. The AUROC itself comes from the shipped metric module `metrics/multilabel_auroc.py` (also loadable with
`evaluate.load`), so every number of the project is computed by one implementation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoProcessor

from .benchmark import TASKS, TaskSpec
from .metrics import roc_auc_per_label

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64
LABEL_DESCRIPTIONS_FILE = "label_descriptions.json"

EcgInput = torch.Tensor | np.ndarray | Iterable[Mapping[str, Any]]


# ----------------------------------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------------------------------


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def load_model_and_processor(
    name_or_path: str | Path, device: str | torch.device | None = None, trust_remote_code: bool = False
) -> tuple[Any, Any]:
    """A SuPreME checkpoint (folder or Hub id) and its processor, in eval mode on `device` (default CPU): the one
    loader of saved models (evaluation, the demo, benchmarks, publishing)."""
    model = AutoModel.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
    processor = AutoProcessor.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
    return model.to(device or "cpu").eval(), processor


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def _as_batches(
    ecg_values: EcgInput, lead_mask: torch.Tensor | np.ndarray | None, batch_size: int
) -> tuple[Iterable[Mapping[str, Any]], int | None]:
    """-> (batches of {"ecg_values", "lead_mask"?}, number of batches when known)."""
    if isinstance(ecg_values, (torch.Tensor, np.ndarray)):
        values = torch.as_tensor(ecg_values)
        if values.dim() != 3:
            raise ValueError(f"ecg_values must have shape (N, 12, T); got {tuple(values.shape)}")
        mask = torch.as_tensor(lead_mask) if lead_mask is not None else None
        if mask is not None and mask.shape != values.shape[:2]:
            raise ValueError(f"lead_mask must have shape {tuple(values.shape[:2])}; got {tuple(mask.shape)}")
        starts = range(0, values.shape[0], batch_size)
        batches = (
            {"ecg_values": values[start : start + batch_size]}
            | ({"lead_mask": mask[start : start + batch_size]} if mask is not None else {})
            for start in starts
        )
        return batches, len(starts)
    if lead_mask is not None:
        raise ValueError("lead_mask= is for tensor inputs; batches carry their own 'lead_mask'.")
    return ecg_values, None


def score_ecgs(
    model: torch.nn.Module,
    processor: Any,
    ecg_values: EcgInput,
    label_texts: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str | None = None,
    lead_mask: torch.Tensor | np.ndarray | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Zero-shot probabilities of every ECG for every label text.

    Args:
        model: a `SupremeModel` (or a wrapper with the same forward, e.g. DDP or a peft model).
        processor: a `SupremeProcessor`; only its `tokenize_labels` is used (ECGs are already preprocessed).
        ecg_values: preprocessed ECGs (N, 12, T), or an iterable of batches (dicts with "ecg_values" (B, 12, T) and
            optionally "lead_mask" (B, 12); other keys are ignored).
        label_texts: the L texts to score, e.g. descriptions of the label columns.
        batch_size: ECGs per forward pass (tensor input only).
        device: where to run; default the model's device.
        lead_mask: (N, 12) bool for tensor input, False where a lead was missing.
        progress: show a tqdm progress bar.

    Returns:
        (N, L) float32 sigmoid probabilities, rows in input order.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    dtype = _model_dtype(model)
    tokens = processor.tokenize_labels(list(label_texts), return_tensors="pt")
    input_ids, attention_mask = tokens["input_ids"].to(device), tokens["attention_mask"].to(device)
    batches, total = _as_batches(ecg_values, lead_mask, batch_size)
    was_training = model.training
    model.eval()
    scores: list[np.ndarray] = []
    try:
        with torch.no_grad():
            for batch in tqdm(batches, total=total, desc="scoring ECGs", unit="batch", disable=not progress):
                batch_mask = batch.get("lead_mask")
                outputs = model(
                    ecg_values=torch.as_tensor(batch["ecg_values"]).to(device=device, dtype=dtype),
                    lead_mask=torch.as_tensor(batch_mask).to(device) if batch_mask is not None else None,
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                )
                scores.append(torch.sigmoid(outputs.logits.float()).cpu().numpy())
    finally:
        model.train(was_training)
    if not scores:
        return np.zeros((0, len(label_texts)), dtype=np.float32)
    return np.concatenate(scores).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------------
# Metrics (AUROC from the shipped metric module)
# ----------------------------------------------------------------------------------------------------------------------


def auroc_per_label(targets: np.ndarray, scores: np.ndarray, label_names: Sequence[str]) -> dict[str, float | None]:
    """targets (N, L) 0/1, scores (N, L) -> {label: AUROC in [0, 1]}; None for a label with a single class in
    `targets` (it has no AUROC: reported, never counted as 0 or 0.5)."""
    if len(label_names) != np.shape(scores)[1]:
        raise ValueError(f"{len(label_names)} label names for {np.shape(scores)[1]} score columns")
    values = roc_auc_per_label(targets, scores)
    return {name: (None if np.isnan(value) else float(value)) for name, value in zip(label_names, values)}


def mean_auroc(per_label: Mapping[str, float | None]) -> float:
    """Mean AUROC over the labels where it is defined, x100; NaN when no label has both classes."""
    defined = [value for value in per_label.values() if value is not None]
    return float(100 * np.mean(defined)) if defined else float("nan")


def macro_auroc(targets: np.ndarray, scores: np.ndarray) -> float:
    """Mean AUROC x100 over the labels with both classes; targets, scores (N, L). NaN when no label has both
    (e.g. model selection on a tiny validation split)."""
    values = roc_auc_per_label(targets, scores)
    return float(100 * np.nanmean(values)) if not np.isnan(values).all() else float("nan")


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
        per_label = roc_auc_per_label(targets[rows], scores[rows])
        if not np.isnan(per_label).all():
            means[resample] = np.nanmean(per_label)
    means = means[~np.isnan(means)]
    if means.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(means, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(100 * low), float(100 * high)


# ----------------------------------------------------------------------------------------------------------------------
# Label descriptions
# ----------------------------------------------------------------------------------------------------------------------


def load_label_descriptions(path: str | Path | None = None) -> dict[str, dict[str, str]]:
    """Text descriptions of the benchmark's label columns: {task: {column: description}}.

    Args:
        path: a JSON file of the same shape (e.g. from `--prompts`); default the project's file covering all
            106 label columns (`modeling_supreme/evaluation/label_descriptions.json`).

    Raises:
        ValueError: the file is not {task: {column: non-empty text}}, naming the file and the entry.
    """
    if path is None:
        text = resources.files(__package__).joinpath(LABEL_DESCRIPTIONS_FILE).read_text(encoding="utf-8")
        source = LABEL_DESCRIPTIONS_FILE
    else:
        text, source = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        descriptions = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not valid JSON ({error})") from error
    if not isinstance(descriptions, dict):
        raise ValueError(f"{source}: expected an object {{task: {{column: description}}}}")
    for task, columns in descriptions.items():
        if not isinstance(columns, dict):
            raise ValueError(f"{source}: task {task!r} must map label columns to descriptions")
        for column, description in columns.items():
            if not isinstance(description, str) or not description.strip():
                raise ValueError(f"{source}: task {task!r}, column {column!r} has no description text")
    return descriptions


def label_texts_for(descriptions: Mapping[str, Mapping[str, str]], task: str, label_names: Sequence[str]) -> list[str]:
    """The description of every label column of `task`, in `label_names` order; ValueError naming what is missing."""
    task_descriptions = descriptions.get(task)
    if task_descriptions is None:
        raise ValueError(f"The label descriptions have no entry for task {task!r}")
    missing = [name for name in label_names if name not in task_descriptions]
    if missing:
        raise ValueError(f"The label descriptions of task {task!r} lack the columns {missing}")
    return [task_descriptions[name] for name in label_names]


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "TASKS",
    "TaskSpec",
    "auroc_per_label",
    "bootstrap_ci",
    "label_texts_for",
    "load_label_descriptions",
    "load_model_and_processor",
    "macro_auroc",
    "mean_auroc",
    "score_ecgs",
]
