"""Step timing of the training loop: `train/data_time`, `train/step_time` and the data-bound warning."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from accelerate.state import AcceleratorState

from modeling_supreme.training import read_metrics, run_training
from modeling_supreme.training.timing import StepTimer, data_bound_message
from tests.training_helpers import tiny_options


def slow_batches(count: int, seconds: float):
    for index in range(count):
        time.sleep(seconds)
        yield index


def test_timer_counts_the_wait_for_batches_as_data_time_within_the_step():
    timer = StepTimer()
    timer.restart()
    for _ in timer.timed(slow_batches(3, 0.02)):
        time.sleep(0.01)  # the "step"
        timer.step_done()
    means = timer.means()
    assert means["train/data_time"] >= 0.02 and means["train/step_time"] >= means["train/data_time"] + 0.01
    assert timer.means() == {}  # reset after reading


def test_time_between_steps_is_left_out_after_a_restart():
    timer = StepTimer()
    timer.restart()
    timer.step_done()
    time.sleep(0.05)  # validation, checkpoints
    timer.restart()
    timer.step_done()
    assert timer.means()["train/step_time"] < 0.025


def test_warning_only_above_the_fraction_and_never_with_zero():
    means = {"train/data_time": 0.3, "train/step_time": 1.0}
    assert "30 %" in data_bound_message(means, 0.2) and "--num-workers" in data_bound_message(means, 0.2)
    assert data_bound_message(means, 0.3) is None
    assert data_bound_message(means, 0.0) is None
    assert data_bound_message({}, 0.2) is None


def test_training_logs_step_and_data_time_every_step_and_warns_when_data_bound(
    training_dataset, tiny_text_encoder_dir, tmp_path, caplog
):
    AcceleratorState._reset_state(reset_partial_state=True)
    options = tiny_options(training_dataset, tmp_path / "out", tiny_text_encoder_dir, max_steps=3, eval_steps=0,
                           save_steps=0, validation_split="none", data_time_warning=1e-9)
    with caplog.at_level(logging.WARNING, logger="modeling_supreme.training.trainer"):
        run_training(options)
    AcceleratorState._reset_state(reset_partial_state=True)
    records = read_metrics(Path(options.output_dir) / "logs" / options.run_name / "metrics.jsonl")
    timed = [record for record in records if "train/step_time" in record]
    assert [record["step"] for record in timed] == [1, 2, 3]
    assert all(0 < record["train/data_time"] < record["train/step_time"] for record in timed)
    warnings = [record.getMessage() for record in caplog.records if "waiting for batches" in record.getMessage()]
    assert len(warnings) == 3 and "--data-time-warning 1e-09" in warnings[0]


def test_negative_fraction_is_refused(training_dataset, tiny_text_encoder_dir, tmp_path):
    with pytest.raises(ValueError, match="--data-time-warning must not be negative"):
        tiny_options(training_dataset, tmp_path / "out", tiny_text_encoder_dir, data_time_warning=-0.1)
