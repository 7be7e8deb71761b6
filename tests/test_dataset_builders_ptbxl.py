"""PTB-XL builder on the bundled real records: splits, shapes, labels, rejects, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

from modeling_supreme.configuration_supreme import STANDARD_LEADS
from modeling_supreme.dataset_builders import BuildSettings, SignalReader
from modeling_supreme.dataset_builders.labels import is_multi_label, multi_hot_matrix, multi_label_names
from modeling_supreme.dataset_builders.ptbxl import PTBXL_TASKS, build_ptbxl
from tests.dataset_builders_helpers import copy_ptbxl_subset, ptbxl_signal, stored_mv
from tests.process_helpers import descendants, survivors
from tests.sample_data import PTBXL_DIR, REPO_ROOT, SPLITS_DIR, ptbxl_record, script_command

BENCHMARK_TABLE_SPLITS = {"train": "train", "validation": "val", "test": "test"}


@pytest.fixture(scope="module")
def ptbxl_100(tmp_path_factory):
    """All 400 bundled records at 100 Hz, built once for the module."""
    out = tmp_path_factory.mktemp("ptbxl-100")
    summary = build_ptbxl(PTBXL_DIR, out, 100, BuildSettings(shard_size=64, num_proc=2))
    return out, summary


def test_splits_follow_strat_fold_and_shapes_are_12_by_T(ptbxl_100):
    out, summary = ptbxl_100
    loaded = datasets.load_dataset(str(out))
    database = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv")
    expected_folds = {"train": set(range(1, 9)), "validation": {9}, "test": {10}}
    assert set(loaded) == set(expected_folds)
    for split, folds in expected_folds.items():
        assert set(loaded[split]["strat_fold"]) == folds
        assert sorted(loaded[split]["ecg_id"]) == sorted(database.ecg_id[database.strat_fold.isin(folds)])
    assert summary.rejected == 0 and summary.built == len(database)
    assert len(list((out / "data").glob("train-*.parquet"))) == -(-summary.rows["train"] // 64)

    batch = loaded["validation"].with_format("torch")[:4]
    # The default storage is int16 (datasets' torch formatting widens it to int64) with a gain per lead.
    assert not batch["ecg"].is_floating_point() and batch["ecg"].shape == (4, 12, 1000)
    assert batch["ecg_gain"].shape == (4, 12) and (batch["ecg_gain"] == 1000).all()  # PTB-XL: whole µV
    assert multi_hot_matrix(loaded["validation"].select(range(4)), "super_class").shape == (4, 5)
    assert loaded["test"][0]["lead_names"] == list(STANDARD_LEADS)


def test_signals_are_the_records_in_mv_and_reports_match_the_database(ptbxl_100):
    out, _ = ptbxl_100
    test_split = datasets.load_dataset(str(out), split="test").with_format("numpy")
    database = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv", index_col="ecg_id")
    for row in test_split.select(range(3)):
        ecg_id = int(row["ecg_id"])
        np.testing.assert_allclose(stored_mv(row), ptbxl_signal(ecg_id, rate=100), atol=1e-6)
        assert row["report"] == database.loc[ecg_id, "report"].strip()
        assert row["lead_mask"].all() and row["num_samples"] == 1000


def test_label_vectors_equal_the_benchmark_tables(ptbxl_100):
    """The benchmark tables were derived independently from scp_statements.csv: every row must agree."""
    out, _ = ptbxl_100
    card = datasets.load_dataset_builder(str(out))
    loaded = datasets.load_dataset(str(out))
    label_names = _feature_label_names(loaded["train"])
    for task in PTBXL_TASKS:
        for split, table_split in BENCHMARK_TABLE_SPLITS.items():
            table = pd.read_csv(SPLITS_DIR / "ptbxl" / task / f"ptbxl_{task}_{table_split}.csv").set_index("ecg_id")
            vectors = dict(zip(loaded[split]["ecg_id"], multi_hot_matrix(loaded[split], task), strict=True))
            ours = pd.DataFrame(
                [vectors[ecg_id] for ecg_id in table.index], index=table.index, columns=label_names[task]
            )
            pd.testing.assert_frame_equal(
                ours[table.columns[5:]].astype(int), table[table.columns[5:]], check_names=False
            )
    assert (
        card.info.features["super_class"].feature.names == label_names["super_class"]
        and len(label_names["super_class"]) == 5
    )


def test_statements_count_whatever_their_likelihood(ptbxl_100):
    out, _ = ptbxl_100
    row = datasets.load_dataset(str(out), split="train").filter(lambda r: r["ecg_id"] == 1)[0]
    assert json.loads(row["scp_codes"]) == {"NORM": 100.0, "LVOLT": 0.0, "SR": 0.0}
    names = _feature_label_names(datasets.load_dataset(str(out), split="train"))
    for task, expected in {"super_class": ["NORM"], "sub_class": ["NORM"], "form": ["LVOLT"], "rhythm": ["SR"]}.items():
        assert [names[task][index] for index in row[task]] == expected


def _feature_label_names(split: datasets.Dataset) -> dict[str, list[str]]:
    """Label names of every task, from `ds.features` (the columns are Sequence(ClassLabel))."""
    return {task: multi_label_names(split.features, task) for task in PTBXL_TASKS}


def test_500_hz_build_keeps_the_40_records_and_rejects_the_missing_ones(tmp_path):
    summary = build_ptbxl(PTBXL_DIR, tmp_path, 500, BuildSettings(shard_size=16))
    assert summary.built == 40 and summary.rejected == 360
    assert summary.rejected_by_reason == {"missing file": 360}
    loaded = datasets.load_dataset(str(tmp_path)).with_format("numpy")
    assert sum(loaded.num_rows.values()) == 40
    first = loaded["train"].filter(lambda row: row["ecg_id"] == 1)[0]
    assert first["ecg"].shape == (12, 5000) and first["sampling_rate"] == 500
    np.testing.assert_allclose(stored_mv(first), ptbxl_signal(1, rate=500), atol=1e-6)


def _corrupt_subset(root: Path) -> dict[int, str]:
    """Records 1-12 of which three are unusable; returns ecg_id -> expected reject category."""
    copy_ptbxl_subset(root, list(range(1, 13)), rate=100)
    records = {ecg_id: root / ptbxl_record(ecg_id, 100).relative_to(PTBXL_DIR) for ecg_id in (3, 7, 10)}
    data = records[3].with_suffix(".dat")
    data.write_bytes(data.read_bytes()[:5000])  # truncated data file
    header = records[7].with_suffix(".hea")  # a 5 s record: too short for the 10 s dataset
    record_line, *signal_lines = header.read_text().splitlines()
    assert record_line.endswith(" 100 1000")
    header.write_text("\n".join([record_line.removesuffix("1000") + "500", *signal_lines]) + "\n")
    data = records[7].with_suffix(".dat")
    data.write_bytes(data.read_bytes()[: 500 * 12 * 2])
    data = records[10].with_suffix(".dat")  # every sample = -32768, WFDB's "invalid sample": all NaN
    data.write_bytes(np.full(1000 * 12, -32768, dtype="<i2").tobytes())
    return {3: "unreadable record", 7: "too short", 10: "all NaN"}


def test_unusable_records_go_to_rejects_and_the_build_goes_on(tmp_path):
    expected = _corrupt_subset(tmp_path / "root")
    summary = build_ptbxl(tmp_path / "root", tmp_path / "out", 100, BuildSettings(shard_size=4))
    assert summary.built == 9 and summary.rejected == 3
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert {int(entry["id"]): entry["category"] for entry in rejects} == expected
    for entry in rejects:
        assert Path(entry["path"]).name in entry["reason"]  # the reason names the record
    built_ids = {int(i) for split in datasets.load_dataset(str(tmp_path / "out")).values() for i in split["ecg_id"]}
    assert built_ids == set(range(1, 13)) - set(expected)
    assert "rejected 3 records" in summary.format()


class _Interrupted(KeyboardInterrupt):
    pass


class _CountingReader:
    """Stands in for `SignalReader.__call__`: counts records read, raises `_Interrupted` at record `stop_at`."""

    def __init__(self, stop_at: int | None = None):
        self.original = SignalReader.__call__
        self.stop_at = stop_at
        self.count = 0

    def __call__(self, reader: SignalReader, path: str):
        self.count += 1
        if self.count == self.stop_at:
            raise _Interrupted(f"simulated interruption at {path}")
        return self.original(reader, path)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> _CountingReader:
        monkeypatch.setattr(SignalReader, "__call__", lambda reader, path: self(reader, path))
        return self


def test_resume_after_interruption_gives_the_uninterrupted_dataset(tmp_path, monkeypatch):
    _corrupt_subset(tmp_path / "root")
    settings = BuildSettings(shard_size=2)
    reference = build_ptbxl(tmp_path / "root", tmp_path / "reference", 100, settings)

    _CountingReader(stop_at=8).install(monkeypatch)
    with pytest.raises(_Interrupted):
        build_ptbxl(tmp_path / "root", tmp_path / "resumed", 100, settings)
    assert not (tmp_path / "resumed" / "README.md").exists()
    assert not list((tmp_path / "resumed" / "data").glob(".*.partial"))

    counter = _CountingReader().install(monkeypatch)
    resumed = build_ptbxl(tmp_path / "root", tmp_path / "resumed", 100, settings)
    assert resumed.resumed_shards >= 2 and counter.count < 12  # records of finished shards are not read again
    _assert_same_dataset(tmp_path / "reference", tmp_path / "resumed")
    assert (tmp_path / "reference" / "rejects.jsonl").read_text() == (
        tmp_path / "resumed" / "rejects.jsonl"
    ).read_text()
    assert resumed.rows == reference.rows


def _assert_same_dataset(first: Path, second: Path) -> None:
    one, two = datasets.load_dataset(str(first)), datasets.load_dataset(str(second))
    assert one.keys() == two.keys()
    for split in one:
        left, right = one[split].with_format("numpy"), two[split].with_format("numpy")
        assert left.column_names == right.column_names and left.num_rows == right.num_rows
        for column in left.column_names:
            if is_multi_label(one[split].features[column]):  # ragged index lists: compared as Python lists
                assert one[split][column] == two[split][column], f"{split}.{column}"
                continue
            np.testing.assert_array_equal(left[column], right[column], err_msg=f"{split}.{column}")
    assert sorted(p.name for p in (first / "data").iterdir()) == sorted(p.name for p in (second / "data").iterdir())


def test_another_build_in_the_same_folder_is_refused_unless_overwrite(tmp_path):
    copy_ptbxl_subset(tmp_path / "root", [1, 2, 3], rate=100)
    build_ptbxl(tmp_path / "root", tmp_path / "out", 100, BuildSettings())
    with pytest.raises(FileExistsError, match="other settings"):
        build_ptbxl(tmp_path / "root", tmp_path / "out", 100, BuildSettings(shard_size=7))
    summary = build_ptbxl(tmp_path / "root", tmp_path / "out", 100, BuildSettings(shard_size=7, overwrite=True))
    assert summary.built == 3 and summary.resumed_shards == 0


@pytest.mark.slow
def test_cli_killed_mid_build_resumes_from_the_last_finished_shard(tmp_path):
    copy_ptbxl_subset(tmp_path / "root", list(range(1, 61)), rate=100)
    command = script_command(
        "datasets_scripts/build_ptbxl.py",
        "--root", tmp_path / "root",
        "--out", tmp_path / "out",
        "--shard-size", "5",
        "--num-proc", "2",
    )
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = tmp_path / "out" / "progress.json"
    workers: set[int] = set()
    try:
        _wait_for(
            lambda: (
                progress.exists()
                and len(json.loads(progress.read_text())["splits"].get("train", {}).get("shards", [])) >= 2
            )
        )
        # Sampled until seen: between two shards the reader pool can be momentarily without children.
        _wait_for(lambda: bool(workers.update(descendants(process.pid)) or workers), timeout=30.0)
    finally:
        process.kill()
        process.wait()
        left = survivors(workers)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert workers and not left, f"reader workers {sorted(left)} outlived the killed build"
    finished = sum(len(split["shards"]) for split in json.loads(progress.read_text())["splits"].values())
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resumed after {finished} shards" in result.stdout
    subprocess.run(
        [*command[:5], str(tmp_path / "reference"), *command[6:]],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    _assert_same_dataset(tmp_path / "reference", tmp_path / "out")


def _wait_for(condition, timeout: float = 180.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the build did not reach the awaited state in time")
        time.sleep(0.05)
