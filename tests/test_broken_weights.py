"""A truncated or garbage weights file is reported with its path, by `from_pretrained` and by the pipeline."""

from __future__ import annotations

import shutil

import pytest
from transformers import pipeline

from modeling_supreme import SupremeModel


@pytest.fixture(params=["truncated", "garbage"])
def broken_checkpoint(request, tiny_checkpoint, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if request.param == "truncated" else b"\x13" * 4000)
    return folder


def test_from_pretrained_names_the_broken_weights_file(broken_checkpoint):
    with pytest.raises(ValueError, match="cannot be read") as raised:
        SupremeModel.from_pretrained(broken_checkpoint)
    assert str(broken_checkpoint / "model.safetensors") in str(raised.value)


def test_the_pipeline_names_the_broken_weights_file(broken_checkpoint):
    with pytest.raises(ValueError) as raised:
        pipeline("ecg-zero-shot", model=str(broken_checkpoint))
    assert str(broken_checkpoint / "model.safetensors") in str(raised.value)
