"""The feature extractor owns the input format: a model folder whose config states another one is refused at load."""

from __future__ import annotations

import json

import pytest
from transformers import pipeline

from modeling_supreme.evaluation.scoring import load_model_and_processor


def _edit_json(path, **changes):
    values = json.loads(path.read_text())
    values.update(changes)
    path.write_text(json.dumps(values))


def _set_feature_extractor_field(folder, field, value):
    # transformers 5 saves the feature extractor inside processor_config.json; the pipeline also writes its own file.
    for path in (folder / "processor_config.json", folder / "preprocessor_config.json"):
        if path.exists():
            values = json.loads(path.read_text())
            values.get("feature_extractor", values)[field] = value
            path.write_text(json.dumps(values))


def test_a_matching_folder_loads(tiny_checkpoint):
    model, processor = load_model_and_processor(tiny_checkpoint)
    assert processor.feature_extractor.sampling_rate == model.config.sampling_rate


@pytest.mark.parametrize("field, value", [("sampling_rate", 500), ("num_samples", 2500)])
def test_config_disagreeing_with_the_feature_extractor_is_refused(tiny_checkpoint, field, value):
    _edit_json(tiny_checkpoint / "config.json", **{field: value})
    with pytest.raises(ValueError, match=rf"{tiny_checkpoint}.*disagree.*{field}: config {value}"):
        load_model_and_processor(tiny_checkpoint)
    with pytest.raises(ValueError, match=f"disagree.*{field}"):
        pipeline("ecg-zero-shot", model=str(tiny_checkpoint))


def test_feature_extractor_disagreeing_with_the_config_is_refused(tiny_checkpoint):
    _set_feature_extractor_field(tiny_checkpoint, "sampling_rate", 250)
    with pytest.raises(ValueError, match="sampling_rate: config 100, feature extractor 250"):
        load_model_and_processor(tiny_checkpoint)
    with pytest.raises(ValueError, match="sampling_rate: config 100, feature extractor 250"):
        pipeline("ecg-zero-shot", model=str(tiny_checkpoint))
