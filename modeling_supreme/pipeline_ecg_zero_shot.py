"""`ecg-zero-shot` pipeline: score an ECG against any labels given as text.

```python
>>> from transformers import pipeline
>>> classifier = pipeline("ecg-zero-shot", model="path/or/hub-id")
>>> classifier("records100/00000/00001_lr", candidate_labels=["atrial fibrillation", "normal ecg"])
[{'label': 'normal ecg', 'score': 0.91}, {'label': 'atrial fibrillation', 'score': 0.02}]
```
Scores are independent sigmoid probabilities (multi-label, as SigLIP), not a softmax over the candidates. A model
trained with `objective="clip"` (MERL-style InfoNCE, which leaves a sigmoid of its scaled cosine uncalibrated) returns
cosine similarities in [-1, 1] instead; `pipe.score_kind` says which.
"""

from __future__ import annotations

import logging
import numbers
import os
import string
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import torch
from transformers import AutoTokenizer, Pipeline

from .feature_extraction_supreme import SupremeFeatureExtractor
from .label_scoring_supreme import (
    LabelEmbeddingCache,
    LabelPrompts,
    expand_label_prompts,
    unwrap_supreme_model,
    zero_shot_logits,
)
from .reading_supreme import EcgRecord, is_ecg_record, read_ecg
from .storage_supreme import GAIN_COLUMN, LENGTH_COLUMN, row_signals

logger = logging.getLogger(__name__)

EcgInput = Union[str, os.PathLike, np.ndarray, torch.Tensor, Mapping[str, Any], EcgRecord]

# Distinct label sets whose tokens are kept between calls.
TOKEN_CACHE_SIZE = 16
# Label texts per fusion-network call (each call re-runs the ECG encoder; the text tower is chunked by the cache).
# Memory stays bounded for any number of candidate labels.
LABEL_CHUNK_SIZE = 4096
# Columns of a row of the package's own datasets (datasets_scripts/ builders).
DATASET_SIGNAL_COLUMN = "ecg"


class EcgZeroShotPipeline(Pipeline):
    """Zero-shot ECG classification with a [`SupremeModel`] (or a peft model around one).

    Inputs: a WFDB record path (with or without extension), a numpy array or torch tensor (leads, samples) with
    `sampling_rate=` (and optional `lead_names=`), a dict `{"signal", "sampling_rate", "lead_names"}`, a row of the
    package's datasets (`{"ecg", "sampling_rate", "lead_names", "lead_mask", ...}`), an `EcgRecord`, or a list or
    dataset of these (use `batch_size=` to batch them); `KeyDataset(ds, "ecg")` works with `sampling_rate=`.

    Which part of a long ECG is scored: the model sees `num_samples / sampling_rate` seconds (10 s for the standard
    model), the first ones (feature extractor `crop="start"`, the default) or those around the middle
    (`crop="center"`). Of a record path only that window (plus a filter margin: `feature_extractor.read_window_s`) is
    read from disk, and a warning names the seconds scored when the record is longer (docs/robustness.md).

    Built from a model folder or from a model object alone: the processor is then loaded from `model.name_or_path`,
    unless passed as `processor=` (or as `feature_extractor=` and `tokenizer=`).

    Call arguments (any other raises a TypeError):
        candidate_labels: list of label texts, or dict label -> description or list of descriptions (a prompt
            ensemble: the label's logit is the mean of its descriptions' logits). Without it, the model's own label
            vocabulary (`config.id2label` with `config.label_descriptions`).
        hypothesis_template: format string with one `{}` applied to each encoded text (default "{}").
        sampling_rate, lead_names: for array inputs.
        top_k: return only the `top_k` best labels.
        return_attention: also return, per label, the fusion network's attention over the ECG tokens (N,).

    Returns `[{"label", "score"}]` sorted by descending score (a list of such lists for a list input).
    """

    _load_processor = False
    _load_image_processor = False
    # None: loaded from a model folder when `pipeline()` is given one, left to `__init__` for a model object.
    _load_feature_extractor = None
    _load_tokenizer = None

    def __init__(
        self,
        model: Any,
        processor: Any = None,
        tokenizer: Any = None,
        feature_extractor: Any = None,
        label_chunk_size: int = LABEL_CHUNK_SIZE,
        **kwargs: Any,
    ) -> None:
        if processor is not None:
            tokenizer = tokenizer if tokenizer is not None else processor.tokenizer
            feature_extractor = feature_extractor if feature_extractor is not None else processor.feature_extractor
        if tokenizer is None or feature_extractor is None:
            tokenizer, feature_extractor = _processor_parts_of(model, tokenizer, feature_extractor)
        if not isinstance(label_chunk_size, int) or label_chunk_size < 1:
            raise ValueError(f"label_chunk_size must be a positive integer; got {label_chunk_size!r}.")
        if hasattr(feature_extractor, "check_model_config"):
            source = str(getattr(unwrap_supreme_model(model), "name_or_path", "") or "the model")
            feature_extractor.check_model_config(unwrap_supreme_model(model).config, source)
        self.label_chunk_size = label_chunk_size
        self._label_tokens: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self.label_cache = LabelEmbeddingCache()
        super().__init__(model=model, tokenizer=tokenizer, feature_extractor=feature_extractor, **kwargs)

    @property
    def score_kind(self) -> str:
        """ "probability" (sigmoid of the fusion network's logit) or "cosine" (objective="clip")."""
        return "cosine" if unwrap_supreme_model(self.model).config.objective == "clip" else "probability"

    def __call__(self, inputs: Union[EcgInput, Sequence[EcgInput]], **kwargs: Any) -> Any:
        if isinstance(inputs, (list, tuple)) and not inputs:
            raise ValueError("The pipeline got an empty list of ECGs: pass at least one input.")
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(
        self,
        candidate_labels: Optional[LabelPrompts] = None,
        hypothesis_template: Optional[str] = None,
        sampling_rate: Optional[float] = None,
        lead_names: Optional[Sequence[str]] = None,
        return_attention: Optional[bool] = None,
        top_k: Optional[int] = None,
        **unknown: Any,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        if unknown:
            raise TypeError(
                f"EcgZeroShotPipeline got unknown arguments {sorted(unknown)}; it takes candidate_labels, "
                "hypothesis_template, sampling_rate, lead_names, top_k, return_attention (and batch_size, num_workers)."
            )
        preprocess_params: dict[str, Any] = {}
        if candidate_labels is not None:
            expand_label_prompts(candidate_labels)  # refused here, before any ECG is read
            preprocess_params["candidate_labels"] = candidate_labels
        if hypothesis_template is not None:
            preprocess_params["hypothesis_template"] = _checked_template(hypothesis_template)
        if sampling_rate is not None:
            preprocess_params["sampling_rate"] = _checked_sampling_rate(sampling_rate)
        if lead_names is not None:
            preprocess_params["lead_names"] = _checked_lead_names(lead_names)
        forward_params: dict[str, Any] = {}
        if return_attention is not None:
            if not isinstance(return_attention, bool):
                raise TypeError(f"return_attention must be True or False; got {return_attention!r}.")
            forward_params["return_attention"] = return_attention
        postprocess_params: dict[str, Any] = {}
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
                raise ValueError(f"top_k must be a positive integer; got {top_k!r}.")
            postprocess_params["top_k"] = top_k
        return preprocess_params, forward_params, postprocess_params

    # -- preprocess -------------------------------------------------------------------------------------------------

    def preprocess(
        self,
        ecg: EcgInput,
        candidate_labels: Optional[LabelPrompts] = None,
        hypothesis_template: str = "{}",
        sampling_rate: Optional[float] = None,
        lead_names: Optional[Sequence[str]] = None,
    ) -> dict[str, Any]:
        signal, rate, names, stored_mask = _unpack_ecg(ecg, sampling_rate, lead_names, self.feature_extractor)
        inputs = dict(self.feature_extractor(signal, sampling_rate=rate, lead_names=names, return_tensors="pt"))
        if stored_mask is not None:
            # Leads the dataset's source lacked were stored as zeros: they stay masked for the encoder.
            inputs["lead_mask"] = inputs["lead_mask"] & torch.as_tensor(np.asarray(stored_mask, dtype=bool))
        inputs["ecg_values"] = inputs["ecg_values"].to(self.dtype) if self.dtype is not None else inputs["ecg_values"]
        labels, texts, owners = self._resolve_labels(candidate_labels)
        # Wrapped in a list so that batching leaves the (T, S) label tokens alone.
        tokens = self._tokenize_labels([hypothesis_template.format(text) for text in texts])
        inputs["label_inputs"] = [{"labels": labels, "owners": owners, "tokens": tokens}]
        return inputs

    def _resolve_labels(self, candidate_labels: Optional[LabelPrompts]) -> tuple[list[str], list[str], list[int]]:
        """-> (label names returned to the user, texts encoded by the model, label index of each text)."""
        if candidate_labels is None:
            config = unwrap_supreme_model(self.model).config
            labels = [name for _, name in sorted(config.id2label.items())]
            if not labels or not getattr(config, "label_descriptions", None):
                raise ValueError(
                    "This model has no label vocabulary of its own: pass `candidate_labels=[...]` to the pipeline."
                )
            candidate_labels = {name: config.label_descriptions.get(name, name) for name in labels}
        return expand_label_prompts(candidate_labels)

    def _tokenize_labels(self, texts: list[str]) -> Any:
        key = tuple(texts)
        if key not in self._label_tokens:
            max_length = getattr(unwrap_supreme_model(self.model).config, "label_max_length", 64)
            self._label_tokens[key] = self.tokenizer(
                texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            while len(self._label_tokens) > TOKEN_CACHE_SIZE:
                self._label_tokens.popitem(last=False)
        self._label_tokens.move_to_end(key)
        return self._label_tokens[key]

    # -- forward / postprocess -----------------------------------------------------------------------------------------

    def _forward(self, model_inputs: dict[str, Any], return_attention: bool = False) -> dict[str, Any]:
        label_inputs = model_inputs.pop("label_inputs")
        # Unbatched: [labels]; batched: [[labels], [labels], ...] (every item of one call has the same labels).
        label_inputs = label_inputs[0] if isinstance(label_inputs[0], Mapping) else label_inputs[0][0]
        tokens = label_inputs["tokens"]
        logits, attentions = zero_shot_logits(
            self.model,
            model_inputs["ecg_values"],
            tokens["input_ids"].to(self.device),
            tokens["attention_mask"].to(self.device),
            owners=label_inputs["owners"],
            lead_mask=model_inputs.get("lead_mask"),
            cache=self.label_cache,
            chunk_size=self.label_chunk_size,
            output_attentions=return_attention,
        )
        scores = unwrap_supreme_model(self.model).scores_from_logits(logits)
        # One label list per ECG, so that the pipeline's un-batching hands each item its labels.
        model_outputs = {"scores": scores, "candidate_labels": [label_inputs["labels"]] * scores.shape[0]}
        if return_attention:
            model_outputs["attentions"] = attentions
        return model_outputs

    def postprocess(self, model_outputs: dict[str, Any], top_k: Optional[int] = None) -> list[dict[str, Any]]:
        labels = model_outputs["candidate_labels"]
        labels = labels[0] if isinstance(labels[0], list) else labels  # [labels] unbatched, labels after un-batching
        scores = model_outputs["scores"][0].float().tolist()
        attentions = model_outputs.get("attentions")
        results = []
        for index, (label, score) in enumerate(zip(labels, scores)):
            result: dict[str, Any] = {"label": label, "score": score}
            if attentions is not None:
                result["attention"] = attentions[0, index].float().cpu().numpy()
            results.append(result)
        results.sort(key=lambda result: -result["score"])
        return results[:top_k] if top_k is not None else results


def _processor_parts_of(model: Any, tokenizer: Any, feature_extractor: Any) -> tuple[Any, Any]:
    """The tokenizer and feature extractor saved beside a model object's weights (`model.name_or_path`)."""
    path = str(getattr(unwrap_supreme_model(model), "name_or_path", "") or "")
    if not path:
        raise ValueError(
            "This model object was not loaded from a folder or Hub id, so its processor cannot be found: pass "
            "processor=SupremeProcessor(...) (or feature_extractor= and tokenizer=) to pipeline()."
        )
    try:
        tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(path)
        feature_extractor = (
            feature_extractor if feature_extractor is not None else SupremeFeatureExtractor.from_pretrained(path)
        )
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Cannot load the processor of {path!r} ({error}); save it beside the model "
            "(processor.save_pretrained) or pass processor= to pipeline()."
        ) from error
    return tokenizer, feature_extractor


def _checked_template(template: Any) -> str:
    """A format string with exactly one plain `{}` field; anything else is a ValueError naming the template."""
    if not isinstance(template, str):
        raise TypeError(f"hypothesis_template must be a string with one '{{}}'; got {type(template).__name__}.")
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as error:
        raise ValueError(f"hypothesis_template {template!r} is not a valid format string ({error}).") from error
    if fields != [("", "", None)]:
        raise ValueError(
            f"hypothesis_template must contain exactly one plain '{{}}' and no other field; got {template!r}."
        )
    return template


def _checked_sampling_rate(sampling_rate: Any) -> float:
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, numbers.Real) or not sampling_rate > 0:
        raise ValueError(f"sampling_rate must be a positive number of Hz; got {sampling_rate!r}.")
    return float(sampling_rate)


def _checked_lead_names(lead_names: Any) -> list[str]:
    if (
        isinstance(lead_names, str)
        or not isinstance(lead_names, Sequence)
        or not all(isinstance(name, str) for name in lead_names)
    ):
        raise ValueError(f"lead_names must be a list of lead-name strings; got {lead_names!r}.")
    return list(lead_names)


def _unpack_ecg(
    ecg: EcgInput, sampling_rate: Optional[float], lead_names: Optional[Sequence[str]], feature_extractor: Any
) -> tuple[Any, Optional[float], Optional[Sequence[str]], Any]:
    """One pipeline input -> (signal or EcgRecord, sampling rate, lead names, stored lead mask or None).

    A record path is read only in the window the feature extractor uses (`read_window_s`), with a warning that says
    which seconds are scored when the record is longer."""
    if isinstance(ecg, (str, os.PathLike)):
        if not str(ecg).strip():
            raise ValueError("The pipeline got an empty string as an ECG: give a WFDB record path.")
        record = read_ecg(ecg, max_seconds=feature_extractor.read_window_s, crop=feature_extractor.crop)
        if record.is_window:
            _warn_about_window(record, feature_extractor)
        return record, None, None, None
    if is_ecg_record(ecg):
        return ecg, None, None, None
    if isinstance(ecg, Mapping):
        return _unpack_mapping(ecg, sampling_rate, lead_names)
    if isinstance(ecg, (list, tuple)) and ecg and isinstance(ecg[0], (list, tuple, np.ndarray)):
        ecg = np.asarray(ecg, dtype=np.float32)  # a dataset's `ecg` column read without a format: nested lists
    if isinstance(ecg, (np.ndarray, torch.Tensor)):
        if sampling_rate is None:
            raise ValueError(
                f"An ECG array of shape {tuple(ecg.shape)} needs `sampling_rate=` (and `lead_names=` unless its 12 "
                "rows are I, II, III, aVR, aVL, aVF, V1-V6)."
            )
        return ecg, sampling_rate, lead_names, None
    raise ValueError(
        f"Cannot read an ECG from {type(ecg).__name__}: give a WFDB record path, an array with sampling_rate=, "
        "a dict with 'signal' and 'sampling_rate', or a dataset row with 'ecg' and 'sampling_rate'."
    )


def _warn_about_window(record: EcgRecord, feature_extractor: Any) -> None:
    """Name the seconds of a long record that are scored: the model sees `num_samples / sampling_rate` of them."""
    rate = record.sampling_rate
    scored_s = feature_extractor.num_samples / feature_extractor.sampling_rate
    offset_s = (record.signal.shape[-1] - scored_s * rate) / 2 if feature_extractor.crop == "center" else 0.0
    first_s = (record.start_sample + max(offset_s, 0.0)) / rate
    logger.warning(
        "%s: the record lasts %.1f s; only the %g s from %.1f s to %.1f s are scored (crop=%r), the rest is not read",
        record.source, record.total_samples / rate, scored_s, first_s, first_s + scored_s, feature_extractor.crop,
    )


def _unpack_mapping(
    ecg: Mapping[str, Any], sampling_rate: Optional[float], lead_names: Optional[Sequence[str]]
) -> tuple[Any, Optional[float], Optional[Sequence[str]], Any]:
    """A dict `{"signal", "sampling_rate", "lead_names"}` or a dataset row `{"ecg", "sampling_rate", ...}`."""
    signal_key = "signal" if "signal" in ecg else DATASET_SIGNAL_COLUMN if DATASET_SIGNAL_COLUMN in ecg else None
    rate = ecg.get("sampling_rate", sampling_rate)
    if signal_key is None or rate is None:
        missing = [
            key for key, present in (("signal (or ecg)", signal_key), ("sampling_rate", rate)) if present is None
        ]
        raise ValueError(
            "An ECG given as a dict needs 'signal' (or a dataset row's 'ecg') and 'sampling_rate'; "
            f"missing {missing}; it has {sorted(ecg)}."
        )
    signal = ecg[signal_key]
    if signal_key == DATASET_SIGNAL_COLUMN:
        signal = _dataset_row_signal(ecg)
    elif isinstance(signal, (list, tuple)):
        signal = np.asarray(signal, dtype=np.float32)
    names = ecg.get("lead_names", lead_names)
    return signal, float(_as_scalar(rate)), list(names) if names is not None else None, ecg.get("lead_mask")


def _dataset_row_signal(row: Mapping[str, Any]) -> np.ndarray:
    """A row of the package's datasets -> (n_leads, num_samples) float32 mV, NaN where a sample is missing: its `ecg`
    decoded as stored (int16 with `ecg_gain`, float16 or float32, `storage_supreme`) and cropped to the record's true
    length (`num_samples`), so that the feature extractor pads, repairs and normalises it as it does the raw record."""
    values = row[DATASET_SIGNAL_COLUMN]
    values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if np.issubdtype(values.dtype, np.floating) and values.dtype != np.float16:
        values = values.astype(np.float32, copy=False)  # rows read as Python lists or floats give float64
    gain = row.get(GAIN_COLUMN)
    if gain is not None and not np.issubdtype(values.dtype, np.integer):
        raise ValueError(
            f"A dataset row with {GAIN_COLUMN!r} stores its 'ecg' as int16 units, got {values.dtype} values: pass the "
            "row as read (or drop the gain column for a signal in mV)."
        )
    gain = None if gain is None else np.asarray(gain.cpu() if isinstance(gain, torch.Tensor) else gain, np.float32)
    length = row.get(LENGTH_COLUMN)
    lengths = None if length is None else [int(_as_scalar(length))]
    return row_signals(values[None], lengths, None if gain is None else gain[None])[0]


def _as_scalar(value: Any) -> Any:
    """A dataset in torch/numpy format gives 0-d tensors/arrays for scalar columns."""
    return value.item() if isinstance(value, (np.ndarray, torch.Tensor, np.generic)) else value


def save_pipeline_folder(model: Any, processor: Any, folder: Union[str, os.PathLike], **save_kwargs: Any) -> None:
    """Write a folder that `pipeline("ecg-zero-shot", model=folder)` loads, with or without this package: the model
    (weights, config), the processor, and the pipeline's code files, the way transformers saves a custom pipeline
    (`Pipeline.save_pretrained`, which also records `custom_pipelines` in the config). `save_kwargs` go to the model's
    `save_pretrained` (e.g. `state_dict=` for a sharded model)."""
    EcgZeroShotPipeline(model=model, processor=processor).save_pretrained(str(folder), **save_kwargs)
    # Pipeline.save_pretrained saves the tokenizer and feature extractor but not the processor itself.
    processor.save_pretrained(folder)


__all__ = ["EcgZeroShotPipeline", "save_pipeline_folder"]
