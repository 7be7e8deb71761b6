"""Training data: dataset splits, the label vocabulary, the collator and the validation targets.

Datasets are folders (or Hub ids) written by `datasets_scripts/build_*.py`: columns `ecg` (12, T) float32 in mV in
the order of `lead_names`, `sampling_rate`, `lead_mask`, `report`, and `entities` (list of {name, category, status})
added by `datasets_scripts/extract_entities.py`. Shapes: B = batch of ECGs, L = labels, T = samples per lead.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ..dataset_builders.labels import is_multi_label, multi_hot_matrix, multi_label_names
from ..entities import Vocabulary, build_vocabulary
from ..evaluation import label_texts_for, load_label_descriptions
from ..processing_supreme import SupremeProcessor
from .options import TrainingOptions

logger = logging.getLogger(__name__)

ECG_COLUMNS = ("ecg", "sampling_rate")
ENTITIES_COLUMN = "entities"
REPORT_COLUMN = "report"
# Columns the collator reads; the others are never decoded during training.
COLLATED_COLUMNS = ("ecg", "sampling_rate", "lead_names", "lead_mask", ENTITIES_COLUMN, REPORT_COLUMN)
# Columns returned as numpy arrays (the rest as Python objects): the signal is never turned into lists.
NUMPY_COLUMNS = ("ecg", "sampling_rate", "lead_mask")


def load_splits(dataset: str) -> Any:
    """`datasets.load_dataset(dataset)` (a folder built by `datasets_scripts/` or a Hub id) -> `DatasetDict`.

    Raises:
        ValueError: the dataset cannot be loaded, naming it and the reason.
    """
    import datasets

    try:
        return datasets.load_dataset(str(dataset))
    except Exception as error:  # datasets raises many types for a path it cannot read
        raise ValueError(f"{dataset}: cannot load the training dataset ({error})") from error


def required_columns(objective: str) -> tuple[str, ...]:
    """Columns a split needs for an objective: ECGs always, entities for supreme/both, reports for clip/both."""
    columns = list(ECG_COLUMNS)
    if objective in ("supreme", "both"):
        columns.append(ENTITIES_COLUMN)
    if objective in ("clip", "both"):
        columns.append(REPORT_COLUMN)
    return tuple(columns)


def check_columns(split: Any, columns: Sequence[str], where: str) -> None:
    """ValueError naming the split and what is missing (with the command that adds `entities`)."""
    missing = [column for column in columns if column not in split.column_names]
    if not missing:
        return
    hint = (
        " (add it with `python datasets_scripts/extract_entities.py --dataset DIR --extractor lexicon --out DIR2`)"
        if ENTITIES_COLUMN in missing else ""
    )
    raise ValueError(f"{where} lacks the columns {missing}{hint}; it has {split.column_names}")


def formatted_for_collation(split: Any) -> Any:
    """The split reduced to the columns the collator reads, signals as numpy arrays (rows via `__getitems__`)."""
    columns = [column for column in COLLATED_COLUMNS if column in split.column_names]
    numpy_columns = [column for column in NUMPY_COLUMNS if column in columns]
    return split.select_columns(columns).with_format("numpy", columns=numpy_columns, output_all_columns=True)


def resolve_vocabulary(options: TrainingOptions, train_split: Any) -> Optional[Vocabulary]:
    """The label vocabulary of the run: `--vocabulary` if given, else built from the train split's entities.

    Returns None only for `objective="clip"` on data without entities (the model then has no label vocabulary of
    its own and the pipeline needs `candidate_labels`).

    Raises:
        ValueError: an unreadable vocabulary file, or no label reaching `--min-label-count`.
    """
    if options.vocabulary:
        vocabulary = Vocabulary.load(options.vocabulary)
        source = options.vocabulary
    elif ENTITIES_COLUMN in train_split.column_names:
        vocabulary = build_vocabulary(train_split[ENTITIES_COLUMN], min_count=options.min_label_count)
        source = f"the entities of split {options.train_split!r} (min count {options.min_label_count})"
    elif options.objective == "clip":
        logger.warning("No `entities` column and no --vocabulary: the model is saved without a label vocabulary")
        return None
    else:
        raise ValueError(f"split {options.train_split!r} has no {ENTITIES_COLUMN!r} column and no --vocabulary was given")
    if not vocabulary.labels:
        raise ValueError(f"the vocabulary from {source} is empty: lower --min-label-count or extract entities first")
    logger.info("Vocabulary of %d labels from %s", len(vocabulary), source)
    return vocabulary


@dataclasses.dataclass
class SupremeCollator:
    """Turns a list of dataset rows into model inputs, with one call of the processor per batch.

    Args:
        processor: gives `ecg_values` (B, 12, T) and `lead_mask` (B, 12) from the rows' signals, and report tokens.
        vocabulary: when given, `labels` (B, L) multi-hot targets from each row's `entities`.
        uncertain_value: target of an entity stated as uncertain.
        with_reports: add `report_input_ids` / `report_attention_mask` (B, S_r) for the contrastive objective.
    """

    processor: SupremeProcessor
    vocabulary: Optional[Vocabulary] = None
    uncertain_value: float = 1.0
    with_reports: bool = False

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """rows: dicts with `ecg` (12, T), `sampling_rate`, optional `lead_names`, `lead_mask` (12,), `entities`,
        `report` -> {"ecg_values", "lead_mask"[, "labels"][, "report_input_ids", "report_attention_mask"]}."""
        lead_names = [list(row["lead_names"]) for row in rows] if "lead_names" in rows[0] else None
        reports = [str(row.get(REPORT_COLUMN) or "") for row in rows] if self.with_reports else None
        inputs = self.processor(
            ecg=[row["ecg"] for row in rows],
            sampling_rate=[float(row["sampling_rate"]) for row in rows],
            lead_names=lead_names,
            reports=reports,
            return_tensors="pt",
        )
        batch = {key: inputs[key] for key in inputs}
        if "lead_mask" in rows[0]:
            # Leads the source lacked were stored as zeros; the dataset's mask keeps them masked for the encoder.
            stored_mask = torch.as_tensor(np.stack([np.asarray(row["lead_mask"], dtype=bool) for row in rows]))
            batch["lead_mask"] = batch["lead_mask"] & stored_mask
        if self.vocabulary is not None:
            targets = [self.vocabulary.multi_hot(row.get(ENTITIES_COLUMN) or [], self.uncertain_value) for row in rows]
            batch["labels"] = torch.from_numpy(np.stack(targets))
        return batch


def ecg_batches(
    split: Any, collator: SupremeCollator, indices: Sequence[int], batch_size: int
) -> Iterator[dict[str, torch.Tensor]]:
    """Model inputs of the rows `indices` of a split formatted by `formatted_for_collation`, `batch_size` at a time."""
    for start in range(0, len(indices), batch_size):
        yield collator(split.__getitems__([int(index) for index in indices[start : start + batch_size]]))


# ----------------------------------------------------------------------------------------------------------------------
# Validation targets
# ----------------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ValidationSet:
    """What zero-shot validation scores: the split's ECGs against the descriptions of its label columns.

    Attributes:
        split: the validation split, formatted for the collator.
        label_names: the L label names.
        label_texts: the L descriptions encoded as queries.
        targets: (N, L) 0/1 targets.
    """

    split: Any
    label_names: list[str]
    label_texts: list[str]
    targets: np.ndarray


def dataset_card_label_names(dataset: str, column: str) -> list[str]:
    """Names of the entries of a legacy multi-hot float list column, from the dataset card's `label_names:` block
    (what the builders wrote before multi-label columns became `Sequence(ClassLabel)`), for a folder or Hub id."""
    from huggingface_hub import DatasetCard

    folder = Path(dataset)
    try:
        card = DatasetCard.load(folder / "README.md" if folder.is_dir() else dataset, repo_type="dataset")
    except Exception as error:  # missing file, offline Hub, unparsable YAML
        raise ValueError(f"{dataset}: cannot read the dataset card for the names of column {column!r} ({error})") from error
    names = (card.data.to_dict().get("label_names") or {}).get(column)
    if not names:
        raise ValueError(
            f"{dataset}: column {column!r} is not a Sequence(ClassLabel) column and the dataset card has no "
            f"`label_names: {column}:` list naming its entries"
        )
    return [str(name) for name in names]


def _targets_and_names(split: Any, dataset: str, columns: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """(N, L) targets and L names: one multi-label column (names from `ds.features`; a legacy multi-hot list column
    named by the card), or several scalar 0/1 columns."""
    if len(columns) == 1 and is_multi_label(split.features.get(columns[0])):
        return multi_hot_matrix(split, columns[0]), multi_label_names(split.features, columns[0])
    values = split.select_columns(list(columns)).with_format("numpy")[:]
    if len(columns) == 1 and np.ndim(values[columns[0]]) == 2:
        targets = np.asarray(values[columns[0]], dtype=np.float32)
        names = dataset_card_label_names(dataset, columns[0])
        if len(names) != targets.shape[1]:
            raise ValueError(f"{dataset}: column {columns[0]!r} has {targets.shape[1]} entries but the card names {len(names)}")
        return targets, names
    scalar = [column for column in columns if np.ndim(values[column]) != 1]
    if scalar:
        raise ValueError(f"{dataset}: validation columns {scalar} are not 0/1 columns (give one list column or scalar ones)")
    return np.stack([np.asarray(values[column], dtype=np.float32) for column in columns], axis=1), list(columns)


def labelled_split(
    split: Any, dataset: str, label_columns: Sequence[str], task: str, descriptions: Optional[str] = None, where: str = ""
) -> ValidationSet:
    """A split with its label columns as targets and the descriptions of `task` as zero-shot queries.

    Args:
        split: a split of `dataset` (or several concatenated).
        dataset: the dataset folder or Hub id (its card names the entries of list columns).
        label_columns: one multi-hot list column or several 0/1 columns.
        task: task of the label-description file (e.g. "ptbxl_super").
        descriptions: a JSON file replacing the package's label descriptions.
        where: how error messages name the split.

    Raises:
        ValueError: missing columns, or a label without a description in `task`.
    """
    check_columns(split, [*ECG_COLUMNS, *label_columns], where or f"{dataset}")
    targets, names = _targets_and_names(split, dataset, label_columns)
    texts = label_texts_for(load_label_descriptions(descriptions), task, names)
    return ValidationSet(formatted_for_collation(split), names, texts, targets)


def build_validation_set(options: TrainingOptions, splits: Mapping[str, Any]) -> Optional[ValidationSet]:
    """The validation targets and queries of the run, or None when there is no validation split.

    Raises:
        ValueError: the split or its label columns are missing, or a label has no description in `--val-task`.
    """
    if options.validation_split is None:
        return None
    if options.validation_split not in splits:
        raise ValueError(
            f"{options.dataset} has no split {options.validation_split!r} (splits: {sorted(splits)}); "
            "pass --validation-split none to train without validation"
        )
    return labelled_split(
        splits[options.validation_split], options.dataset, options.val_label_columns, options.val_task,
        options.val_descriptions, where=f"{options.dataset} split {options.validation_split!r}",
    )


__all__ = [
    "SupremeCollator",
    "ValidationSet",
    "build_validation_set",
    "check_columns",
    "ecg_batches",
    "dataset_card_label_names",
    "formatted_for_collation",
    "labelled_split",
    "load_splits",
    "required_columns",
    "resolve_vocabulary",
]
