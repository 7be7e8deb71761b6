"""Pushing built datasets to the Hub (the local stand-in) and loading them back in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from huggingface_hub import DatasetCard

from modeling_supreme.dataset_builders import BuildSettings
from modeling_supreme.dataset_builders.dataset_push import push_dataset_folder
from modeling_supreme.dataset_builders.ptbxl import build_ptbxl
from tests.dataset_builders_helpers import copy_ptbxl_subset
from tests.sample_data import REPO_ROOT, script_command

# Ten records: folds 1-8 and at least one of folds 9 and 10 (ecg_ids 1-10 have folds 3,2,5,3,4,4,4,9,2,10).
ECG_IDS = list(range(1, 11))

LOAD_AND_DESCRIBE = """
import json, sys, datasets
loaded = datasets.load_dataset(sys.argv[1])
train = loaded["train"].with_format("torch")
print(json.dumps({
    "splits": {name: split.num_rows for name, split in loaded.items()},
    "ecg_shape": list(train[0]["ecg"].shape),
    "ecg_dtype": str(train[0]["ecg"].dtype),
    "ecg_ids": sorted(int(i) for split in loaded.values() for i in split["ecg_id"]),
}))
"""


def _load_in_fresh_process(repo_id: str, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_DESCRIBE, repo_id], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pushed_dataset_loads_in_a_fresh_process_with_its_splits_and_card(local_hub, tmp_path):
    copy_ptbxl_subset(tmp_path / "root", ECG_IDS, rate=100)
    summary = build_ptbxl(tmp_path / "root", tmp_path / "out", 100, BuildSettings(shard_size=3))
    push_dataset_folder(tmp_path / "out", "someone/ptbxl-mini")

    described = _load_in_fresh_process("someone/ptbxl-mini", local_hub.subprocess_env())
    assert described["splits"] == summary.rows
    assert described["ecg_shape"] == [12, 1000] and described["ecg_dtype"] == "torch.int64"  # int16 storage
    assert described["ecg_ids"] == ECG_IDS

    files = local_hub.repo_files("someone/ptbxl-mini", repo_type="dataset")
    shards = sorted(path for path in files if path.endswith(".parquet"))
    assert len(shards) == len(list((tmp_path / "out" / "data").glob("*.parquet")))  # one file per local shard
    card = DatasetCard(files["README.md"].decode())
    assert [config["config_name"] for config in card.data.configs] == ["default"]
    assert {entry["split"] for entry in card.data.configs[0]["data_files"]} == set(summary.rows)
    super_class = next(feature for feature in card.data.dataset_info["features"] if feature["name"] == "super_class")
    assert super_class["list"]["class_label"]["names"] == {"0": "STTC", "1": "NORM", "2": "MI", "3": "HYP", "4": "CD"}
    assert "strat_fold" in card.text and card.data.license == "cc-by-4.0"
    assert local_hub.unhandled == []


@pytest.mark.slow
def test_cli_push_to_hub_option(local_hub, tmp_path):
    copy_ptbxl_subset(tmp_path / "root", ECG_IDS, rate=100)
    command = script_command(
        "datasets_scripts/build_ptbxl.py",
        "--root", tmp_path / "root",
        "--out", tmp_path / "out",
        "--push-to-hub", "someone/from-cli",
    )
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=local_hub.subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "built 10 records" in result.stdout and "Pushed to" in result.stdout
    assert _load_in_fresh_process("someone/from-cli", local_hub.subprocess_env())["ecg_ids"] == ECG_IDS


@pytest.mark.parametrize("failing_commit", [1, 2])
def test_a_push_that_fails_never_leaves_a_card_without_its_data(local_hub, tmp_path, monkeypatch, failing_commit):
    from huggingface_hub import HfApi

    copy_ptbxl_subset(tmp_path / "root", ECG_IDS, rate=100)
    build_ptbxl(tmp_path / "root", tmp_path / "out", 100, BuildSettings(shard_size=3))
    commit = HfApi.create_commit
    calls: list[str] = []

    def fails_once(self, *args, **kwargs):
        calls.append(kwargs.get("commit_message", ""))
        if len(calls) == failing_commit:
            raise ConnectionError("network lost during the commit")
        return commit(self, *args, **kwargs)

    monkeypatch.setattr(HfApi, "create_commit", fails_once)
    with pytest.raises(ConnectionError):
        push_dataset_folder(tmp_path / "out", "someone/interrupted")
    files = local_hub.repo_files("someone/interrupted", repo_type="dataset")
    shards = [path for path in files if path.endswith(".parquet")]
    if "README.md" in files:  # what is there loads: the data came first, with the card's YAML
        assert len(shards) == len(list((tmp_path / "out" / "data").glob("*.parquet")))
        described = _load_in_fresh_process("someone/interrupted", local_hub.subprocess_env())
        assert described["ecg_ids"] == ECG_IDS
    else:
        assert shards == []
    monkeypatch.setattr(HfApi, "create_commit", commit)
    push_dataset_folder(tmp_path / "out", "someone/interrupted")  # the push again: complete, with the prose card
    card = DatasetCard(local_hub.repo_files("someone/interrupted", repo_type="dataset")["README.md"].decode())
    assert "strat_fold" in card.text and card.data.license == "cc-by-4.0" and card.data.configs
