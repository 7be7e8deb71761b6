"""Model options deleted after they lost or never won (docs/experiments.md): a model folder saved while they existed,
with the option off (its default, or null), loads as before; one saved with it on is refused naming the field, not
half-loaded. A deleted objective is refused with what to use instead."""

from __future__ import annotations

import json
import re

import pytest
import torch

from modeling_supreme import SupremeConfig, SupremeModel
from modeling_supreme.configuration_supreme import DELETED_FIELDS, DELETED_OBJECTIVES, OBJECTIVES
from modeling_supreme.training import TrainingOptions
from tests.tiny_models import tiny_config

# A value each deleted field held when its option was on.
ON_VALUES = {"query_negation": {"before": ["no"]}, "label_embedding_noise": 0.5, "clip_weight": 0.25}


def test_every_deleted_field_has_an_on_value_here_and_is_no_parameter_any_more():
    assert set(ON_VALUES) == set(DELETED_FIELDS)
    assert not set(DELETED_FIELDS) & set(SupremeConfig.__init__.__code__.co_varnames)


@pytest.mark.parametrize("name", sorted(DELETED_FIELDS))
def test_a_config_saved_with_a_deleted_field_loads_when_it_was_off(tmp_path, name):
    model = SupremeModel(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    saved = json.loads(config_file.read_text())
    values = torch.randn(1, 12, model.config.num_samples)
    for off in (DELETED_FIELDS[name], None):  # its default, as written while the option existed, and null
        config_file.write_text(json.dumps({**saved, name: off}))
        loaded = SupremeModel.from_pretrained(tmp_path).eval()
        assert not hasattr(loaded.config, name) and name not in loaded.config.to_dict()
        with torch.no_grad():
            torch.testing.assert_close(loaded.get_ecg_features(values)[1], model.get_ecg_features(values)[1])
    for on in (ON_VALUES[name], True):
        config_file.write_text(json.dumps({**saved, name: on}))
        with pytest.raises(ValueError, match=re.escape(f"{name}={on!r}")):
            SupremeModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("objective", sorted(DELETED_OBJECTIVES))
def test_a_config_saved_with_a_deleted_objective_is_refused_saying_what_to_use(tmp_path, objective):
    assert objective not in OBJECTIVES
    SupremeModel(tiny_config()).save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    saved = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**saved, "objective": objective, "clip_weight": 1.0}))
    with pytest.raises(ValueError, match=re.escape(f"objective={objective!r} was removed")) as refused:
        SupremeModel.from_pretrained(tmp_path)
    assert 'objective="supreme"' in str(refused.value) and 'objective="clip"' in str(refused.value)
    with pytest.raises(ValueError, match="--model-config") as refused:  # a run's flags name it too
        TrainingOptions(dataset="d", output_dir="o", model_config={"objective": objective})
    assert f"objective={objective!r} was removed" in str(refused.value)
