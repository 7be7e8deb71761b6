"""Untrusted model folders: a config.json whose size fields would allocate without end is refused before anything is
built; a safetensors header that relabels a tensor's dtype is refused naming the tensor; a deeply nested
tokenizer.json gives an error naming the file, not a RecursionError."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from transformers import AutoModel, pipeline

from modeling_supreme import SupremeConfig, SupremeModel
from modeling_supreme.processing_supreme import SupremeProcessor


@pytest.fixture
def hostile_folder(tiny_checkpoint, tmp_path) -> Path:
    folder = tmp_path / "hostile"
    shutil.copytree(tiny_checkpoint, folder)
    return folder


def _edit_config(folder: Path, edit) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


# -- size fields of config.json --------------------------------------------------------------------------------


@pytest.mark.parametrize("field, path, value", [
    ("fusion_layers", (), 10_000_000),
    ("fusion_dim", (), 2**40),
    ("fusion_ffn_dim", (), -5),
    ("num_samples", (), 10**12),
    ("widths[1]", ("ecg_encoder_kwargs", "widths"), [8, 10**9, 16, 32]),
    ("blocks", ("ecg_encoder_kwargs", "blocks"), [1] * 1000),
    ("vocab_size", ("text_config", "vocab_size"), 10**10),
    ("num_hidden_layers", ("text_config", "num_hidden_layers"), 10**6),
    ("fusion_heads", (), True),
])
def test_a_config_with_an_absurd_size_is_refused_before_allocating(hostile_folder, field, path, value):
    # `fusion_layers: 10000000` allocated for three minutes until memory ran out.
    def edit(config):
        target = config
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1] if path else field] = value

    _edit_config(hostile_folder, edit)
    for load in (SupremeModel.from_pretrained, AutoModel.from_pretrained,
                 lambda folder: pipeline("ecg-zero-shot", model=str(folder))):
        with pytest.raises(ValueError, match=rf"{field.split('[')[0]}.*(must be|1 to)"):
            load(hostile_folder)


def test_a_size_set_after_the_config_was_made_is_refused_before_building(tiny_config):
    tiny_config.fusion_layers = 10_000_000  # what from_pretrained(..., fusion_layers=...) does
    with pytest.raises(ValueError, match=r"fusion_layers must be an integer in \[1, 64\]; got 10000000"):
        SupremeModel(tiny_config)


def test_the_standard_and_the_tiny_configs_are_within_the_bounds(tiny_config):
    SupremeConfig().check_sizes()
    tiny_config.check_sizes()


# -- dtypes in the safetensors header ----------------------------------------------------------------------------


def _relabel(weights: Path, tensor: str, dtype: str) -> None:
    """Rewrite one tensor's dtype in a safetensors header, leaving its bytes (same width) where they are."""
    data = weights.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    header[tensor]["dtype"] = dtype
    text = json.dumps(header, separators=(",", ":")).encode().ljust(length)
    assert len(text) == length
    weights.write_bytes(data[:8] + text + data[8 + length :])


def _first_float_tensor(weights: Path) -> str:
    data = weights.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    return next(name for name, entry in sorted(header.items()) if name != "__metadata__" and entry["dtype"] == "F32")


def test_a_float_tensor_relabelled_as_int32_is_refused_naming_it(hostile_folder):
    # It loaded silently and the pipeline answered nan.
    weights = hostile_folder / "model.safetensors"
    tensor = _first_float_tensor(weights)
    _relabel(weights, tensor, "I32")
    for load in (SupremeModel.from_pretrained, lambda folder: pipeline("ecg-zero-shot", model=str(folder))):
        with pytest.raises(ValueError, match="dtype") as raised:
            load(hostile_folder)
        assert tensor in str(raised.value) and str(weights) in str(raised.value)


def test_weights_saved_in_half_precision_still_load(tiny_model, tmp_path):
    tiny_model.half().save_pretrained(tmp_path / "half")
    assert SupremeModel.from_pretrained(tmp_path / "half").dtype.is_floating_point


# -- nesting in tokenizer.json -------------------------------------------------------------------------------------


def test_a_deeply_nested_tokenizer_json_is_refused_naming_the_file(hostile_folder):
    tokenizer_file = hostile_folder / "tokenizer.json"
    text = tokenizer_file.read_text()
    assert text.lstrip().startswith("{")
    # 100,000 nested lists under an extra key of the top-level object: a RecursionError in every JSON reader.
    tokenizer_file.write_text(text.lstrip()[:1] + '"nested": ' + "[" * 100_000 + "]" * 100_000 + ", "
                              + text.lstrip()[1:])
    for load in (lambda folder: pipeline("ecg-zero-shot", model=str(folder)), SupremeProcessor.from_pretrained):
        with pytest.raises(ValueError, match="nest") as raised:
            load(hostile_folder)
        assert str(tokenizer_file) in str(raised.value)
