"""The label texts the training loop feeds each batch: the vocabulary's fixed texts, or one surface form per label
drawn from (seed, epoch, batch) with `--label-text sample`, as tokens or, for a frozen text tower, as cached
embeddings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Optional

import torch

from ..label_scoring_supreme import LabelEmbeddingCache
from .label_texts import LabelTextSampler

logger = logging.getLogger(__name__)


class TrainingLabelInputs:
    """Label inputs per batch. `sampler` draws the texts with `--label-text sample`; else `fixed_texts` (the
    model's `config.label_texts`) are tokenised once. No vocabulary (a CLIP-only run): no label inputs."""

    def __init__(
        self,
        processor: Any,
        device: torch.device,
        cache: LabelEmbeddingCache,
        sampler: Optional[LabelTextSampler] = None,
        fixed_texts: Sequence[str] = (),
    ) -> None:
        self.processor = processor
        self.device = device
        self.cache = cache
        self.sampler = sampler
        self.fixed = self._tokenized(fixed_texts) if sampler is None and fixed_texts else {}

    @classmethod
    def for_run(
        cls, processor: Any, device: torch.device, cache: LabelEmbeddingCache, vocabulary: Any, label_text: str,
        seed: int, fixed_texts: Sequence[str],
    ) -> "TrainingLabelInputs":
        """The label inputs of a run: sampled with `label_text == "sample"`, else fixed; none without a
        vocabulary."""
        if vocabulary is None:
            return cls(processor, device, cache)
        if label_text == "sample":
            sampler = LabelTextSampler.from_vocabulary(vocabulary, seed)
            logger.info("Label texts: one of %d surface forms per label and batch (%d labels)",
                        len(sampler.distinct_texts), len(vocabulary))
            return cls(processor, device, cache, sampler=sampler)
        return cls(processor, device, cache, fixed_texts=fixed_texts)

    def encode_forms(self, model: torch.nn.Module) -> None:
        """With sampled label texts and a frozen tower: encode every form once, in one fixed order, after the weights
        are final (a resume loads them, which invalidates the cache). A form's embedding then never depends on which
        texts shared its text-tower call, so a resumed run gets bit-identical embeddings."""
        if self.sampler is not None and self.cache.can_reuse(model):
            self.cache.embed_texts(model, self.processor, self.sampler.distinct_texts)

    def model_inputs(self, model: torch.nn.Module, epoch: int, batch: int) -> dict[str, torch.Tensor]:
        """The label inputs of batch `batch` of `epoch` for `model`'s forward (tokens, or cached `label_embeds`):
        drawn from (seed, epoch, batch) when sampled, so that a resumed run draws what an uninterrupted one would."""
        if self.sampler is None:
            return self.cache.model_inputs(model, **self.fixed) if self.fixed else {}
        return self.cache.model_inputs(model, **self._tokenized(self.sampler.draw(epoch, batch)))

    def _tokenized(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        tokens = self.processor.tokenize_labels(texts)
        return {key: tokens[key].to(self.device) for key in ("input_ids", "attention_mask")}


__all__ = ["TrainingLabelInputs"]
