"""Pre-training of SuPreME models with accelerate: options (flags / YAML), data collation, the training loop with
validation-based model selection and exact resume, and the final model folder.

    from modeling_supreme.training import TrainingOptions, run_training
    result = run_training(TrainingOptions(dataset="outputs/ptbxl-entities", output_dir="runs/demo", max_steps=200))

`train_accelerate.py` is the command-line entry point (`accelerate launch train_accelerate.py --config run.yaml`).
"""

from typing import Any

from ..extras import require_extra
from ..moved_modules import moved_name

require_extra("train", "modeling_supreme.training", ["datasets", "accelerate", "evaluate", "sklearn"])

from .checkpointing import TrainerState, latest_checkpoint, list_checkpoints
from .data import SupremeCollator, load_splits, resolve_vocabulary
from .export import push_trained_folder, save_model_folder
from .model_factory import build_model, build_processor
from .options import TrainingOptions, build_parser, load_yaml_config, parse_training_options
from .tracking import JsonlTracker, read_metrics
from .trainer import SupremeTrainer, TrainingResult, run_training
from .validation_targets import ValidationSet, build_validation_set

__all__ = [
    "JsonlTracker",
    "SupremeCollator",
    "SupremeTrainer",
    "TrainerState",
    "TrainingOptions",
    "TrainingResult",
    "ValidationSet",
    "build_model",
    "build_parser",
    "build_processor",
    "build_validation_set",
    "latest_checkpoint",
    "list_checkpoints",
    "load_splits",
    "load_yaml_config",
    "parse_training_options",
    "push_trained_folder",
    "read_metrics",
    "resolve_vocabulary",
    "run_training",
    "save_model_folder",
]


def __getattr__(name: str) -> Any:
    """Names that moved out of this package (`MOVED_NAMES`: the held-out evaluation is evaluation), given here for one
    more release with a FutureWarning. Imported only when asked for: `evaluation.heldout` reads splits with `.data`."""
    return moved_name(__name__, name)
