"""Zero-shot scoring: every label is asked for by a text description (or several: a prompt ensemble), scores are
sigmoid probabilities (cosine similarities for objective="clip"); the metric (the mean over labels of AUROC, x100,
with a bootstrap 95 % interval) is computed by `auroc.py`.

Used by the benchmark (`eval/zero_shot.py`), by training for validation AUROC, and by the linear probe / LoRA
evaluation.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoProcessor

from ..batching_supreme import batched
from ..data_sources import ckepe_prompts_file
from ..label_scoring_supreme import (
    LabelEmbeddingCache,
    LabelPrompts,
    expand_label_prompts,
    unwrap_supreme_model,
    zero_shot_logits,
)
from .benchmark_tasks import TASKS, TaskSpec

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64
LABEL_DESCRIPTIONS_FILE = "label_descriptions.json"
# Prompt files known by name (`--prompts ckepe`): MERL's zero-shot prompts (CKEPE, MIT), found by the data resolver
# (SUPREME_DATA_DIR, the cache, or a download from MERL's repository).
NAMED_PROMPTS = {"ckepe": ckepe_prompts_file}

EcgInput = torch.Tensor | np.ndarray | Iterable[Mapping[str, Any]]
# A label's query: one text, or several whose logits are averaged (a prompt ensemble).
LabelQuery = str | Sequence[str]


# ----------------------------------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------------------------------


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def load_model_and_processor(
    name_or_path: str | Path, device: str | torch.device | None = None, trust_remote_code: bool = False
) -> tuple[Any, Any]:
    """A SuPreME checkpoint (folder or Hub id) and its processor, in eval mode on `device` (default CPU): the one
    loader of saved models (evaluation, the demo, benchmarks, publishing). A folder whose config and feature
    extractor disagree on the input format is refused (`SupremeFeatureExtractor.check_model_config`)."""
    model = AutoModel.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
    processor = AutoProcessor.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
    processor.feature_extractor.check_model_config(model.config, str(name_or_path))
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
        batches = (
            {"ecg_values": chunk} | ({"lead_mask": mask_chunk} if mask is not None else {})
            for chunk, mask_chunk in zip(batched(values, batch_size), batched(mask, batch_size) if mask is not None
                                         else itertools.repeat(None))
        )
        return batches, math.ceil(values.shape[0] / batch_size)
    if lead_mask is not None:
        raise ValueError("lead_mask= is for tensor inputs; batches carry their own 'lead_mask'.")
    return ecg_values, None


def _as_prompts(label_texts: LabelPrompts | Sequence[LabelQuery]) -> LabelPrompts:
    """A list of queries (some of them lists of texts) as the dict `expand_label_prompts` takes, one key per
    position, so that repeated texts keep their own columns."""
    if isinstance(label_texts, (str, Mapping)) or all(isinstance(query, str) for query in label_texts):
        return label_texts
    return {f"label {index}": query for index, query in enumerate(label_texts)}


def score_ecgs(
    model: torch.nn.Module,
    processor: Any,
    ecg_values: EcgInput,
    label_texts: LabelPrompts | Sequence[LabelQuery],
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str | None = None,
    lead_mask: torch.Tensor | np.ndarray | None = None,
    progress: bool = True,
    cache: LabelEmbeddingCache | None = None,
) -> np.ndarray:
    """Zero-shot scores of every ECG for every label, each label asked by one text or several (a prompt ensemble).

    Args:
        model: a `SupremeModel` (or a wrapper with the same forward, e.g. DDP or a peft model).
        processor: a `SupremeProcessor`; only its `tokenize_labels` is used (ECGs are already preprocessed).
        ecg_values: preprocessed ECGs (N, 12, T), or an iterable of batches (dicts with "ecg_values" (B, 12, T) and
            optionally "lead_mask" (B, 12); other keys are ignored).
        label_texts: the L label queries, as a list (an entry that is a list of texts is a prompt ensemble) or a
            dict label -> text or list of texts; a label's score is that of the mean of its texts' logits
            (`modeling_supreme.zero_shot_logits`). Columns follow the list's or the dict's order.
        batch_size: ECGs per forward pass (tensor input only).
        device: where to run; default the model's device.
        lead_mask: (N, 12) bool for tensor input, False where a lead was missing.
        progress: show a tqdm progress bar.
        cache: a `LabelEmbeddingCache` to reuse label embeddings across calls (a fresh one per call otherwise).

    Returns:
        (N, L) float32 scores, rows in input order: sigmoid probabilities, or cosine similarities for a model trained
        with objective="clip" (`SupremeModel.scores_from_logits`).
    """
    device = torch.device(device) if device is not None else _model_device(model)
    dtype = _model_dtype(model)
    names, texts, owners = expand_label_prompts(_as_prompts(label_texts))
    tokens = processor.tokenize_labels(list(texts), return_tensors="pt")
    input_ids, attention_mask = tokens["input_ids"].to(device), tokens["attention_mask"].to(device)
    cache = cache if cache is not None else LabelEmbeddingCache(progress=progress)
    supreme = unwrap_supreme_model(model)
    batches, total = _as_batches(ecg_values, lead_mask, batch_size)
    was_training = model.training
    model.eval()
    scores: list[np.ndarray] = []
    try:
        with torch.no_grad():
            for batch in tqdm(batches, total=total, desc="scoring ECGs", unit="batch", disable=not progress):
                batch_mask = batch.get("lead_mask")
                logits, _ = zero_shot_logits(
                    model,
                    torch.as_tensor(batch["ecg_values"]).to(device=device, dtype=dtype),
                    input_ids,
                    attention_mask,
                    owners=owners,
                    lead_mask=torch.as_tensor(batch_mask).to(device) if batch_mask is not None else None,
                    cache=cache,
                )
                scores.append(supreme.scores_from_logits(logits).cpu().numpy())
    finally:
        model.train(was_training)
    if not scores:
        return np.zeros((0, len(names)), dtype=np.float32)
    return np.concatenate(scores).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------------
# Label descriptions
# ----------------------------------------------------------------------------------------------------------------------


def read_json_file(path: str | Path | None, packaged: str | None, what: str) -> tuple[Any, str]:
    """(parsed JSON, how to name it): the package's own file `packaged` (a path relative to this folder, parts
    separated by "/") when given, else `path`.

    Raises:
        ValueError: the file cannot be read or is not JSON, naming it and calling it `what`.
    """
    if packaged is not None:
        resource = resources.files(__package__)
        for part in packaged.split("/"):
            resource = resource.joinpath(part)
        text, source = resource.read_text(encoding="utf-8"), packaged
    else:
        try:
            text, source = Path(path).read_text(encoding="utf-8"), str(path)
        except OSError as error:
            raise ValueError(f"{path}: cannot read the {what} ({error})") from error
    try:
        return json.loads(text), source
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not valid JSON ({error})") from error


def load_label_descriptions(path: str | Path | None = None) -> dict[str, dict[str, LabelQuery]]:
    """Text queries of the benchmark's label columns: {task: {column: text or list of texts}}.

    Args:
        path: None for the project's file covering all 106 label columns (`label_descriptions.json`); "ckepe" for
            MERL's CKEPE prompts (lower-cased, as MERL asks them; found by `data_sources.ckepe_prompts_file`); or a
            JSON file, either {task: {column: query}} or {column: query} for every task. A query is a text or a
            non-empty list of texts (a prompt ensemble).

    Raises:
        ValueError: the file is not one of those shapes, or a query is empty or not text, naming the file and
            the label.
    """
    named = NAMED_PROMPTS.get(str(path)) if path is not None else None
    packaged = LABEL_DESCRIPTIONS_FILE if path is None else None
    descriptions, source = read_json_file(named() if named else path, packaged, "prompt file")
    if not isinstance(descriptions, dict) or not descriptions:
        raise ValueError(f"{source}: expected an object {{task: {{column: query}}}} or {{column: query}}")
    per_task = [isinstance(value, dict) for value in descriptions.values()]
    if any(per_task) and not all(per_task):
        raise ValueError(f"{source}: mixes tasks ({{task: {{column: query}}}}) and labels ({{column: query}})")
    if not any(per_task):
        descriptions = {spec.descriptions_key: descriptions for spec in TASKS.values()}
    checked = {
        task: {column: _checked_query(query, source, task, column) for column, query in columns.items()}
        for task, columns in descriptions.items()
    }
    if str(path) == "ckepe":
        checked = {
            task: {column: query.lower() for column, query in columns.items()} for task, columns in checked.items()
        }
    return checked


def _checked_query(query: Any, source: str, task: str, column: str) -> LabelQuery:
    if isinstance(query, str) and query.strip():
        return query
    if isinstance(query, list) and query and all(isinstance(text, str) and text.strip() for text in query):
        return list(query)
    raise ValueError(
        f"{source}: task {task!r}, label {column!r}: a query must be a non-empty text or a non-empty list of non-empty "
        f"texts; got {query!r}"
    )


def label_texts_for(
    descriptions: Mapping[str, Mapping[str, LabelQuery]], task: str, label_names: Sequence[str]
) -> list[LabelQuery]:
    """The query of every label column of `task`, in `label_names` order; ValueError naming what is missing (a
    prompt file that misses labels stops the run: there is no silent fallback to another text)."""
    task_descriptions = descriptions.get(task)
    if task_descriptions is None:
        raise ValueError(f"The label descriptions have no entry for task {task!r}")
    missing = [name for name in label_names if name not in task_descriptions]
    if missing:
        raise ValueError(f"The label descriptions of task {task!r} lack the columns {missing}")
    return [task_descriptions[name] for name in label_names]


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "NAMED_PROMPTS",
    "TASKS",
    "LabelQuery",
    "TaskSpec",
    "label_texts_for",
    "load_label_descriptions",
    "load_model_and_processor",
    "read_json_file",
    "score_ecgs",
]
