"""Linear probing: frozen encoder features, nested training subsets, selection on validation only, outputs."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from modeling_supreme.evaluation import TASKS, load_task_table
from modeling_supreme.evaluation.linear_probe import (
    ProbeSettings,
    SplitFeatures,
    extract_features,
    probe_task,
    train_linear_head,
    training_subset,
)
from modeling_supreme.evaluation.records import PtbxlFolder, TaskInputs
from tests.sample_data import PTBXL_DIR, REPO_ROOT, SPLITS_DIR, script_command

FAST = ProbeSettings(epochs=40, eval_every=5, weight_decays=(0.0, 1e-2))


def synthetic_split(records: int, seed: int, labels: int = 3) -> SplitFeatures:
    """Features whose first `labels` dimensions carry the labels (plus noise), 8 dimensions in all."""
    generator = np.random.default_rng(seed)
    targets = (generator.random((records, labels)) < 0.3).astype(np.int8)
    features = generator.normal(size=(records, 8)).astype(np.float32)
    features[:, :labels] += 3.0 * targets
    return SplitFeatures(features, targets, [f"r{seed}-{index}" for index in range(records)])


def test_training_subsets_are_nested_seeded_and_never_empty():
    small, medium, full = (training_subset(500, fraction, seed=7) for fraction in (0.01, 0.1, 1.0))
    assert (len(small), len(medium), len(full)) == (5, 50, 500)
    assert set(small) <= set(medium) <= set(full)
    np.testing.assert_array_equal(small, training_subset(500, 0.01, seed=7))
    assert not np.array_equal(medium, training_subset(500, 0.1, seed=8))
    assert len(training_subset(20, 0.01, seed=0)) == 1
    with pytest.raises(ValueError, match="fractions"):
        training_subset(20, 1.5, seed=0)


def test_head_learns_and_is_selected_on_validation_only():
    train, validation = synthetic_split(300, 0), synthetic_split(100, 1)
    trained = train_linear_head(train, validation, FAST)
    assert trained.weight_decay in FAST.weight_decays and 1 <= trained.epoch <= FAST.epochs
    assert trained.validation_auroc > 80
    spec = TASKS["ptbxl_super"]
    features = {"train": train, "val": validation, "test": synthetic_split(80, 2)}
    flipped = {
        **features,
        "test": SplitFeatures(features["test"].features, 1 - features["test"].targets, features["test"].keys),
    }
    first = probe_task(spec, features, ["a", "b", "c"], 1.0, FAST, n_resamples=20)
    second = probe_task(spec, flipped, ["a", "b", "c"], 1.0, FAST, n_resamples=20)
    # Test labels have no influence on which head is chosen: only its score on them changes.
    np.testing.assert_array_equal(first.scores, second.scores)
    assert first.extra["selected_epoch"] == second.extra["selected_epoch"]
    assert first.auroc > 80 and second.auroc < 20
    assert first.extra["train_records"] == 300


def test_features_come_from_the_frozen_encoder(tiny_model, tiny_processor):
    table = load_task_table("ptbxl_super", SPLITS_DIR, "test")
    inputs = TaskInputs(table, PtbxlFolder(PTBXL_DIR, 100), tiny_processor.feature_extractor)
    before = {name: value.clone() for name, value in tiny_model.state_dict().items()}
    tiny_model.train()
    features = extract_features(tiny_model, inputs, batch_size=16, progress=False)
    assert tiny_model.training
    assert all(torch.equal(before[name], value) for name, value in tiny_model.state_dict().items())
    assert features.shape == (len(table.keys), tiny_model.ecg_encoder.width)
    batch = next(inputs.batches(4))
    tiny_model.eval()
    with torch.no_grad():
        _, pooled = tiny_model.get_ecg_features(
            torch.as_tensor(batch["ecg_values"]), torch.as_tensor(batch["lead_mask"])
        )
    np.testing.assert_allclose(features[:4], pooled.numpy(), atol=1e-5)


@pytest.mark.slow
def test_cli_writes_one_report_per_fraction(tiny_checkpoint, tmp_path):
    out = tmp_path / "probe"
    command = script_command(
        "eval/linear_probe.py",
        "--model", tiny_checkpoint,
        "--ptbxl-root", PTBXL_DIR,
        "--tasks", "ptbxl_super,cpsc2018",
        "--epochs", "20",
        "--eval-every", "5",
        "--weight-decays", "0,0.01",
        "--n-resamples", "20",
        "--out", out,
        "--no-progress",
    )
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads((out / "results.json").read_text())
    assert list(summary["fractions"]) == ["1%", "10%", "100%"]
    train_rows = len(load_task_table("ptbxl_super", SPLITS_DIR, "train").keys)
    for folder, (name, report) in zip(["train_1pct", "train_10pct", "train_100pct"], summary["fractions"].items()):
        written = json.loads((out / folder / "results.json").read_text())
        assert written == report
        assert (out / folder / "roc_curves.png").is_file()
        task = report["tasks"]["ptbxl_super"]
        assert task["train_records"] == max(1, round(float(name[:-1]) / 100 * train_rows))
        assert task["selected_weight_decay"] in (0.0, 0.01)
        assert report["tasks"]["cpsc2018"]["status"] == "skipped"
        assert report["mean_auroc"] == task["auroc"]
    assert "| PTB-XL super-class |" in (out / "results.md").read_text()
