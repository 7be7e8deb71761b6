"""The launcher's precision: `accelerate launch --mixed_precision bf16` (or an accelerate config's
`mixed_precision: bf16`) is used unless `--mixed-precision` is given, and training_summary.json records it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modeling_supreme.training import parse_training_options, run_training
from modeling_supreme.training.accelerator_setup import resolve_mixed_precision
from tests.training_helpers import (
    fresh_accelerate_state,  # noqa: F401 (an autouse fixture)
    tiny_flags,
    tiny_options,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = Path(sys.executable).with_name("accelerate")


def test_precision_comes_from_the_launcher_unless_given(monkeypatch):
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    assert resolve_mixed_precision(None) == "no"
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    assert resolve_mixed_precision(None) == "bf16"
    assert resolve_mixed_precision("no") == "no"
    assert parse_training_options(["--dataset", "d", "--output-dir", "o"]).mixed_precision is None
    assert (
        parse_training_options(["--dataset", "d", "--output-dir", "o", "--mixed-precision", "no"]).mixed_precision
        == "no"
    )


@pytest.mark.parametrize("flag, expected", [(None, "bf16"), ("no", "no")])
def test_summary_records_the_precision_used(
    monkeypatch, training_dataset, tiny_text_encoder_dir, tmp_path, flag, expected
):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")  # what `accelerate launch --mixed_precision bf16` exports
    options = tiny_options(
        training_dataset,
        tmp_path / "out",
        tiny_text_encoder_dir,
        max_steps=1,
        validation_split="none",
        mixed_precision=flag,
    )
    run_training(options)
    summary = json.loads((tmp_path / "out" / "model" / "training_summary.json").read_text())
    assert summary["mixed_precision"] == expected


@pytest.mark.slow
def test_accelerate_launch_mixed_precision_reaches_the_run(training_dataset, tiny_text_encoder_dir, tmp_path):
    options = tiny_options(
        training_dataset, tmp_path / "out", tiny_text_encoder_dir, max_steps=1, validation_split="none"
    )
    assert options.mixed_precision is None
    command = [
        str(ACCELERATE),
        "launch",
        "--num_processes",
        "1",
        "--num_machines",
        "1",
        "--mixed_precision",
        "bf16",
        "--dynamo_backend",
        "no",
        "train_accelerate.py",
        *tiny_flags(options),
    ]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    summary = json.loads((tmp_path / "out" / "model" / "training_summary.json").read_text())
    assert summary["mixed_precision"] == "bf16"
