"""Training options: YAML config + flags (flags win), conversions, refusals; the shipped config files."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from modeling_supreme.training import TrainingOptions, load_yaml_config, parse_training_options
from modeling_supreme.training.options import (
    RESUME_LATEST,
    build_parser,
    supreme_config_fields,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = REPO_ROOT / "configs" / "accelerate"


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_flags_override_the_yaml_file_and_yaml_values_are_converted_like_flags(tmp_path):
    config = write_yaml(tmp_path / "run.yaml", """
dataset: data/x
output-dir: runs/x
learning_rate: 1e-4          # YAML reads this as a string
batch_size: 16
val_label_columns: super_class
select_best: false
model:
  objective: clip
""")
    options = parse_training_options(["--config", str(config), "--batch-size", "4", "--max-steps", "7"])
    assert options.learning_rate == pytest.approx(1e-4) and isinstance(options.learning_rate, float)
    assert options.batch_size == 4  # the flag wins over the file
    assert options.max_steps == 7
    assert options.val_label_columns == ["super_class"]  # a scalar becomes the one-element list the flag would give
    assert options.select_best is False and options.objective == "clip"
    assert options.output_dir == "runs/x"  # dashes and underscores both name the option


def test_every_option_is_a_flag_with_the_dataclass_default():
    parser = build_parser()
    flags = {}
    for action in parser._actions:  # argparse takes a destination's default from its first flag
        flags.setdefault(action.dest, action)
    for field in dataclasses.fields(TrainingOptions):
        assert field.name in flags, field.name
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        assert flags[field.name].default == default


def test_boolean_list_and_resume_flags():
    options = parse_training_options([
        "--dataset", "d", "--output-dir", "o", "--no-select-best", "--val-label-columns", "NORM", "MI", "--resume",
    ])
    assert options.select_best is False
    assert parse_training_options(["--dataset", "d", "--output-dir", "o", "--hub-private"]).hub_private is True
    assert parse_training_options(["--dataset", "d", "--output-dir", "o", "--no-hub-private"]).hub_private is False
    assert options.val_label_columns == ["NORM", "MI"]
    assert options.resume == RESUME_LATEST
    required = ["--dataset", "d", "--output-dir", "o"]
    assert parse_training_options([*required, "--resume", "runs/x/checkpoints/checkpoint-5"]).resume.endswith("-5")
    assert parse_training_options([*required, "--validation-split", "none"]).validation_split is None


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("dataset: d\nlearning_rat: 0.1\n", "unknown option 'learning_rat'"),
        ("dataset: d\nbatch_size: many\n", "'batch_size' has the invalid value"),
        ("dataset: d\nlog_with: wandb\n", "'log_with' must be one of"),
        ("dataset: d\nfusion_dim: 32\n", "'fusion_dim' is a SupremeConfig field: put it under `model:`"),
        ("dataset: d\nmodel: [fusion_dim]\n", "'model' must be a mapping"),
        ("dataset: d\nmodel:\n  fusion_dimm: 32\n", "'fusion_dimm' is not a SupremeConfig field"),
        ("dataset: d\nselect_best: maybe\n", "'select_best' has the invalid value"),
        ("dataset: d\nlabel_templates: ['{}', 'ecg showing {}']\n", "unknown option 'label_templates'"),
        ("dataset: d\nmodel:\n  label_embedding_noise: 0.5\n", "'label_embedding_noise' is not a SupremeConfig field"),
        ("- just\n- a list\n", "a mapping"),
    ],
)
def test_bad_yaml_files_are_refused_naming_file_and_key(tmp_path, capsys, yaml_text, message):
    config = write_yaml(tmp_path / "bad.yaml", yaml_text)
    with pytest.raises(SystemExit):
        parse_training_options(["--config", str(config), "--output-dir", "o"])
    error = capsys.readouterr().err
    assert message in error and "bad.yaml" in error


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--output-dir", "o"], "missing --dataset"),
        (["--dataset", "d", "--output-dir", "o", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["--dataset", "d", "--output-dir", "o", "--warmup-ratio", "1.5"], "--warmup-ratio must be below 1"),
        (["--dataset", "d", "--output-dir", "o", "--uncertain-value", "2"], "--uncertain-value must lie in [0, 1]"),
        (["--dataset", "d", "--output-dir", "o", "--mixed-precision", "fp8"], "invalid choice"),
        (["--dataset", "d", "--output-dir", "o", "--validation-split", "test"], "must not be a test split"),
        (["--dataset", "d", "--output-dir", "o", "--model-config", "fusion_dim"], "expected key=value"),
        (["--dataset", "d", "--output-dir", "o", "--model-config", "objective=merl"], "Unknown objective 'merl'"),
        (["--dataset", "d", "--output-dir", "o", "--model-config", "text_config={}"], "is set by the run"),
        (["--dataset", "d", "--output-dir", "o", "--model-config", "num_samples=0"], "num_samples must be an integer"),
        (["--dataset", "d", "--output-dir", "o", "--model-preset", "resnet1d_tiny"], "invalid choice"),
        (["--dataset", "d", "--output-dir", "o", "--label-templates", "{}", "ecg {}"], "unrecognized arguments"),
        (["--dataset", "d", "--output-dir", "o", "--model-config", "label_embedding_noise=0.5"],
         "'label_embedding_noise' is not a SupremeConfig field"),
        (["--dataset", "d", "--output-dir", "o", "--label-negation", "0.25"], "unrecognized arguments"),
        (["--dataset", "d", "--output-dir", "o", "--label-text", "name"], "invalid choice: 'name'"),
        (["--dataset", "d", "--output-dir", "o", "--query-negation", "lexicon"], "unrecognized arguments"),
    ],
)
def test_invalid_values_are_refused_naming_the_flag(capsys, flags, message):
    with pytest.raises(SystemExit):
        parse_training_options(flags)
    assert message in capsys.readouterr().err


def test_options_flatten_to_scalars_for_trackers():
    flat = TrainingOptions(dataset="d", output_dir="o", val_label_columns=["NORM", "MI"]).to_flat_dict()
    assert flat["val_label_columns"] == "NORM,MI" and flat["vocabulary"] == "none"
    assert all(isinstance(value, (str, int, float, bool)) for value in flat.values())


def test_demo_config_is_a_valid_run():
    values = load_yaml_config(REPO_ROOT / "configs" / "demo.yaml")
    options = TrainingOptions(**values)
    options.require_paths()
    assert options.objective == "supreme" and options.sampling_rate == 100
    # The demo evaluates on folds 9-10, which contain the validation fold: no selection on it.
    assert options.select_best is False


@pytest.mark.parametrize(
    ("name", "distributed_type", "processes", "machines"),
    [
        ("1gpu", "NO", 1, 1),
        ("8gpu_ddp", "MULTI_GPU", 8, 1),
        ("multinode_ddp", "MULTI_GPU", 16, 2),
        ("8gpu_fsdp", "FSDP", 8, 1),
    ],
)
def test_shipped_accelerate_configs_parse_with_accelerate(name, distributed_type, processes, machines):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ACCELERATE_CONFIGS / f"{name}.yaml"))
    assert config.distributed_type.value == distributed_type
    assert (config.num_processes, config.num_machines) == (processes, machines)
    if distributed_type == "FSDP":
        # Frozen and trainable parameters share wrapped modules: FSDP2 handles that per parameter.
        assert config.fsdp_config["fsdp_version"] == 2
        assert "SupremeFusionLayer" in config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"]


def test_every_supreme_config_field_is_reachable_from_flags_and_yaml(tmp_path):
    from modeling_supreme import SupremeConfig

    config = write_yaml(tmp_path / "run.yaml", """
dataset: d
output_dir: o
model_preset: resnet1d_small
model:
  fusion_dim: 64
  asl_gamma_neg: 2.0
  ecg_encoder_kwargs: {widths: [8, 16, 16, 32]}
""")
    options = parse_training_options([
        "--config", str(config), "--model-config", "fusion_dim=96", "pos_weight=[1.0, 2.5]", "logit_scale_init=10",
        "classification_loss=asymmetric",
    ])
    values = options.supreme_config_kwargs()
    # The preset, then the file's `model:` mapping, then the flag's pairs (the flag wins over the file).
    assert values == {"ecg_encoder": "resnet1d_small", "fusion_dim": 96, "asl_gamma_neg": 2.0,
                      "ecg_encoder_kwargs": {"widths": [8, 16, 16, 32]}, "pos_weight": [1.0, 2.5],
                      "logit_scale_init": 10, "classification_loss": "asymmetric"}
    built = SupremeConfig(**values)
    assert built.ecg_architecture["widths"] == [8, 16, 16, 32] and built.pos_weight == [1.0, 2.5]
    # Every settable field is accepted by --model-config (nothing restated, nothing left out).
    reachable = set(supreme_config_fields())
    signature = set(inspect.signature(SupremeConfig.__init__).parameters) - {"self", "kwargs"}
    assert reachable == signature - {"text_config", "label_descriptions"}
    for name in ("asl_gamma_pos", "asl_clip", "pos_weight", "logit_scale_init", "initializer_range", "num_leads"):
        assert name in reachable


def test_the_run_config_is_built_once_from_a_mapping_or_the_flag_pairs():
    values = {"ecg_encoder_kwargs": {"widths": [8, 16]}, "dropout": 0.25, "objective": "clip", "pos_weight": None}
    options = TrainingOptions(dataset="d", output_dir="o", model_config=values)
    assert options.model_config == values  # kept as given: no key=value text in between
    assert options.supreme_config.dropout == 0.25 and options.supreme_config.ecg_architecture["widths"] == [8, 16]
    assert options.objective == "clip"
    assert TrainingOptions(dataset="d", output_dir="o").objective == "supreme"  # SupremeConfig's default
    parsed = parse_training_options(["--dataset", "d", "--output-dir", "o", "--model-config", "dropout=0.25",
                                     "ecg_encoder_kwargs={widths: [8, 16]}", "objective=clip", "pos_weight="])
    assert parsed.model_config == values
    assert parsed.supreme_config.to_dict() == options.supreme_config.to_dict()


def test_the_docs_option_table_is_the_generated_one():
    """docs/training.md's table is what `scripts/option_table.py` prints, and it names every flag."""
    from modeling_supreme.training.options import option_table

    table = (REPO_ROOT / "docs" / "training.md").read_text(encoding="utf-8").split("<!-- training-options -->\n")[1]
    assert table == option_table(), "regenerate it: python scripts/option_table.py"
    for field in dataclasses.fields(TrainingOptions):
        assert f"`--{field.name.replace('_', '-')}" in table, field.name

