"""Test-sized SuPreME configurations (built from presets with overrides; nothing test-only is registered in the
library): a tiny ResNet or ViT on 10 s at 100 Hz and a 2-layer BERT of width 32. They build in well under a second and
travel with a saved checkpoint like any other config, so remote-code loading works for them too."""

from __future__ import annotations

import copy
from typing import Any

# A BERT small enough for unit tests; pair it with a tokenizer of at most `vocab_size` tokens.
TINY_TEXT_CONFIG: dict[str, Any] = {
    "model_type": "bert",
    "vocab_size": 512,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
    "type_vocab_size": 2,
}

# ECG encoders for tests, as {preset, overrides}: a ResNet that builds in milliseconds and a 2-layer ViT.
TINY_ECG_ENCODERS: dict[str, dict[str, Any]] = {
    "resnet": {"ecg_encoder": "resnet1d18", "ecg_encoder_kwargs": {"widths": [8, 16, 16, 32], "blocks": [1, 1, 1, 1]}},
    "vit": {
        "ecg_encoder": "vit1d_tiny",
        "ecg_encoder_kwargs": {"patch_size": 25, "width": 32, "depth": 2, "heads": 2, "mlp_ratio": 2.0},
    },
}

# SupremeConfig fields of the tiny model besides its text tower.
TINY_MODEL_FIELDS: dict[str, Any] = {
    **TINY_ECG_ENCODERS["resnet"],
    "sampling_rate": 100,
    "num_samples": 1000,
    "fusion_dim": 32,
    "fusion_layers": 1,
    "fusion_heads": 2,
    "fusion_ffn_dim": 64,
    "embed_dim": 32,
    "label_max_length": 16,
}


def tiny_config(**kwargs: Any):
    """A test-sized `SupremeConfig`; `kwargs` override its fields (e.g. `**TINY_ECG_ENCODERS["vit"]`)."""
    from modeling_supreme import SupremeConfig

    values = {**copy.deepcopy(TINY_MODEL_FIELDS), "text_config": copy.deepcopy(TINY_TEXT_CONFIG)}
    values.update(kwargs)
    return SupremeConfig(**values)
