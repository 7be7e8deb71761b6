"""Zero-shot validation targets: a labelled split's (N, L) targets with the descriptions of its labels as queries,
for validation during training (`build_validation_set`) and held-out evaluation (`labelled_split`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..dataset_builders.labels import is_multi_label, multi_hot_matrix, multi_label_names
from ..evaluation import label_texts_for, load_label_descriptions
from ..evaluation.scoring import LabelQuery
from .data import ECG_COLUMNS, check_columns, formatted_for_collation
from .options import TrainingOptions


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
    label_texts: list[LabelQuery]
    targets: np.ndarray


def dataset_card_label_names(dataset: str, column: str) -> list[str]:
    """Names of the entries of a legacy multi-hot float list column, from the dataset card's `label_names:` block
    (what the builders wrote before multi-label columns became `Sequence(ClassLabel)`), for a folder or Hub id."""
    from huggingface_hub import DatasetCard

    folder = Path(dataset)
    try:
        card = DatasetCard.load(folder / "README.md" if folder.is_dir() else dataset, repo_type="dataset")
    except Exception as error:  # missing file, offline Hub, unparsable YAML
        raise ValueError(
            f"{dataset}: cannot read the dataset card for the names of column {column!r} ({error})"
        ) from error
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
            raise ValueError(
                f"{dataset}: column {columns[0]!r} has {targets.shape[1]} entries but the card names {len(names)}"
            )
        return targets, names
    scalar = [column for column in columns if np.ndim(values[column]) != 1]
    if scalar:
        raise ValueError(
            f"{dataset}: validation columns {scalar} are not 0/1 columns (give one list column or scalar ones)"
        )
    return np.stack([np.asarray(values[column], dtype=np.float32) for column in columns], axis=1), list(columns)


def labelled_split(
    split: Any,
    dataset: str,
    label_columns: Sequence[str],
    task: str,
    descriptions: Optional[str] = None,
    where: str = "",
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


__all__ = ["ValidationSet", "build_validation_set", "dataset_card_label_names", "labelled_split"]
