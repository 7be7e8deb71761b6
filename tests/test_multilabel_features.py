"""Multi-label columns as `Sequence(ClassLabel)`: names in `ds.features`, the multi-hot matrix from Arrow."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from modeling_supreme.dataset_builders.labels import (
    label_indices,
    multi_hot_matrix,
    multi_label_feature,
    multi_label_names,
)

NAMES = ["NORM", "MI", "CD"]


def _dataset() -> datasets.Dataset:
    vectors = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 1]], dtype=np.float32)
    features = datasets.Features({"id": datasets.Value("int32"), "super_class": multi_label_feature(NAMES)})
    return datasets.Dataset.from_dict(
        {"id": list(range(4)), "super_class": [label_indices(vector) for vector in vectors]}, features=features
    )


def test_names_live_in_the_features_and_the_matrix_round_trips(tmp_path):
    dataset = _dataset()
    assert multi_label_names(dataset.features, "super_class") == NAMES
    assert dataset[1]["super_class"] == [1, 2]
    expected = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 1]], dtype=np.float32)
    np.testing.assert_array_equal(multi_hot_matrix(dataset, "super_class"), expected)
    dataset.to_parquet(str(tmp_path / "part.parquet"))
    reloaded = datasets.load_dataset("parquet", data_files=str(tmp_path / "part.parquet"), split="train")
    np.testing.assert_array_equal(multi_hot_matrix(reloaded, "super_class"), expected)


def test_matrix_follows_selections_and_shuffles():
    dataset = _dataset()
    shuffled = dataset.shuffle(seed=3)
    full = multi_hot_matrix(dataset, "super_class")
    np.testing.assert_array_equal(multi_hot_matrix(shuffled, "super_class"), full[shuffled["id"]])
    np.testing.assert_array_equal(multi_hot_matrix(dataset.select([3, 1]), "super_class"), full[[3, 1]])


def test_bad_columns_raise_errors_naming_them():
    dataset = _dataset()
    with pytest.raises(ValueError, match="'id'.*not a multi-label"):
        multi_hot_matrix(dataset, "id")
    with pytest.raises(ValueError, match="'nope'"):
        multi_label_names(dataset.features, "nope")
    with pytest.raises(ValueError, match="at least one"):
        multi_label_feature([])
    with pytest.raises(ValueError, match="shape"):
        label_indices(np.zeros((2, 3)))
