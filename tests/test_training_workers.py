"""Training with DataLoader workers (persistent, prefetching, rows read in batches) sees exactly the batches of a run
without workers, an interrupted and resumed run with workers ends with the same weights, and no worker outlives it."""

from __future__ import annotations

import multiprocessing

import pytest
import torch
from accelerate.state import AcceleratorState
from safetensors.torch import load_file

from modeling_supreme.training import list_checkpoints, run_training
from tests.training_helpers import tiny_options


class Interrupted(Exception):
    """Stands for a crash or a killed job."""


def stop_after(step: int):
    def callback(state):
        if state.global_step == step:
            raise Interrupted
    return callback


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def _weights(folder):
    return load_file(folder / "checkpoints" / "checkpoint-8" / "model.safetensors")


@pytest.mark.slow
def test_workers_and_resume_give_the_weights_of_a_run_without_workers(
    training_dataset, tiny_text_encoder_dir, tmp_path
):
    # 61 training ECGs in batches of 8: 7 batches per epoch; 8 steps cross an epoch boundary; killed after step 5,
    # resumed from the step-3 checkpoint in mid-epoch.
    settings = {"max_steps": 8, "save_steps": 3, "eval_steps": 0, "validation_split": "none", "dropout": 0.2}
    reference = run_training(tiny_options(training_dataset, tmp_path / "reference", tiny_text_encoder_dir, **settings))
    AcceleratorState._reset_state(reset_partial_state=True)
    with_workers = dict(settings, num_workers=2)
    interrupted = tiny_options(training_dataset, tmp_path / "interrupted", tiny_text_encoder_dir, **with_workers)
    with pytest.raises(Interrupted):
        run_training(interrupted, callbacks=[stop_after(5)])
    assert [path.name for path in list_checkpoints(interrupted.output_dir)][-1] == "checkpoint-3"
    AcceleratorState._reset_state(reset_partial_state=True)
    resumed = run_training(
        tiny_options(training_dataset, tmp_path / "interrupted", tiny_text_encoder_dir, resume="latest", **with_workers)
    )
    assert resumed.global_step == reference.global_step == 8
    expected, got = _weights(tmp_path / "reference"), _weights(tmp_path / "interrupted")
    assert all(torch.equal(expected[key], got[key]) for key in expected)
    import gc

    gc.collect()
    for child in multiprocessing.active_children():
        child.join(timeout=10)
    assert not multiprocessing.active_children()
