"""Signals -> model inputs: the SuPreME feature extractor.

`SupremeFeatureExtractor` turns one ECG or a batch into `ecg_values` (B, 12, num_samples) float32 and
`lead_mask` (B, 12) bool: leads standardised (`leads_supreme`), NaN/inf repaired, resampled (polyphase), optionally
filtered, cropped/padded and normalised. Records come from `reading_supreme.read_ecg`.

Signal repair, normalisation, resampling and filtering live in `signal_processing_supreme`.

This file travels with checkpoints as remote code: it imports only its siblings (`configuration_supreme`,
`leads_supreme`, `reading_supreme`, `signal_processing_supreme`) and installed libraries.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor

from .configuration_supreme import STANDARD_LEADS
from .leads_supreme import lead_layout
from .reading_supreme import is_ecg_record
from .signal_processing_supreme import (
    DEFAULT_MAX_MISSING_FRACTION,
    LeadStatistics,
    as_float32,
    butterworth_filter,
    checked_signal,
    lead_statistics,
    mask_flat_leads,
    normalized_and_padded,
    repair_non_finite,
    resample_polyphase,
)

logger = logging.getLogger(__name__)

NORMALIZATIONS = ("zscore", "minmax", "none")
CROP_MODES = ("start", "center")

# Shortest ECG accepted, in seconds.
_MIN_DURATION_S = 0.5
# Slowest sampling rate accepted: below it a QRS complex (~0.1 s) is not even one sample wide.
MIN_SAMPLING_RATE = 10.0


@dataclass
class _EcgItem:
    """One ECG of a call, validated: signal (n_leads, n_samples) with rows in the order of `lead_names`, not yet
    converted to float32 (`as_float32`, once cropped)."""

    signal: np.ndarray | torch.Tensor
    sampling_rate: float
    lead_names: tuple[str, ...]
    source: str


def _as_rate(value: Any, source: str) -> float:
    """Validate a sampling rate (a finite number of at least `MIN_SAMPLING_RATE` Hz) and return it as float."""
    if isinstance(value, (bool, np.bool_)):  # `True` is an int to Python, never a rate
        raise ValueError(f"{source}: sampling rate must be a number of Hz, got the boolean {value!r}")
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: sampling rate must be a number, got {value!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"{source}: sampling rate must be positive and finite, got {value!r}")
    if rate < MIN_SAMPLING_RATE:
        raise ValueError(
            f"{source}: sampling rate {value!r} Hz is below {MIN_SAMPLING_RATE:g} Hz, too slow to hold an ECG "
            "(is it given in kHz or as a period?)"
        )
    return rate


def _is_batch(ecg: Any) -> bool:
    """A list/tuple of ECGs (arrays, tensors, records or nested lists of rank 2), as opposed to one ECG."""
    if not isinstance(ecg, (list, tuple)):
        return False
    if len(ecg) == 0:
        return True
    first = ecg[0]
    return is_ecg_record(first) or isinstance(first, (np.ndarray, torch.Tensor)) or np.ndim(first) >= 2


def _per_item(value: Any, count: int, is_single_value: bool, what: str) -> list[Any]:
    """Broadcast one value to `count` items, or check that a sequence has one value per item."""
    if value is None or is_single_value:
        return [value] * count
    if len(value) != count:
        raise ValueError(f"{what}: got {len(value)} values for a batch of {count} ECGs (give one, or one per ECG)")
    return list(value)


def _is_name_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and (len(value) == 0 or isinstance(value[0], str))


def _oriented(array: np.ndarray, lead_names: Sequence[str] | None, source: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Return the signal as (n_leads, n_samples) with its lead names.

    With names, rows must match their count; (n_samples, n_leads) input (WFDB's rdsamp) is transposed. Without
    names the array must have 12 rows in `STANDARD_LEADS` order ((T, 12) input is transposed).
    """
    if array.ndim != 2:
        raise ValueError(f"{source}: expected a 2-D ECG (n_leads, n_samples), got rank {array.ndim}")
    if lead_names is not None:
        names = tuple(str(name) for name in lead_names)
        if array.shape[0] == len(names):
            return array, names
        if array.shape[1] == len(names):
            return array.T, names
        raise ValueError(f"{source}: {len(names)} lead names do not match either axis of the ECG")
    if array.shape[0] == len(STANDARD_LEADS):
        return array, STANDARD_LEADS
    if array.shape[1] == len(STANDARD_LEADS):
        logger.debug("%s: no lead names and 12 columns: reading it as (n_samples, 12) and transposing", source)
        return array.T, STANDARD_LEADS
    raise ValueError(
        f"{source}: without lead_names an ECG must have {len(STANDARD_LEADS)} rows in the order "
        f"{', '.join(STANDARD_LEADS)}; pass lead_names for other layouts"
    )


def _describe_group(sources: Sequence[str]) -> str:
    if len(sources) == 1:
        return sources[0]
    return f"{sources[0]} (and {len(sources) - 1} more ECGs with the same layout)"



class SupremeFeatureExtractor(SequenceFeatureExtractor):
    r"""Turns ECGs of any lead layout, length and sampling rate into the model's fixed-size input.

    Per ECG: leads are reordered to `STANDARD_LEADS` (missing limb leads derived, other missing leads
    zero-filled and masked), NaN/inf repaired, the signal resampled to `sampling_rate` (polyphase), optionally
    filtered (Butterworth, zero phase), cropped or padded to `num_samples` and normalised.

    Args:
        feature_size: number of output leads; always 12.
        sampling_rate: the model's sampling rate in Hz; inputs are resampled to it.
        num_samples: output length; longer ECGs are cropped, shorter ones padded at the end.
        padding_value: value of the padded time steps.
        normalization: "zscore" (per lead and record, default), "minmax" (per record to [0, 1], as MERL) or "none".
        highpass_hz: cut-off of a high-pass filter against baseline wander (e.g. 0.5); None = off.
        lowpass_hz: cut-off of a low-pass filter (upper band-pass edge); None = off.
        derive_limb_leads: derive missing limb leads from any two of I, II, III.
        crop: which window of a longer ECG to keep: "start" or "center".
        max_missing_fraction: the NaN policy: a lead with more than this fraction of NaN/inf samples is zero-filled
            and masked as missing (with a warning); the gaps of other leads are interpolated. An ECG left with no
            usable lead, or whose every lead is constant, is refused with a ValueError.
    """

    model_input_names = ["ecg_values", "lead_mask"]

    def __init__(
        self,
        feature_size: int = 12,
        sampling_rate: int = 500,
        num_samples: int = 5000,
        padding_value: float = 0.0,
        normalization: str = "zscore",
        highpass_hz: float | None = None,
        lowpass_hz: float | None = None,
        derive_limb_leads: bool = True,
        crop: str = "start",
        max_missing_fraction: float = DEFAULT_MAX_MISSING_FRACTION,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("return_attention_mask", False)
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.num_samples = num_samples
        self.normalization = normalization
        self.highpass_hz = highpass_hz
        self.lowpass_hz = lowpass_hz
        self.derive_limb_leads = derive_limb_leads
        self.crop = crop
        self.max_missing_fraction = max_missing_fraction
        self._validate_settings()

    def check_model_config(self, config: Any, source: str = "the model") -> None:
        """Refuse a model whose config states another input format than this feature extractor.

        The feature extractor owns the input format (sampling rate, length, lead count; lead order and normalisation
        are its alone); `SupremeConfig.sampling_rate` and `num_samples` are copies the ECG encoder is built for. A
        folder whose two files disagree would feed the encoder inputs it was not trained on, silently.

        Raises:
            ValueError: naming `source`, each disagreeing field and both values.
        """
        pairs = (("sampling_rate", "sampling_rate"), ("num_samples", "num_samples"), ("num_leads", "feature_size"))
        disagreements = [
            f"{config_name}: config {getattr(config, config_name)!r}, feature extractor {getattr(self, own_name)!r}"
            for config_name, own_name in pairs
            if hasattr(config, config_name) and float(getattr(config, config_name)) != float(getattr(self, own_name))
        ]
        if disagreements:
            raise ValueError(
                f"{source}: the model's config and its feature extractor disagree on the input format "
                f"({'; '.join(disagreements)}). The feature extractor (preprocessor_config.json) owns it: save the "
                "model and processor of one run together, or correct config.json."
            )

    def _validate_settings(self) -> None:
        if self.feature_size != len(STANDARD_LEADS):
            raise ValueError(
                f"feature_size must be {len(STANDARD_LEADS)} (the standard leads), got {self.feature_size}"
            )
        _as_rate(self.sampling_rate, "SupremeFeatureExtractor.sampling_rate")
        if int(self.num_samples) != self.num_samples or self.num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {self.num_samples!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if isinstance(self.max_missing_fraction, bool) or not 0 <= self.max_missing_fraction < 1:
            raise ValueError(f"max_missing_fraction must lie in [0, 1), got {self.max_missing_fraction!r}")
        if self.crop not in CROP_MODES:
            raise ValueError(f"crop must be one of {CROP_MODES}, got {self.crop!r}")
        nyquist = self.sampling_rate / 2
        for name in ("highpass_hz", "lowpass_hz"):
            cutoff = getattr(self, name)
            if cutoff is not None and not 0 < cutoff < nyquist:
                raise ValueError(f"{name} must lie between 0 and {nyquist} Hz (Nyquist), got {cutoff!r}")
        if self.highpass_hz is not None and self.lowpass_hz is not None and self.highpass_hz >= self.lowpass_hz:
            raise ValueError(f"highpass_hz ({self.highpass_hz}) must be below lowpass_hz ({self.lowpass_hz})")

    def __call__(
        self,
        ecg: Any,
        sampling_rate: float | Sequence[float] | None = None,
        lead_names: Sequence[str] | Sequence[Sequence[str]] | None = None,
        return_tensors: str | None = "pt",
        **kwargs: Any,
    ) -> BatchFeature:
        """Prepare one ECG or a batch for the model.

        Args:
            ecg: one ECG or a list of them. An ECG is a 2-D array or tensor (n_leads, n_samples), or an
                `EcgRecord` (which carries its own sampling rate and lead names). For a 3-D array of ECGs that
                share one rate and lead order, `batch` does the same without per-ECG steps.
            sampling_rate: sampling rate of the input in Hz, one for all ECGs or one per ECG; required for arrays.
            lead_names: names of the rows, one list for all ECGs or one list per ECG. Without names an array
                must have 12 rows in `STANDARD_LEADS` order. With names, (n_samples, n_leads) input is transposed.
            return_tensors: "pt" (default), "np" or None (numpy).

        Returns:
            BatchFeature with "ecg_values" (B, 12, num_samples) float32 and "lead_mask" (B, 12) bool.

        Raises:
            ValueError: naming the ECG and the problem (wrong rank, too short, unknown lead names, no finite lead,
                missing or non-positive sampling rate, 12 rows expected without names).
        """
        if kwargs:
            logger.warning("SupremeFeatureExtractor ignores the arguments %s", sorted(kwargs))
        items = self._collect_items(ecg, sampling_rate, lead_names)
        groups = self._group_by_layout(items)
        if len(groups) == 1:
            values, lead_mask = self._process_group(items)
        else:
            values = np.empty((len(items), len(STANDARD_LEADS), self.num_samples), dtype=np.float32)
            lead_mask = np.empty((len(items), len(STANDARD_LEADS)), dtype=bool)
            for indices in groups:
                values[indices], lead_mask[indices] = self._process_group([items[index] for index in indices])
        return BatchFeature({"ecg_values": values, "lead_mask": lead_mask}, tensor_type=return_tensors)

    # ---- input collection ------------------------------------------------------------------------------------

    def _collect_items(self, ecg: Any, sampling_rate: Any, lead_names: Any) -> list[_EcgItem]:
        """Validate the call's inputs into one `_EcgItem` per ECG."""
        batched = _is_batch(ecg)
        ecgs = list(ecg) if batched else [ecg]
        if not ecgs:
            raise ValueError("Got an empty batch of ECGs")
        single_rate = sampling_rate is None or np.ndim(sampling_rate) == 0
        rates = _per_item(sampling_rate, len(ecgs), single_rate, "sampling_rate")
        names = _per_item(lead_names, len(ecgs), lead_names is None or _is_name_list(lead_names), "lead_names")
        return [
            self._make_item(value, rate, item_names, self._describe_input(value, index, batched))
            for index, (value, rate, item_names) in enumerate(zip(ecgs, rates, names))
        ]

    @staticmethod
    def _describe_input(value: Any, index: int, batched: bool) -> str:
        if is_ecg_record(value):
            return value.source
        shape = tuple(np.shape(value)) if isinstance(value, (np.ndarray, torch.Tensor)) else "?"
        return f"input {index} of the batch, shape {shape}" if batched else f"input ECG, shape {shape}"

    @staticmethod
    def _make_item(value: Any, rate: Any, lead_names: Sequence[str] | None, source: str) -> _EcgItem:
        if is_ecg_record(value):
            if rate is not None and _as_rate(rate, source) != value.sampling_rate:
                raise ValueError(f"{source}: sampling_rate={rate} contradicts the record's {value.sampling_rate} Hz")
            if lead_names is not None and list(lead_names) != list(value.lead_names):
                raise ValueError(f"{source}: lead_names {list(lead_names)} contradict the record's {value.lead_names}")
            rate, lead_names, value = value.sampling_rate, value.lead_names, value.signal
        if rate is None:
            raise ValueError(f"{source}: sampling_rate is required for arrays (the rate of the input, in Hz)")
        rate = _as_rate(rate, source)
        signal, names = _oriented(checked_signal(value, source), lead_names, source)
        if signal.shape[1] < _MIN_DURATION_S * rate:
            raise ValueError(
                f"{source}: {signal.shape[1]} samples at {rate:g} Hz is shorter than the minimum of {_MIN_DURATION_S} s"
            )
        return _EcgItem(signal=signal, sampling_rate=rate, lead_names=names, source=source)

    @staticmethod
    def _group_by_layout(items: Sequence[_EcgItem]) -> list[list[int]]:
        """Indices of the items that share shape, rate and lead order (each group is processed stacked)."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, item in enumerate(items):
            groups.setdefault((item.signal.shape, item.sampling_rate, item.lead_names), []).append(index)
        return list(groups.values())

    # ---- processing of a stacked group ---------------------------------------------------------------------

    def batch(
        self,
        ecg: np.ndarray | torch.Tensor,
        sampling_rate: float | Sequence[float],
        lead_names: Sequence[str] | None = None,
        return_tensors: str | None = "pt",
    ) -> BatchFeature:
        """Prepare a batch of ECGs that share one sampling rate and lead order, given as one 3-D array: what
        `__call__` gives for the list of its ECGs, validated once and processed without per-ECG steps (the training
        collator's path).

        Args:
            ecg: (B, n_leads, n_samples) (or (B, n_samples, n_leads) with `lead_names`), array or tensor.
            sampling_rate: the rate of every ECG in Hz (one value, or B equal values).
            lead_names: names of the rows, one list for the whole batch (None: the 12 standard leads in order).
            return_tensors: "pt" (default), "np" or None (numpy).

        Returns:
            BatchFeature with "ecg_values" (B, 12, num_samples) float32 and "lead_mask" (B, 12) bool.

        Raises:
            ValueError: not 3-D, several rates or lead lists, or what `__call__` refuses for its ECGs.
        """
        if np.ndim(ecg) != 3:
            raise ValueError(f"SupremeFeatureExtractor.batch expects a 3-D batch (B, n_leads, n_samples), "
                             f"got shape {tuple(np.shape(ecg))}")
        values, lead_mask = self._process_array_batch(ecg, sampling_rate, lead_names)
        return BatchFeature({"ecg_values": values, "lead_mask": lead_mask}, tensor_type=return_tensors)

    def _process_array_batch(self, batch: Any, sampling_rate: Any, lead_names: Any) -> tuple[np.ndarray, np.ndarray]:
        """A 3-D batch (B, n_leads, n_samples), one rate and one lead order -> values and lead mask, as `_process_group`
        would give for its B ECGs, validated once for the whole batch."""
        source = f"input batch, shape {tuple(batch.shape)}"
        rates = np.unique(np.atleast_1d(np.asarray(sampling_rate if sampling_rate is not None else [], dtype=float)))
        if len(rates) != 1:
            raise ValueError(f"{source}: a 3-D batch needs one sampling_rate for all its ECGs, got {sampling_rate!r}")
        if lead_names is not None and not _is_name_list(lead_names):
            raise ValueError(f"{source}: a 3-D batch needs one list of lead_names for all its ECGs")
        if len(batch) == 0:
            raise ValueError("Got an empty batch of ECGs")
        first = self._make_item(batch[0], rates[0], lead_names, f"{source}, ECG 0")  # checks rank, names, length
        array = checked_signal(batch, source)
        if tuple(first.signal.shape) != tuple(array.shape[1:]):  # (B, n_samples, n_leads): the rows were transposed
            array = array.swapaxes(1, 2)
        sources = [f"ECG {index} of the {source}" for index in range(len(array))]
        # Cropped, then converted as a copy, so the later in-place steps never touch the caller's array.
        stacked = as_float32(self._precrop(array, first.sampling_rate), copy=True)
        return self._process_stacked(stacked, first.sampling_rate, first.lead_names, sources)

    def _process_group(self, items: Sequence[_EcgItem]) -> tuple[np.ndarray, np.ndarray]:
        """ECGs of one layout -> values (b, 12, num_samples) float32 and lead mask (b, 12) bool."""
        rate = items[0].sampling_rate
        # Cropping before stacking keeps long recordings (Holter) from being copied whole; np.stack copies, so the
        # later in-place steps never touch the caller's arrays.
        stacked = np.stack([as_float32(self._precrop(item.signal, rate)) for item in items])
        return self._process_stacked(stacked, rate, items[0].lead_names, [item.source for item in items])

    def _process_stacked(
        self, stacked: np.ndarray, rate: float, lead_names: Sequence[str], sources: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(b, n_leads, n) float32 owned by the caller, leads in the order of `lead_names` -> values (b, 12,
        num_samples) float32 and lead mask (b, 12) bool."""
        description = _describe_group(sources)
        layout = lead_layout(lead_names, description, self.derive_limb_leads)
        if layout.dropped:
            logger.warning("%s: dropping leads not among the 12 standard leads: %s", description, list(layout.dropped))
        if not layout.lead_mask.any():
            raise ValueError(f"{description}: none of the leads {list(lead_names)} is a standard lead")
        signals = layout.apply(stacked)
        lead_mask = np.repeat(layout.lead_mask[None], len(stacked), axis=0)
        repair_non_finite(signals, lead_mask, sources, self.max_missing_fraction)
        signals_tensor, mask_tensor = torch.from_numpy(signals), torch.from_numpy(lead_mask)
        if self.needs_only_normalization(rate, signals.shape[-1]):
            values, mask_tensor = self.normalize_batch(signals_tensor, mask_tensor, sources)
        else:
            # Flat leads are judged on the signals as recorded, before resampling and filtering change them.
            mask_flat_leads(lead_statistics(signals_tensor), mask_tensor, sources)
            prepared = self._crop_window(self._filter(self._resample(signals, rate)))
            values = self._normalized_and_padded(torch.from_numpy(prepared), mask_tensor, None, sources)
        return values.numpy(), mask_tensor.numpy()

    def _normalized_and_padded(
        self, signals: torch.Tensor, lead_mask: torch.Tensor, statistics: LeadStatistics | None,
        sources: Sequence[str],
    ) -> torch.Tensor:
        return normalized_and_padded(signals, lead_mask, statistics, sources, self.normalization, self.num_samples,
                                      float(self.padding_value))

    def needs_only_normalization(self, sampling_rate: float, length: int) -> bool:
        """True when finite signals of `sampling_rate` and `length` samples, in the standard lead order, need nothing
        but `normalize_batch`: at the model's rate, no filter, no longer than `num_samples` (nothing to crop) and not
        too short to accept."""
        no_filter = self.highpass_hz is None and self.lowpass_hz is None
        return (sampling_rate == self.sampling_rate and no_filter
                and _MIN_DURATION_S * sampling_rate <= length <= self.num_samples)

    def normalize_batch(
        self, ecg_values: torch.Tensor, lead_mask: torch.Tensor, sources: Sequence[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The last stage of `__call__` on tensors of any device: flat leads masked (with a warning), per-lead
        normalisation, masked leads zeroed, padding to `num_samples`. The trainer runs it on the accelerator for
        batches the collator hands over unnormalised (`training.device_inputs`); `__call__` runs it on the CPU.

        Args:
            ecg_values: (B, 12, n) float32, finite, standard lead order, at `sampling_rate`, n <= `num_samples`
                (what `needs_only_normalization` accepts). Not modified.
            lead_mask: (B, 12) bool, the recorded leads; not modified.
            sources: one description per ECG for messages (default "ECG i of the batch").

        Returns:
            `ecg_values` (B, 12, num_samples) float32 and `lead_mask` (B, 12) bool, on the input's device.

        Raises:
            ValueError: an ECG whose every recorded lead is constant, or amplitudes too large to normalise.
        """
        sources = sources if sources is not None else [f"ECG {index} of the batch" for index in range(len(ecg_values))]
        lead_mask = lead_mask.clone()
        statistics = lead_statistics(ecg_values)
        mask_flat_leads(statistics, lead_mask, sources)
        return self._normalized_and_padded(ecg_values, lead_mask, statistics, sources), lead_mask

    @property
    def read_window_s(self) -> float:
        """Seconds of a longer ECG that the output depends on: the `num_samples / sampling_rate` the crop keeps plus a
        margin against filter edge effects (1 s, more for a low high-pass cut-off). `read_ecg(path, max_seconds=
        read_window_s, crop=crop)` reads exactly the window that `_precrop` would keep of the whole record."""
        margin_s = 1.0 if self.highpass_hz is None else max(1.0, 5.0 / self.highpass_hz)
        return self.num_samples / self.sampling_rate + margin_s

    def _precrop(self, signals: np.ndarray, rate: float) -> np.ndarray:
        """Trim long ECGs before resampling to the part the crop keeps plus a margin for filter edge effects."""
        return self._window(signals, math.ceil(self.read_window_s * rate))

    def _window(self, signals: np.ndarray, length: int) -> np.ndarray:
        """The `crop` window of at most `length` samples along the last axis."""
        excess = signals.shape[-1] - length
        if excess <= 0:
            return signals
        start = excess // 2 if self.crop == "center" else 0
        return signals[..., start : start + length]

    def _crop_window(self, signals: np.ndarray) -> np.ndarray:
        return self._window(signals, self.num_samples)

    def _resample(self, signals: np.ndarray, rate: float) -> np.ndarray:
        """(b, 12, T) at `rate` -> (b, 12, T') at the model's rate (polyphase, all ECGs at once)."""
        return resample_polyphase(signals, rate, self.sampling_rate)

    def _filter(self, signals: np.ndarray) -> np.ndarray:
        """Zero-phase Butterworth high-/low-/band-pass at the model's rate, if configured. (b, 12, T) -> same."""
        return butterworth_filter(signals, self.sampling_rate, self.highpass_hz, self.lowpass_hz)

    def pad(self, processed_features: Any, *args: Any, **kwargs: Any) -> BatchFeature:
        """`SequenceFeatureExtractor.pad` (same arguments: padding, max_length, truncation, pad_to_multiple_of,
        return_attention_mask, return_tensors) for this extractor's channel-first ECGs: `ecg_values` items (12, T_i)
        are padded (or truncated) along time to (B, 12, T), and the attention mask, when asked, is (B, T).

        The base class pads axis 0 of each item, so items are handed to it time-first and turned back afterwards.
        """
        is_list_of_dicts = isinstance(processed_features, (list, tuple)) and bool(processed_features)
        if is_list_of_dicts and isinstance(processed_features[0], Mapping):
            processed_features = {key: [item[key] for item in processed_features] for key in processed_features[0]}
        if not isinstance(processed_features, Mapping) or "ecg_values" not in processed_features:
            raise ValueError(
                "pad() needs a BatchFeature, dict or list of dicts with 'ecg_values' items of shape (12, T)."
            )
        features = dict(processed_features)
        items = [np.asarray(item) for item in features["ecg_values"]]
        bad = [index for index, item in enumerate(items) if item.ndim != 2 or item.shape[0] != self.feature_size]
        if bad:
            raise ValueError(f"pad(): ecg_values items {bad} are not of shape ({self.feature_size}, samples).")
        features["ecg_values"] = [item.T for item in items]
        padded = super().pad(features, *args, **kwargs)
        values = padded["ecg_values"]
        padded["ecg_values"] = values.transpose(1, 2) if isinstance(values, torch.Tensor) else _swap_last_axes(values)
        return padded


def _swap_last_axes(values: Any) -> Any:
    """(B, T, C) array or list of (T, C) arrays -> (B, C, T) / list of (C, T)."""
    if isinstance(values, np.ndarray):
        return np.swapaxes(values, -1, -2)
    return [np.swapaxes(np.asarray(value), -1, -2) for value in values]
