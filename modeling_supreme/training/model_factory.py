"""The model and processor of a pre-training run, built from its options and label vocabulary."""

from __future__ import annotations

import logging
from typing import Optional

from torch import nn
from transformers import AutoTokenizer

from ..configuration_supreme import default_text_encoder_path
from ..entities import Vocabulary
from ..feature_extraction_supreme import SupremeFeatureExtractor
from ..modeling_supreme import SupremeModel
from ..processing_supreme import SupremeProcessor
from .options import TrainingOptions

logger = logging.getLogger(__name__)

# Parts of SupremeModel that only one objective trains. Under the other objective they get no gradient, which
# DistributedDataParallel refuses (and AdamW weight decay would still shrink them): they are frozen instead.
_SUPREME_ONLY_MODULES = ("label_projection", "fusion")
_CLIP_ONLY_MODULES = ("ecg_projection", "text_projection")


def build_model(options: TrainingOptions, vocabulary: Optional[Vocabulary]) -> SupremeModel:
    """A fresh `SupremeModel` with a pretrained text tower, the run's architecture and the vocabulary as labels.

    The config's label texts (what the pipeline encodes when asked for the model's own labels) are the labels' names,
    or their lexicon descriptions with `--label-text description`. With `--label-text sample` training draws other
    surface forms per batch (`training.label_texts`), but the name stays the label's text in the config.
    """
    model = SupremeModel.from_text_pretrained(options.text_encoder, config=options.supreme_config)
    if vocabulary is not None:
        # Without descriptions, `set_labels` makes each label's text its name.
        descriptions = vocabulary.descriptions if options.label_text == "description" else None
        model.config.set_labels(vocabulary.labels, descriptions)
    freeze_unused_parts(model)
    return model


def build_processor(options: TrainingOptions) -> SupremeProcessor:
    """The processor matching `build_model`: the text encoder's tokenizer and a feature extractor at the model's
    sampling rate and length (the run's one `SupremeConfig`; the saved folder's two agree)."""
    tokenizer = AutoTokenizer.from_pretrained(options.text_encoder or default_text_encoder_path())
    feature_extractor = SupremeFeatureExtractor(sampling_rate=options.sampling_rate, num_samples=options.num_samples)
    return SupremeProcessor(
        feature_extractor,
        tokenizer,
        label_max_length=options.label_max_length,
        report_max_length=options.report_max_length,
    )


def freeze_unused_parts(model: SupremeModel) -> None:
    """Freeze the heads the configured objective never uses (see `_SUPREME_ONLY_MODULES` / `_CLIP_ONLY_MODULES`)."""
    objective = model.config.objective
    unused = {"supreme": _CLIP_ONLY_MODULES, "clip": _SUPREME_ONLY_MODULES}[objective]
    for name in unused:
        module: nn.Module = getattr(model, name)
        module.requires_grad_(False)
    if objective == "supreme":
        model.logit_scale.requires_grad_(False)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(parameter.numel() for parameter in model.parameters())
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    return trainable, total


__all__ = ["build_model", "build_processor", "count_parameters", "freeze_unused_parts"]
