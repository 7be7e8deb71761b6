"""The training loop on real PTB-XL records with a tiny model: the final folder, selection on validation, logging,
the learning-rate schedule, checkpoints, exact resume, refusals, and the command line with --push-to-hub."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import pipeline

from modeling_supreme.entities import Vocabulary
from modeling_supreme.evaluation import load_model_and_processor
from modeling_supreme.evaluation.heldout import evaluate_heldout, load_heldout_set
from modeling_supreme.training import list_checkpoints, read_metrics, run_training
from modeling_supreme.training.checkpointing import TRAINER_STATE_FILE
from tests.sample_data import ptbxl_record
from tests.training_helpers import (
    Interrupted,
    fresh_accelerate_state,  # noqa: F401 (an autouse fixture)
    stop_after,
    tiny_flags,
    tiny_options,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def last_value_per_step(metrics_file: Path, key: str) -> dict[int, float]:
    """A resumed run appends to its metrics file: the later line of a repeated step is the resumed run's."""
    return {record["step"]: record[key] for record in read_metrics(metrics_file) if key in record}


@pytest.fixture(scope="module")
def finished_run(training_dataset, tiny_text_encoder_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "out"
    options = tiny_options(training_dataset, output, tiny_text_encoder_dir, max_steps=6, warmup_steps=2,
                           save_total_limit=1, eval_steps=2)
    return options, run_training(options)


def test_run_ends_with_a_pipeline_folder_holding_the_weights_chosen_on_validation(finished_run, training_dataset):
    options, result = finished_run
    output = Path(options.output_dir) / "model"
    assert result.output_dir == output and result.run_dir == Path(options.output_dir)
    assert sorted(path.name for path in output.iterdir() if path.is_dir()) == []  # no checkpoints/, best/, logs/
    assert result.global_step == result.total_steps == 6 and result.world_size == 1
    validation_means = {record["step"]: record["val/mean_auroc"] for record in result.evaluations}
    assert sorted(validation_means) == [2, 4, 6]
    assert result.final_weights == "best" and result.best_metric == max(validation_means.values())
    assert validation_means[result.best_step] == result.best_metric

    final, best = load_file(output / "model.safetensors"), load_file(output.parent / "best" / "model.safetensors")
    assert final.keys() == best.keys() and all(torch.equal(final[key], best[key]) for key in final)
    # The saved weights score the validation split exactly as logged when they were chosen.
    model, processor = load_model_and_processor(output)
    rescored = evaluate_heldout(model, processor, load_heldout_set(str(training_dataset), ["validation"]))
    assert rescored.mean_auroc == pytest.approx(result.best_metric, abs=1e-4)

    vocabulary = Vocabulary.load(output / "vocabulary.json")
    assert [model.config.id2label[index] for index in range(len(vocabulary))] == vocabulary.labels
    assert model.config.label_texts == vocabulary.labels  # sampled texts (default): the name stays its text
    classifier = pipeline("ecg-zero-shot", model=str(output))
    scores = classifier(str(ptbxl_record(9)))
    assert sorted(item["label"] for item in scores) == sorted(vocabulary.labels)
    assert [item["score"] for item in scores] == sorted((item["score"] for item in scores), reverse=True)
    summary = json.loads((output / "training_summary.json").read_text())
    assert summary["best_step"] == result.best_step and summary["final_weights"] == "best"
    card = (output / "README.md").read_text()
    assert f"{result.best_metric:.2f}" in card and "validation" in card


def test_learning_rate_warms_up_then_decays_to_zero_and_losses_are_logged_every_step(finished_run):
    options, _ = finished_run
    metrics = Path(options.output_dir) / "logs" / options.run_name / "metrics.jsonl"
    rates = last_value_per_step(metrics, "train/learning_rate")
    losses = last_value_per_step(metrics, "train/loss")
    assert sorted(rates) == sorted(losses) == [1, 2, 3, 4, 5, 6]
    # Scheduler value after each step: warm-up over steps 1-2 to the peak, then cosine down to 0 at the last step.
    assert rates[1] == pytest.approx(options.learning_rate / 2) and rates[2] == pytest.approx(options.learning_rate)
    assert rates[2] > rates[3] > rates[4] > rates[5] > rates[6] == pytest.approx(0.0, abs=1e-12)
    assert all(value > 0 for value in losses.values())
    hyperparameters = json.loads((metrics.parent / "hparams.json").read_text())
    assert hyperparameters["learning_rate"] == options.learning_rate and hyperparameters["total_steps"] == 6


def test_old_checkpoints_are_rotated_and_none_is_left_half_written(finished_run):
    options, _ = finished_run
    checkpoints = list_checkpoints(options.output_dir)
    assert [path.name for path in checkpoints] == ["checkpoint-6"]  # save_total_limit=1
    assert not list((Path(options.output_dir) / "checkpoints").glob("*.partial"))
    state = json.loads((checkpoints[0] / TRAINER_STATE_FILE).read_text())
    assert state["global_step"] == 6 and state["best_step"] is not None


def test_a_folder_with_checkpoints_is_not_overwritten_without_resume(finished_run):
    options, _ = finished_run
    with pytest.raises(ValueError, match="pass --resume"):
        run_training(options)


def test_resumed_run_matches_an_uninterrupted_run(training_dataset, tiny_text_encoder_dir, tmp_path):
    # 61 training ECGs, batches of 8 (drop_last): 7 batches per epoch; 2 batches per step -> 10 steps cross two
    # epoch boundaries. The run is killed after step 5; the newest checkpoint is step 3, mid-epoch. Dropout makes
    # the result depend on the restored random state too, and sampled label texts on the restored epoch and batch.
    settings = dict(max_steps=10, gradient_accumulation_steps=2, save_steps=3, eval_steps=3, objective="supreme",
                    dropout=0.2, label_text="sample")
    reference = run_training(tiny_options(training_dataset, tmp_path / "reference", tiny_text_encoder_dir, **settings))

    interrupted = tiny_options(training_dataset, tmp_path / "interrupted", tiny_text_encoder_dir, **settings)
    with pytest.raises(Interrupted):
        run_training(interrupted, callbacks=[stop_after(5)])
    assert [path.name for path in list_checkpoints(interrupted.output_dir)][-1] == "checkpoint-3"
    resumed_options = tiny_options(
        training_dataset, tmp_path / "interrupted", tiny_text_encoder_dir, resume="latest", **settings
    )
    resumed = run_training(resumed_options)

    assert resumed.global_step == reference.global_step == 10
    reference_weights = load_file(tmp_path / "reference" / "checkpoints" / "checkpoint-10" / "model.safetensors")
    resumed_weights = load_file(tmp_path / "interrupted" / "checkpoints" / "checkpoint-10" / "model.safetensors")
    assert all(torch.equal(reference_weights[key], resumed_weights[key]) for key in reference_weights)
    for key in ("train/loss", "train/learning_rate"):
        expected = last_value_per_step(tmp_path / "reference" / "logs" / "supreme" / "metrics.jsonl", key)
        assert last_value_per_step(tmp_path / "interrupted" / "logs" / "supreme" / "metrics.jsonl", key) == expected
    assert resumed.best_metric == reference.best_metric and resumed.best_step == reference.best_step


def test_training_without_validation_keeps_the_last_step_and_logs_to_tensorboard(
    training_dataset, tiny_text_encoder_dir, tmp_path
):
    options = tiny_options(training_dataset, tmp_path / "out", tiny_text_encoder_dir, max_steps=2,
                           validation_split="none", log_with="tensorboard", objective="clip", mixed_precision="bf16")
    result = run_training(options)
    assert result.final_weights == "last" and result.evaluations == [] and result.best_step is None
    assert list((tmp_path / "out" / "logs").rglob("events.out.tfevents.*"))
    final = load_file(tmp_path / "out" / "model" / "model.safetensors")
    last = load_file(tmp_path / "out" / "checkpoints" / "checkpoint-2" / "model.safetensors")
    assert all(torch.equal(final[key], last[key]) for key in final)


def test_refusals_name_the_problem(training_dataset, tiny_text_encoder_dir, tmp_path):
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        run_training(tiny_options(training_dataset, tmp_path / "a", tiny_text_encoder_dir, mixed_precision="fp16"))
    with pytest.raises(FileNotFoundError, match="no checkpoint under"):
        run_training(tiny_options(training_dataset, tmp_path / "b", tiny_text_encoder_dir, resume="latest"))
    with pytest.raises(ValueError, match="fewer than one batch"):
        run_training(tiny_options(training_dataset, tmp_path / "c", tiny_text_encoder_dir, batch_size=1000))


@pytest.mark.slow
def test_command_line_with_yaml_config_and_push_to_hub_loads_in_a_fresh_process(
    local_hub, training_dataset, tiny_text_encoder_dir, tmp_path
):
    options = tiny_options(training_dataset, tmp_path / "out", tiny_text_encoder_dir, max_steps=4)
    config = tmp_path / "run.yaml"
    config.write_text(f"dataset: {training_dataset}\nlearning_rate: 1e-3\nmax_steps: 50\n")
    flags = tiny_flags(options, exclude=("dataset", "learning_rate", "max_steps"))
    command = [sys.executable, "train_accelerate.py", "--config", str(config), *flags, "--max-steps", "3",
               "--push-to-hub", "someone/tiny-supreme"]
    completed = subprocess.run(
        command, cwd=REPO_ROOT, env=local_hub.subprocess_env(), capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Trained 3 steps" in completed.stdout and "Pushed to" in completed.stdout
    summary = json.loads((tmp_path / "out" / "model" / "training_summary.json").read_text())
    assert summary["global_step"] == 3 and summary["options"]["learning_rate"] == 1e-3  # file value, flag overrides

    pushed = set(local_hub.repo_files("someone/tiny-supreme"))
    assert {"config.json", "model.safetensors", "vocabulary.json", "README.md", "pipeline_ecg_zero_shot.py"} <= pushed
    assert not any(path.startswith(("checkpoints/", "best/", "logs/")) for path in pushed)
    load = (
        "import json, sys; from transformers import pipeline\n"
        "classifier = pipeline('ecg-zero-shot', model='someone/tiny-supreme', trust_remote_code=True)\n"
        f"print(json.dumps(classifier({str(ptbxl_record(9))!r})[:2]))\n"
    )
    env = local_hub.subprocess_env()
    fresh = subprocess.run(
        [sys.executable, "-c", load], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    top = json.loads(fresh.stdout.strip().splitlines()[-1])
    vocabulary = Vocabulary.load(tmp_path / "out" / "model" / "vocabulary.json")
    assert len(top) == 2 and {item["label"] for item in top} <= set(vocabulary.labels)
