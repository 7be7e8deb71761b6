"""`accelerate launch --multi_gpu --num_processes 2` on CPU (gloo): the run really has two processes, shards the
data between them, saves every checkpoint once with both processes' random states, logs once, and its sharded
validation equals scoring the saved model in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modeling_supreme.evaluation import load_model_and_processor
from modeling_supreme.evaluation.heldout import evaluate_heldout, load_heldout_set
from modeling_supreme.training import list_checkpoints, read_metrics
from tests.training_helpers import tiny_flags, tiny_options

REPO_ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = Path(sys.executable).with_name("accelerate")


@pytest.mark.slow
def test_two_process_cpu_run(training_dataset, tiny_text_encoder_dir, tmp_path):
    output = tmp_path / "out"
    options = tiny_options(training_dataset, output, tiny_text_encoder_dir, batch_size=4, max_steps=4, eval_steps=2,
                           save_steps=2, objective="supreme", save_total_limit=0)
    command = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "train_accelerate.py", *tiny_flags(options)]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "Trained 4 steps on 2 process(es)" in completed.stdout
    assert completed.stdout.count("Model folder") == 1  # the summary is printed by the main process only

    summary = json.loads((output / "model" / "training_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_step"] == 4

    checkpoints = list_checkpoints(output)
    assert [path.name for path in checkpoints] == ["checkpoint-2", "checkpoint-4"]  # each saved once
    assert not list((output / "checkpoints").glob("*.partial"))
    for checkpoint in checkpoints:
        names = {path.name for path in checkpoint.iterdir()}
        per_process = {f"rng_state_{rank}.{kind}" for rank in (0, 1) for kind in ("json", "safetensors")}
        shared = {
            "model.safetensors", "optimizer.json", "optimizer.safetensors", "loop_state.json", "trainer_state.json"
        }
        assert names == per_process | shared  # JSON and safetensors only: nothing is unpickled on resume

    metrics = read_metrics(output / "logs" / "supreme" / "metrics.jsonl")
    train_steps = [record["step"] for record in metrics if "train/loss" in record]
    assert train_steps == [1, 2, 3, 4]  # logged once per step, not once per process
    # 61 training ECGs in batches of 4 per process: 7 batches per process and epoch (15 on a single process).
    first = next(record for record in metrics if record["step"] == 1 and "train/epoch" in record)
    assert first["train/epoch"] == pytest.approx(1 / 7)
    hyperparameters = json.loads((output / "logs" / "supreme" / "hparams.json").read_text())
    assert hyperparameters["world_size"] == 2

    # Validation was scored in two shards (19 ECGs: 10 + 10 with one repeated) and gathered: the same numbers as
    # scoring the chosen weights in this single process.
    model, processor = load_model_and_processor(output / "model")
    rescored = evaluate_heldout(model, processor, load_heldout_set(str(training_dataset), ["validation"]))
    assert rescored.mean_auroc == pytest.approx(summary["best_metric"], abs=1e-4)
    logged = {record["step"]: record for record in metrics if "val/mean_auroc" in record}
    for name, value in rescored.per_label_auroc.items():
        assert logged[summary["best_step"]].get(f"val/auroc/{name}") == pytest.approx(value, abs=1e-4)
