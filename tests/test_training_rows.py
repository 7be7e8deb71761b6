"""Batched reading of dataset rows (`ArrowRows`): the same values as datasets' own reading, any indices mapping,
several Arrow chunks, and a DataLoader whose workers read whole batches."""

from __future__ import annotations

import os

import datasets
import numpy as np
import pytest
import torch

from modeling_supreme.training.data import NUMPY_COLUMNS, ArrowRows, RowBatch


@pytest.fixture(scope="module")
def train_split(training_dataset):
    return datasets.load_dataset(str(training_dataset), split="train")


def _expected(split, indices):
    """datasets' own rows: numpy-formatted for the numpy columns, plain Python for the rest."""
    return [(split.with_format("numpy")[int(index)], split[int(index)]) for index in indices]


@pytest.mark.parametrize("mapping", ["none", "shuffled", "selected"])
def test_batches_hold_what_datasets_reads_row_by_row(train_split, mapping):
    split = {"none": train_split, "shuffled": train_split.shuffle(seed=3),
             "selected": train_split.select([5, 1, 40, 2, 33])}[mapping]
    rows = ArrowRows(split)
    indices = [4, 0, 2, 4] if mapping == "selected" else [17, 3, 60, 0, -1]
    batch = rows.__getitems__(indices)
    assert isinstance(batch, RowBatch) and len(batch) == len(indices)
    for got, (want_numpy, want_python) in zip(batch, _expected(split, indices), strict=True):
        for name in rows.column_names:
            if name in NUMPY_COLUMNS:
                want = np.asarray(want_numpy[name]).astype(got[name].dtype)
                np.testing.assert_array_equal(np.asarray(got[name]), want)
            else:
                assert got[name] == want_python[name], name
    assert batch.columns["ecg"].dtype == np.int16 and batch.columns["ecg"].shape == (len(indices), 12, 1000)


def test_rows_spread_over_several_arrow_chunks_are_gathered(train_split):
    chunked = datasets.concatenate_datasets([train_split.select(range(30)), train_split.select(range(30, 61))])
    assert chunked._data.column("ecg").num_chunks >= 2
    batch = ArrowRows(chunked).__getitems__([59, 1, 31, 29, 30])
    for got, index in zip(batch.columns["ecg"], [59, 1, 31, 29, 30]):
        np.testing.assert_array_equal(got, np.asarray(train_split.with_format("numpy")[index]["ecg"]))


def test_out_of_range_indices_are_refused(train_split):
    with pytest.raises(IndexError, match="out of range"):
        ArrowRows(train_split).__getitems__([0, len(train_split)])
    with pytest.raises(IndexError):
        RowBatch({"ecg": np.zeros((2, 1))})[2]


def test_workers_receive_whole_batches_and_none_outlives_the_loader(train_split):
    import multiprocessing

    loader = torch.utils.data.DataLoader(
        ArrowRows(train_split), batch_size=8, num_workers=2, persistent_workers=True, collate_fn=lambda rows: rows,
    )
    batches = [batch for _ in range(2) for batch in loader]  # two epochs on the same persistent workers
    assert all(isinstance(batch, RowBatch) for batch in batches) and sum(map(len, batches)) == 2 * len(train_split)
    children = multiprocessing.active_children()
    assert children  # the persistent workers
    del loader, batches
    import gc

    gc.collect()
    for child in children:
        child.join(timeout=10)
    assert not [child for child in children if child.is_alive()]


@pytest.mark.parametrize("mapping", ["none", "shuffled", "selected"])
def test_precomputed_targets_equal_the_targets_of_each_batch(train_split, mapping):
    """The training loader's `TargetTable` gives what the collator computed from each batch's entities, bit for bit,
    and the rows it reads then hold neither the entities nor (without the contrastive objective) the reports."""
    from modeling_supreme.entities import build_vocabulary
    from modeling_supreme.training.data import TARGETS_COLUMN, SupremeCollator, formatted_for_collation

    split = {"none": train_split, "shuffled": train_split.shuffle(seed=3),
             "selected": train_split.select([5, 1, 40, 2, 33])}[mapping]
    vocabulary = build_vocabulary(train_split["entities"], min_count=2)
    collator = SupremeCollator(processor=None, vocabulary=vocabulary, uncertain_value=0.5)
    rows = formatted_for_collation(split, collator)
    assert "entities" not in rows.column_names and "report" not in rows.column_names
    indices = [4, 0, 2, -1] if mapping == "selected" else [17, 3, 60, 0, -1]
    batch = rows.__getitems__(indices)
    expected = vocabulary.multi_hot_batch([split[index]["entities"] for index in indices], 0.5)
    assert batch.columns[TARGETS_COLUMN].dtype == np.float32
    np.testing.assert_array_equal(collator._targets(batch), expected)
    assert {0.0, 0.5, 1.0} <= set(np.unique(rows.targets.take(np.arange(len(split))))) or mapping == "selected"
    with_reports = formatted_for_collation(split, SupremeCollator(processor=None, vocabulary=None, with_reports=True))
    assert "report" in with_reports.column_names and with_reports.targets is None


def test_the_training_loader_reads_its_targets_once_and_its_workers_send_by_file_name(train_split):
    from modeling_supreme.entities import build_vocabulary
    from modeling_supreme.training import TrainingOptions
    from modeling_supreme.training.data import LoaderWorkerInit, SupremeCollator, training_loader

    collator = SupremeCollator(processor=None, vocabulary=build_vocabulary(train_split["entities"], min_count=2))
    with_workers = training_loader(train_split, collator, TrainingOptions(dataset="d", output_dir="o", num_workers=1))
    assert with_workers.worker_init_fn == LoaderWorkerInit(os.getpid())
    assert with_workers.dataset.targets is not None and len(with_workers.dataset.targets) == len(train_split)
    alone = training_loader(train_split, collator, TrainingOptions(dataset="d", output_dir="o", num_workers=0))
    assert alone.worker_init_fn is None
