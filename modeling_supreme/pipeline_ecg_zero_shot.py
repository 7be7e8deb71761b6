"""`ecg-zero-shot` pipeline: score an ECG against any labels given as text.

```python
>>> from transformers import pipeline
>>> classifier = pipeline("ecg-zero-shot", model="path/or/hub-id")
>>> classifier("records100/00000/00001_lr", candidate_labels=["atrial fibrillation", "normal ecg"])
[{'label': 'normal ecg', 'score': 0.91}, {'label': 'atrial fibrillation', 'score': 0.02}]
```
Scores are independent sigmoid probabilities (multi-label, as SigLIP), not a softmax over the candidates.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import torch
from transformers import Pipeline

from .reading_supreme import EcgRecord, is_ecg_record, read_ecg

EcgInput = Union[str, os.PathLike, np.ndarray, torch.Tensor, Mapping[str, Any], EcgRecord]

# Distinct label sets whose tokens are kept between calls.
TOKEN_CACHE_SIZE = 16


class EcgZeroShotPipeline(Pipeline):
    """Zero-shot ECG classification with a [`SupremeModel`].

    Inputs: a WFDB record path (with or without extension), a numpy array or torch tensor (leads, samples) with
    `sampling_rate=` (and optional `lead_names=`), a dict `{"signal", "sampling_rate", "lead_names"}`, an
    `EcgRecord`, or a list of these (use `batch_size=` to batch them).

    Call arguments:
        candidate_labels: list of label texts, or dict label -> description (the description is what is encoded).
            Without it, the model's own label vocabulary (`config.id2label` with `config.label_descriptions`).
        hypothesis_template: format string with one `{}` applied to each encoded text (default "{}").
        sampling_rate, lead_names: for array inputs.
        return_attention: also return, per label, the fusion network's attention over the ECG tokens (N,).

    Returns `[{"label", "score"}]` sorted by descending score (a list of such lists for a list input).
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = True
    _load_tokenizer = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._label_tokens: OrderedDict[tuple[str, ...], Any] = OrderedDict()

    def __call__(self, inputs: Union[EcgInput, Sequence[EcgInput]], **kwargs: Any) -> Any:
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(
        self,
        candidate_labels: Optional[Union[Sequence[str], Mapping[str, str]]] = None,
        hypothesis_template: Optional[str] = None,
        sampling_rate: Optional[float] = None,
        lead_names: Optional[Sequence[str]] = None,
        return_attention: Optional[bool] = None,
        **kwargs: Any,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        preprocess_params: dict[str, Any] = {}
        if candidate_labels is not None:
            preprocess_params["candidate_labels"] = candidate_labels
        if hypothesis_template is not None:
            preprocess_params["hypothesis_template"] = hypothesis_template
        if sampling_rate is not None:
            preprocess_params["sampling_rate"] = sampling_rate
        if lead_names is not None:
            preprocess_params["lead_names"] = lead_names
        forward_params = {"return_attention": bool(return_attention)} if return_attention is not None else {}
        return preprocess_params, forward_params, {}

    # -- preprocess -------------------------------------------------------------------------------------------------

    def preprocess(
        self,
        ecg: EcgInput,
        candidate_labels: Optional[Union[Sequence[str], Mapping[str, str]]] = None,
        hypothesis_template: str = "{}",
        sampling_rate: Optional[float] = None,
        lead_names: Optional[Sequence[str]] = None,
    ) -> dict[str, Any]:
        signal, rate, names = _unpack_ecg(ecg, sampling_rate, lead_names)
        inputs = dict(self.feature_extractor(signal, sampling_rate=rate, lead_names=names, return_tensors="pt"))
        inputs["ecg_values"] = inputs["ecg_values"].to(self.dtype) if self.dtype is not None else inputs["ecg_values"]
        labels, texts = self._resolve_labels(candidate_labels, hypothesis_template)
        inputs["candidate_labels"] = labels
        # Wrapped in a list so that batching leaves the (L, S) label tokens alone.
        inputs["text_inputs"] = [self._tokenize_labels(texts)]
        return inputs

    def _resolve_labels(
        self, candidate_labels: Optional[Union[Sequence[str], Mapping[str, str]]], hypothesis_template: str
    ) -> tuple[list[str], list[str]]:
        """-> (label names returned to the user, texts encoded by the model)."""
        if candidate_labels is None:
            config = self.model.config
            labels = [name for _, name in sorted(config.id2label.items())]
            if not labels or not getattr(config, "label_descriptions", None):
                raise ValueError(
                    "This model has no label vocabulary of its own: pass `candidate_labels=[...]` to the pipeline."
                )
            descriptions = [config.label_descriptions.get(name, name) for name in labels]
        elif isinstance(candidate_labels, Mapping):
            labels, descriptions = list(candidate_labels.keys()), [str(text) for text in candidate_labels.values()]
        elif isinstance(candidate_labels, str):
            labels = descriptions = [candidate_labels]
        else:
            labels = descriptions = [str(label) for label in candidate_labels]
        if not labels:
            raise ValueError("`candidate_labels` is empty: give at least one label text.")
        if hypothesis_template.count("{}") != 1:
            raise ValueError(f"hypothesis_template must contain exactly one '{{}}'; got {hypothesis_template!r}.")
        return list(labels), [hypothesis_template.format(text) for text in descriptions]

    def _tokenize_labels(self, texts: list[str]) -> Any:
        key = tuple(texts)
        if key not in self._label_tokens:
            max_length = getattr(self.model.config, "label_max_length", 64)
            self._label_tokens[key] = self.tokenizer(
                texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            while len(self._label_tokens) > TOKEN_CACHE_SIZE:
                self._label_tokens.popitem(last=False)
        self._label_tokens.move_to_end(key)
        return self._label_tokens[key]

    # -- forward / postprocess ------------------------------------------------------------------------------------------

    def _forward(self, model_inputs: dict[str, Any], return_attention: bool = False) -> dict[str, Any]:
        candidate_labels = model_inputs.pop("candidate_labels")
        text_inputs = model_inputs.pop("text_inputs")
        # Unbatched: [tokens]; batched: [[tokens], [tokens], ...] (every item of one call has the same labels).
        tokens = text_inputs[0] if isinstance(text_inputs[0], Mapping) else text_inputs[0][0]
        outputs = self.model(
            ecg_values=model_inputs["ecg_values"],
            lead_mask=model_inputs.get("lead_mask"),
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
            output_attentions=return_attention,
        )
        model_outputs = {"candidate_labels": candidate_labels, "logits": outputs.logits}
        if return_attention:
            model_outputs["attentions"] = outputs.cross_attentions
        return model_outputs

    def postprocess(self, model_outputs: dict[str, Any]) -> list[dict[str, Any]]:
        labels = model_outputs["candidate_labels"]
        scores = torch.sigmoid(model_outputs["logits"][0].float()).tolist()
        attentions = model_outputs.get("attentions")
        results = []
        for index, (label, score) in enumerate(zip(labels, scores)):
            result: dict[str, Any] = {"label": label, "score": score}
            if attentions is not None:
                result["attention"] = attentions[0, index].float().cpu().numpy()
            results.append(result)
        return sorted(results, key=lambda result: -result["score"])


def _unpack_ecg(
    ecg: EcgInput, sampling_rate: Optional[float], lead_names: Optional[Sequence[str]]
) -> tuple[Any, Optional[float], Optional[Sequence[str]]]:
    """One pipeline input -> (signal or EcgRecord, sampling rate, lead names) for the feature extractor."""
    if isinstance(ecg, (str, os.PathLike)):
        return read_ecg(ecg), None, None
    if is_ecg_record(ecg):
        return ecg, None, None
    if isinstance(ecg, Mapping):
        missing = {"signal", "sampling_rate"} - set(ecg)
        if missing:
            raise ValueError(f"An ECG given as a dict needs the keys 'signal' and 'sampling_rate'; missing {sorted(missing)}.")
        return ecg["signal"], ecg["sampling_rate"], ecg.get("lead_names", lead_names)
    if isinstance(ecg, (np.ndarray, torch.Tensor)):
        if sampling_rate is None:
            raise ValueError(
                f"An ECG array of shape {tuple(ecg.shape)} needs `sampling_rate=` (and `lead_names=` unless its 12 rows "
                "are I, II, III, aVR, aVL, aVF, V1-V6)."
            )
        return ecg, sampling_rate, lead_names
    raise ValueError(
        f"Cannot read an ECG from {type(ecg).__name__}: give a WFDB record path, an array with sampling_rate=, "
        "or a dict with 'signal' and 'sampling_rate'."
    )


__all__ = ["EcgZeroShotPipeline"]
