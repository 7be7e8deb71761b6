"""Shared pieces of the training tests: a small real PTB-XL dataset with entities, built once per test module, and
options of a test-sized run (tiny ResNet, tiny BERT text encoder, 100 Hz)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modeling_supreme.dataset_builders import BuildSettings
from modeling_supreme.dataset_builders.ptbxl import build_ptbxl
from modeling_supreme.entities import LexiconExtractor
from modeling_supreme.entities.annotate import add_entities
from modeling_supreme.training import TrainingOptions
from modeling_supreme.training.options import supreme_config_fields
from tests.dataset_builders_helpers import copy_ptbxl_subset
from tests.sample_data import PTBXL_DIR
from tests.tiny_models import TINY_MODEL_FIELDS

# The first 90 records of the bundled sample: 61 in folds 1-8 (train), 19 in fold 9, 10 in fold 10.
TRAINING_ECG_IDS = list(pd.read_csv(PTBXL_DIR / "ptbxl_database.csv", usecols=["ecg_id"])["ecg_id"][:90])


def build_training_dataset(folder: Path) -> Path:
    """Build PTB-XL (100 Hz) from `TRAINING_ECG_IDS` and add the lexicon's entities; -> the dataset folder."""
    copy_ptbxl_subset(folder / "raw", TRAINING_ECG_IDS, rate=100)
    build_ptbxl(folder / "raw", folder / "built", 100, BuildSettings(progress=False))
    add_entities(folder / "built", folder / "dataset", LexiconExtractor())
    return folder / "dataset"


@pytest.fixture(scope="module")
def training_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real PTB-XL dataset folder with `entities` (train / validation / test = folds 1-8 / 9 / 10)."""
    return build_training_dataset(tmp_path_factory.mktemp("training-dataset"))


def tiny_options(dataset: Path, output_dir: Path, text_encoder: Path, **overrides: Any) -> TrainingOptions:
    """A run that takes seconds on CPU: tiny ResNet, tiny BERT, 1-layer fusion network, batches of 8.

    `overrides` may name SupremeConfig fields (objective=..., dropout=...): they go into `model_config`."""
    values: dict[str, Any] = {
        "dataset": str(dataset),
        "output_dir": str(output_dir),
        "text_encoder": str(text_encoder),
        "model_preset": TINY_MODEL_FIELDS["ecg_encoder"],
        "model_config": dict(TINY_MODEL_FIELDS),
        "report_max_length": 32,
        "min_label_count": 2,
        "batch_size": 8,
        "learning_rate": 3e-3,
        "max_steps": 6,
        "logging_steps": 1,
        "eval_steps": 3,
        "save_steps": 3,
        "eval_batch_size": 16,
    }
    model_fields = set(supreme_config_fields())
    values["model_config"].update({key: value for key, value in overrides.items() if key in model_fields})
    values.update({key: value for key, value in overrides.items() if key not in model_fields})
    return TrainingOptions(**values)


def tiny_flags(options: TrainingOptions, exclude: tuple[str, ...] = ()) -> list[str]:
    """`options` (except the fields in `exclude`) as command-line flags of train_accelerate.py."""
    flags: list[str] = []
    for name, value in vars(options).items():
        if value is None or name in exclude or name.startswith("_"):  # private: derived when options are parsed
            continue
        flag = f"--{name.replace('_', '-')}"
        if isinstance(value, bool):
            flags.append(flag if value else f"--no-{name.replace('_', '-')}")
        elif isinstance(value, list):
            flags += [flag, *map(str, value)]
        elif isinstance(value, dict):  # --model-config KEY=VALUE items; JSON is YAML, which the flag reads
            flags += [flag, *(f"{key}={json.dumps(item)}" for key, item in value.items())]
        else:
            flags += [flag, str(value)]
    return flags


class Interrupted(Exception):
    """Stands for a crash or a killed job."""


def stop_after(step: int):
    """A step callback that raises `Interrupted` once the run reaches `step`."""
    def callback(state):
        if state.global_step == step:
            raise Interrupted
    return callback


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """accelerate keeps one state per process; runs with other settings (precision, processes) need it cleared.
    Autouse in every module that imports it."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def training_lead_masks(monkeypatch: pytest.MonkeyPatch, options: TrainingOptions) -> list[Any]:
    """Run `options` and return the lead masks (B, 12) of the model's training forwards (batches of the run's batch
    size), recorded by a forward pre-hook on the model the trainer builds."""
    import modeling_supreme.training.trainer as trainer_module

    seen: list[Any] = []
    build = trainer_module.build_model

    def recording_build_model(*args: Any, **kwargs: Any) -> Any:
        model = build(*args, **kwargs)
        model.register_forward_pre_hook(lambda _, args_, kwargs_: seen.append(kwargs_["lead_mask"].clone()),
                                        with_kwargs=True)
        return model

    monkeypatch.setattr(trainer_module, "build_model", recording_build_model)
    trainer_module.run_training(options)
    return [mask for mask in seen if mask.shape[0] == options.batch_size]


def interrupted_and_resumed(
    dataset: Path, text_encoder: Path, folder: Path, settings: dict[str, Any], stop_step: int, resumed_from: str
) -> None:
    """Run `settings` in `folder` until it is killed after `stop_step`, check that its newest checkpoint is
    `resumed_from`, and resume it to the end (`--resume latest`)."""
    from modeling_supreme.training.checkpointing import list_checkpoints
    from modeling_supreme.training.trainer import run_training

    with pytest.raises(Interrupted):
        run_training(tiny_options(dataset, folder, text_encoder, **settings), callbacks=[stop_after(stop_step)])
    assert list_checkpoints(folder)[-1].name == resumed_from
    run_training(tiny_options(dataset, folder, text_encoder, resume="latest", **settings))

