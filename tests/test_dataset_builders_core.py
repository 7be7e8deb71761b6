"""The shared machinery: signal windows, parallel reading in order, shard writing."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from modeling_supreme.dataset_builders import (
    RecordTask,
    Rejection,
    ShardWriter,
    SignalReader,
    SignalWindow,
    read_records,
    signal_features,
)
from tests.dataset_builders_helpers import ptbxl_signal
from tests.sample_data import ptbxl_record


def test_signal_window_in_samples_and_invalid_windows():
    assert SignalWindow(10.0).samples(500) == (5000, 5000, 5000)
    assert SignalWindow(5.0, crop_seconds=2.5).samples(500) == (2500, 1250, 1250)
    assert SignalWindow(10.0, min_seconds=6.0).samples(100) == (1000, 1000, 600)
    with pytest.raises(ValueError, match="invalid signal window"):
        SignalReader(500, SignalWindow(5.0, crop_seconds=10.0))
    with pytest.raises(ValueError, match="invalid signal window"):
        SignalReader(500, SignalWindow(5.0, min_seconds=7.0))


def _items() -> list:
    items: list = [RecordTask(str(i), str(ptbxl_record(i, 100)), {}) for i in range(1, 15)]
    items.insert(3, RecordTask("missing", "/nonexistent/00001_lr", {}))
    items.insert(7, Rejection("known", "", "rejected by the source", "source rule"))
    return items


def test_parallel_reading_keeps_the_order_and_the_results_of_serial_reading():
    reader = SignalReader(100, SignalWindow(10.0))
    serial = list(read_records(_items(), reader, num_proc=1))
    parallel = list(read_records(iter(_items()), reader, num_proc=2, chunk_size=3))
    assert [item for item, _ in parallel] == [item for item, _ in serial] == _items()
    for (_, one), (_, two) in zip(serial, parallel, strict=True):
        if isinstance(one, Rejection):
            assert one == two
        else:
            np.testing.assert_array_equal(one.ecg, two.ecg)
    outcomes = dict((item.record_id, outcome) for item, outcome in serial)
    assert outcomes["missing"].category == "missing file" and "/nonexistent/00001_lr" in outcomes["missing"].reason
    assert outcomes["known"].category == "source rule"
    np.testing.assert_allclose(outcomes["2"].millivolts(), ptbxl_signal(2, 100), atol=1e-6)


def test_shard_writer_shows_only_complete_shards(tmp_path):
    features = signal_features(4, "float32")
    writer = ShardWriter(tmp_path, "train", features, shard_size=3, row_group_size=2)

    def row(index: int) -> dict:
        return {
            "id": str(index),
            "report": f"report {index}",
            "ecg": np.full((12, 4), index, np.float32),
            "sampling_rate": 1,
            "lead_names": ["x"] * 12,
            "lead_mask": [True] * 12,
            "num_samples": 4,
        }

    finished = [writer.add(row(i)) for i in range(7)]
    assert [info.file if info else None for info in finished] == [
        None,
        None,
        "data/train-00000.parquet",
        None,
        None,
        "data/train-00001.parquet",
        None,
    ]
    assert sorted(p.name for p in (tmp_path / "data").glob("*.parquet")) == [
        "train-00000.parquet",
        "train-00001.parquet",
    ]
    last = writer.finish()
    assert last.file == "data/train-00002.parquet" and last.rows == 1
    table = datasets.load_dataset("parquet", data_files=str(tmp_path / "data" / "*.parquet"), split="train")
    assert table["id"] == [str(i) for i in range(7)] and table.features == features

    writer = ShardWriter(tmp_path, "test", features, shard_size=5, row_group_size=1)
    writer.add(row(0))
    writer.add(row(1))
    assert [p.name for p in (tmp_path / "data").glob(".*")] == [".test-00000.parquet.partial"]
    writer.abort()
    assert not list((tmp_path / "data").glob("*test*")) and not list((tmp_path / "data").glob(".*"))
