"""Checkpoints hold no pickle and resuming survives broken ones: a truncated newest checkpoint is skipped with a
warning naming it, an explicitly named broken one is refused naming the file, and a planted pickle is never run."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from modeling_supreme.training import list_checkpoints, run_training
from modeling_supreme.training.run_state import from_json_tree, read_tree, to_json_tree, write_tree
from tests.training_helpers import (
    fresh_accelerate_state,  # noqa: F401 (an autouse fixture)
    tiny_options,
)

SETTINGS = dict(max_steps=6, save_steps=2, eval_steps=2, dropout=0.2, save_total_limit=0)


class Interrupted(Exception):
    pass


def _stop_after(step: int):
    def callback(state):
        if state.global_step == step:
            raise Interrupted
    return callback


def _interrupted_run(training_dataset, encoder, folder: Path, step: int = 5):
    options = tiny_options(training_dataset, folder, encoder, **SETTINGS)
    with pytest.raises(Interrupted):
        run_training(options, callbacks=[_stop_after(step)])
    return tiny_options(training_dataset, folder, encoder, resume="latest", **SETTINGS)


def test_a_truncated_newest_checkpoint_is_skipped_and_the_run_ends_as_an_uninterrupted_one(
    training_dataset, tiny_text_encoder_dir, tmp_path, caplog
):
    reference = tiny_options(training_dataset, tmp_path / "reference", tiny_text_encoder_dir, **SETTINGS)
    run_training(reference)
    resumed = _interrupted_run(training_dataset, tiny_text_encoder_dir, tmp_path / "run")
    newest = list_checkpoints(resumed.output_dir)[-1]
    assert newest.name == "checkpoint-4"
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a copy cut short, a disk that filled up

    with caplog.at_level("WARNING"):
        result = run_training(resumed)

    warning = next(message for message in caplog.messages if "skipping checkpoint" in message)
    assert str(newest) in warning and str(weights) in warning
    assert result.global_step == 6
    expected = load_file(tmp_path / "reference" / "checkpoints" / "checkpoint-6" / "model.safetensors")
    actual = load_file(tmp_path / "run" / "checkpoints" / "checkpoint-6" / "model.safetensors")
    assert all(torch.equal(expected[key], actual[key]) for key in expected)


def test_an_explicitly_named_broken_checkpoint_is_refused_naming_the_file(
    training_dataset, tiny_text_encoder_dir, tmp_path
):
    options = _interrupted_run(training_dataset, tiny_text_encoder_dir, tmp_path / "run", step=3)
    checkpoint = list_checkpoints(options.output_dir)[-1]
    (checkpoint / "optimizer.json").write_text("{not json")
    options.resume = str(checkpoint)
    with pytest.raises(ValueError, match="cannot be loaded") as raised:
        run_training(options)
    assert str(checkpoint / "optimizer.json") in str(raised.value)


class _Planted:
    """Unpickling this creates a file: the proof that a checkpoint's pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_in_a_checkpoint_is_never_unpickled(training_dataset, tiny_text_encoder_dir, tmp_path):
    options = _interrupted_run(training_dataset, tiny_text_encoder_dir, tmp_path / "run")
    marker = tmp_path / "the-pickle-ran"
    for checkpoint in list_checkpoints(options.output_dir):
        for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin", "scheduler.bin"):
            (checkpoint / name).write_bytes(pickle.dumps(_Planted(marker)))
    run_training(options)
    assert not marker.exists()


def test_a_run_writes_no_pickle(training_dataset, tiny_text_encoder_dir, tmp_path):
    run_training(tiny_options(training_dataset, tmp_path / "run", tiny_text_encoder_dir, max_steps=2, eval_steps=2))
    files = [path for path in (tmp_path / "run").rglob("*") if path.is_file()]
    assert files and not [path for path in files if path.read_bytes()[:1] == b"\x80"]  # pickle protocols 2-5
    assert not [path for path in files if path.suffix in (".pkl", ".bin", ".pt", ".pth")]
    checkpoint = list_checkpoints(tmp_path / "run")[-1]
    assert json.loads((checkpoint / "loop_state.json").read_text())["scheduler"]["last_epoch"] == 2


def test_state_trees_round_trip_tensors_arrays_tuples_and_integer_keys(tmp_path):
    state = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2, 3)}},
             "numpy": ("MT19937", np.arange(4, dtype=np.uint32), 2), "lr": [1e-3], "flag": None}
    write_tree(tmp_path, "tree", state)
    restored = read_tree(tmp_path, "tree")
    assert restored["state"][0]["exp_avg"].equal(torch.ones(2, 3)) and restored["lr"] == [1e-3]
    assert restored["numpy"][0] == "MT19937" and isinstance(restored["numpy"], tuple)
    np.testing.assert_array_equal(restored["numpy"][1], np.arange(4))
    with pytest.raises(TypeError, match=r"state entry \.hook: function cannot be saved without pickle"):
        to_json_tree({"hook": lambda: None}, {})
    with pytest.raises(KeyError, match="tensor '.x' is missing"):
        from_json_tree({"__tensor__": ".x"}, {}, "somewhere.safetensors")
