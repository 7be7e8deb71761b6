"""Multi-label columns in the Hub's convention: `List(ClassLabel(names=...))` (datasets' `Sequence(ClassLabel)`),
each row holding the indices of its present labels, so that the label names live in `ds.features`.

Builders write with `multi_label_feature` + `label_indices`; readers get names with `multi_label_names` and the
(N, L) target matrix with `multi_hot_matrix`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from datasets import ClassLabel, List


def multi_label_feature(names: Sequence[str]) -> List:
    """The feature of a multi-label column over `names` (in this order)."""
    if not names:
        raise ValueError("A multi-label column needs at least one label name.")
    return List(ClassLabel(names=list(names)))


def label_indices(multi_hot: np.ndarray) -> list[int]:
    """(L,) 0/1 vector -> sorted indices of the present labels (what a `List(ClassLabel)` row stores)."""
    vector = np.asarray(multi_hot)
    if vector.ndim != 1:
        raise ValueError(f"label_indices expects one (L,) multi-hot vector; got shape {vector.shape}.")
    return np.flatnonzero(vector).astype(int).tolist()


def is_multi_label(feature: Any) -> bool:
    """Whether a column's feature is `List(ClassLabel)` / `Sequence(ClassLabel)`."""
    return isinstance(getattr(feature, "feature", None), ClassLabel)


def multi_label_names(features: Any, column: str) -> list[str]:
    """Label names of a multi-label column, from `ds.features`.

    Raises:
        ValueError: the column is missing or is not a `List(ClassLabel)` column (names the column and its feature).
    """
    if column not in features:
        raise ValueError(f"No column {column!r} (columns: {sorted(features)}).")
    feature = features[column]
    if not is_multi_label(feature):
        raise ValueError(f"Column {column!r} is {feature!r}, not a multi-label List(ClassLabel(names=...)) column.")
    return list(feature.feature.names)


def multi_hot_matrix(dataset: Any, column: str) -> np.ndarray:
    """(N, L) float32 0/1 targets of a multi-label column of a `datasets.Dataset`, rows in dataset order
    (selections and shuffles honoured), read from Arrow without per-row Python work."""
    names = multi_label_names(dataset.features, column)
    lists = dataset.select_columns([column]).with_format("arrow")[:][column].combine_chunks()
    offsets = np.asarray(lists.offsets)
    values = np.asarray(lists.values, dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() >= len(names)):
        raise ValueError(f"Column {column!r} holds label indices outside 0..{len(names) - 1}.")
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    matrix = np.zeros((len(offsets) - 1, len(names)), dtype=np.float32)
    matrix[rows, values[offsets[0] : offsets[-1]]] = 1.0
    return matrix


__all__ = ["is_multi_label", "label_indices", "multi_hot_matrix", "multi_label_feature", "multi_label_names"]
