"""One PTB-XL dataset from several roots: each ecg_id once, repeats across roots recorded (duplicate or conflict,
naming the roots), empty reports kept and skipped by training, missing records and non-PTB-XL folders refused with
their names; the split-folds option that keeps folds 9-10 out of a selection build."""

from __future__ import annotations

import json
import subprocess

import datasets
import numpy as np
import pandas as pd
import pytest

from modeling_supreme.dataset_builders import REJECTS_FILE, BuildSettings
from modeling_supreme.dataset_builders.ptbxl import (
    CONFLICTING_DUPLICATE,
    build_ptbxl,
    check_ptbxl_root,
    parse_split_folds,
)
from modeling_supreme.training.failed_extractions import rows_with_reports
from tests.dataset_builders_helpers import copy_ptbxl_subset
from tests.sample_data import PTBXL_DIR, REPO_ROOT, ptbxl_record, script_command

SETTINGS = BuildSettings(progress=False)


def _rejects(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / REJECTS_FILE).read_text().splitlines()]


def _built_ids(folder) -> list[int]:
    return sorted(int(i) for split in datasets.load_dataset(str(folder)).values() for i in split["ecg_id"])


def _record_file(root, ecg_id: int, suffix: str = ".dat"):
    return root / ptbxl_record(ecg_id, 100).relative_to(PTBXL_DIR).with_suffix(suffix)


def test_two_roots_build_one_dataset_each_ecg_id_once(tmp_path):
    first = copy_ptbxl_subset(tmp_path / "a", [1, 2, 3], rate=100)
    second = copy_ptbxl_subset(tmp_path / "b", [3, 4, 5], rate=100)  # 3 again, the same files
    summary = build_ptbxl([first, second], tmp_path / "out", 100, SETTINGS)
    assert _built_ids(tmp_path / "out") == [1, 2, 3, 4, 5]
    assert summary.rejected_by_reason == {"duplicate id": 1}
    (entry,) = _rejects(tmp_path / "out")
    assert entry["id"] == "3" and str(first) in entry["reason"]
    assert str(second / "ptbxl_database.csv") in entry["reason"]


def test_a_record_listed_in_two_roots_with_different_signals_is_a_recorded_conflict(tmp_path):
    first = copy_ptbxl_subset(tmp_path / "a", [1, 2], rate=100)
    second = copy_ptbxl_subset(tmp_path / "b", [2, 4], rate=100)
    data = _record_file(second, 2)
    data.write_bytes(np.frombuffer(data.read_bytes(), dtype="<i2")[::-1].tobytes())  # same size, other signal
    summary = build_ptbxl([first, second], tmp_path / "out", 100, SETTINGS)
    assert _built_ids(tmp_path / "out") == [1, 2, 4]
    assert summary.rejected_by_reason == {CONFLICTING_DUPLICATE: 1}
    (entry,) = _rejects(tmp_path / "out")
    assert entry["id"] == "2" and "different" in entry["reason"]
    assert str(first) in entry["reason"] and str(second) in entry["reason"]
    # The record built is the first root's.
    built = datasets.load_dataset(str(tmp_path / "out"))
    reference = datasets.load_dataset(str(_single(tmp_path, first)))
    assert _row(built, 2)["ecg"] == _row(reference, 2)["ecg"]


def _single(tmp_path, root):
    build_ptbxl(root, tmp_path / "single", 100, SETTINGS)
    return tmp_path / "single"


def _row(dataset, ecg_id: int) -> dict:
    for split in dataset.values():
        ids = list(split["ecg_id"])
        if ecg_id in ids:
            return split[ids.index(ecg_id)]
    raise KeyError(ecg_id)


def test_a_row_whose_record_is_missing_is_rejected_naming_root_and_ecg_id(tmp_path):
    root = copy_ptbxl_subset(tmp_path / "a", [1, 2, 3], rate=100)
    _record_file(root, 2).unlink()
    summary = build_ptbxl(root, tmp_path / "out", 100, SETTINGS)
    assert _built_ids(tmp_path / "out") == [1, 3]
    assert summary.rejected_by_reason == {"missing file": 1}
    (entry,) = _rejects(tmp_path / "out")
    assert entry["id"] == "2" and entry["path"].startswith(str(root))


@pytest.mark.parametrize("make", ["missing folder", "no database", "no statements"])
def test_a_root_that_is_not_a_ptbxl_folder_is_refused_by_name(tmp_path, make):
    root = copy_ptbxl_subset(tmp_path / "a", [1], rate=100)
    if make == "missing folder":
        root = tmp_path / "nowhere"
    elif make == "no database":
        (root / "ptbxl_database.csv").unlink()
    else:
        (root / "scp_statements.csv").unlink()
    with pytest.raises(ValueError, match="is not a PTB-XL folder") as raised:
        check_ptbxl_root(root)
    assert str(root) in str(raised.value)
    good = copy_ptbxl_subset(tmp_path / "b", [2], rate=100)
    with pytest.raises(ValueError, match="is not a PTB-XL folder"):
        build_ptbxl([good, root], tmp_path / "out", 100, SETTINGS)


def test_an_empty_report_is_kept_in_the_dataset_and_skipped_by_training(tmp_path):
    root = copy_ptbxl_subset(tmp_path / "a", [1, 2, 3], rate=100)
    database = pd.read_csv(root / "ptbxl_database.csv")
    database.loc[database.ecg_id == 2, "report"] = "  "
    database.to_csv(root / "ptbxl_database.csv", index=False)
    summary = build_ptbxl(root, tmp_path / "out", 100, SETTINGS)
    assert summary.rejected == 0
    train = datasets.load_dataset(str(tmp_path / "out"))["train"]
    reports = dict(zip(train["ecg_id"], train["report"]))
    assert reports[2] == "" and reports[1] and reports[3]
    kept = rows_with_reports(train, "train")
    assert sorted(kept["ecg_id"]) == [1, 3]
    assert rows_with_reports(kept, "train") is kept  # nothing to skip: the split itself


def test_split_folds_choose_the_folds_of_each_split_and_leave_the_rest_out(tmp_path):
    database = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv")
    ids = [int(database[database.strat_fold == fold].ecg_id.iloc[0]) for fold in (7, 8, 9)]
    root = copy_ptbxl_subset(tmp_path / "a", ids, rate=100)
    summary = build_ptbxl(root, tmp_path / "out", 100, SETTINGS, parse_split_folds("train=1-7,validation=8"))
    assert summary.rows == {"train": 1, "validation": 1}
    built = datasets.load_dataset(str(tmp_path / "out"))
    assert built["validation"]["strat_fold"] == [8]
    (entry,) = _rejects(tmp_path / "out")
    assert entry["id"] == str(ids[2]) and "in no split" in entry["reason"]


@pytest.mark.parametrize("text", ["train=1-7,validation=7", "train=0-3", "train", "=1-3", "train=a"])
def test_malformed_split_folds_are_refused(text):
    with pytest.raises(ValueError, match="split folds"):
        parse_split_folds(text)


def test_parse_split_folds_reads_ranges_and_joins():
    assert parse_split_folds("train=1-7,validation=8,test=9+10") == {
        "train": (1, 2, 3, 4, 5, 6, 7), "validation": (8,), "test": (9, 10)
    }


def test_the_script_takes_root_twice_and_names_a_bad_root(tmp_path):
    first = copy_ptbxl_subset(tmp_path / "a", [1, 2], rate=100)
    second = copy_ptbxl_subset(tmp_path / "b", [4], rate=100)
    script = script_command("datasets_scripts/build_ptbxl.py")
    done = subprocess.run([*script, "--root", str(first), "--root", str(second), "--out", str(tmp_path / "out"),
                           "--log-level", "WARNING"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert _built_ids(tmp_path / "out") == [1, 2, 4]
    bad = subprocess.run([*script, "--root", str(first), "--root", str(tmp_path / "nowhere"), "--out",
                          str(tmp_path / "out2")], capture_output=True, text=True, cwd=REPO_ROOT)
    assert bad.returncode == 2 and f"{tmp_path / 'nowhere'} is not a PTB-XL folder" in bad.stderr
    assert "Traceback" not in bad.stderr
