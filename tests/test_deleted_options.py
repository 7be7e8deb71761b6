"""Model options deleted after they lost (docs/experiments.md): a model folder saved while they existed, with the
option off, loads as before; one saved with it on is refused naming the field, not half-loaded."""

from __future__ import annotations

import json

import pytest
import torch

from modeling_supreme import SupremeModel
from modeling_supreme.configuration_supreme import DELETED_FIELDS
from tests.tiny_models import tiny_config


@pytest.mark.parametrize("name", sorted(DELETED_FIELDS))
def test_a_config_saved_with_a_deleted_field_loads_when_it_was_off(tmp_path, name):
    model = SupremeModel(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    saved = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**saved, name: DELETED_FIELDS[name]}))  # as written while the option existed
    loaded = SupremeModel.from_pretrained(tmp_path).eval()
    assert not hasattr(loaded.config, name) and name not in loaded.config.to_dict()
    values = torch.randn(1, 12, model.config.num_samples)
    with torch.no_grad():
        torch.testing.assert_close(loaded.get_ecg_features(values)[1], model.get_ecg_features(values)[1])
    config_file.write_text(json.dumps({**saved, name: True}))
    with pytest.raises(ValueError, match=f"{name}=True"):
        SupremeModel.from_pretrained(tmp_path)
