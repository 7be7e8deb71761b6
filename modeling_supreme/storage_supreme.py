"""How built datasets store ECG signals compactly, and how readers decode them back to float32 mV.

A dataset's `ecg` column (`Array2D((12, T), dtype)`) holds the signal as read, in one of three formats chosen at build
time (`--signal-dtype`, recorded in the features and the dataset card):

- ``int16`` (default): integers with a per-row, per-lead gain in the `ecg_gain` column (units per mV); the value is
  ``stored / gain``. The gain is 1000 (1 µV steps) or a power-of-two multiple of it, the coarsest on whose grid the
  lead lies exactly (e.g. 2000 for a limb lead derived as -(I + II) / 2), so digitised recordings (PTB-XL, MIMIC-IV-ECG:
  whole µV) round-trip exactly; other leads get the finest such grid that fits, and only a lead beyond +-32.767 mV gets
  a gain below 1000. Missing (NaN) samples are `INT16_MISSING`.
- ``float16``: half precision mV (relative resolution 2^-11, about 5 µV at 10 mV); NaN kept.
- ``float32``: single precision mV, as read; NaN kept.

Samples after the row's `num_samples` (the record's true length) and leads whose `lead_mask` is False are zeros; they
carry no signal and readers crop them away (`row_signals`). Shapes: B = rows, T = stored samples per lead.

This file travels with checkpoints as remote code (the pipeline decodes dataset rows with it): it imports only
installed libraries.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch

SIGNAL_DTYPES = ("int16", "float16", "float32")
DEFAULT_SIGNAL_DTYPE = "int16"
GAIN_COLUMN = "ecg_gain"
# The column of each row's true length in samples (the stored width T may be larger).
LENGTH_COLUMN = "num_samples"
# Stored value of a missing (NaN) sample in int16 storage; valid values are within +-INT16_LIMIT.
INT16_MISSING = -32768
INT16_LIMIT = 32767
# 1000 units per mV = 1 µV steps, the resolution of PTB-XL, CPSC2018 and finer than MIMIC-IV-ECG's 5 µV.
BASE_GAIN = 1000.0
# Finer grids tried: BASE_GAIN * 2**k for k < this (half-µV steps cover leads derived as halves of two leads).
_GAIN_DOUBLINGS = 5
# A lead lies on a grid when every sample is within this fraction of a step of it (float32 rounding noise).
_ON_GRID_TOLERANCE = 0.01


def check_signal_dtype(signal_dtype: str) -> str:
    """ValueError unless `signal_dtype` is one of `SIGNAL_DTYPES`; returns it."""
    if signal_dtype not in SIGNAL_DTYPES:
        raise ValueError(f"signal_dtype must be one of {SIGNAL_DTYPES}, got {signal_dtype!r}")
    return signal_dtype


@dataclasses.dataclass(frozen=True)
class EncodedSignal:
    """One row's stored signal: values (12, T) in the storage dtype, gain (12,) float32 for int16 else None."""

    values: np.ndarray
    gain: np.ndarray | None


def _lead_gain(lead: np.ndarray) -> float:
    """Units per mV for one lead (T,) float32 (NaN allowed): the coarsest exact grid among BASE_GAIN * 2**k that fits
    int16, else the finest that fits, else the largest gain that fits (leads beyond +-32.767 mV)."""
    finite = lead[np.isfinite(lead)].astype(np.float64)
    peak = float(np.abs(finite).max()) if finite.size else 0.0
    largest = INT16_LIMIT / peak if peak > 0 else np.inf
    fitting = [BASE_GAIN * 2**k for k in range(_GAIN_DOUBLINGS) if BASE_GAIN * 2**k <= largest]
    if not fitting:
        return float(np.float32(largest) * np.float32(1 - 1e-6))  # below `largest` after float32 rounding
    for gain in fitting:
        scaled = finite * gain
        if not finite.size or np.abs(scaled - np.round(scaled)).max() <= _ON_GRID_TOLERANCE:
            return gain
    return fitting[-1]


def encode_signal(signal: np.ndarray, signal_dtype: str = DEFAULT_SIGNAL_DTYPE) -> EncodedSignal:
    """(12, T) float32 mV, NaN for missing samples -> the stored values (and gains) of `signal_dtype`."""
    check_signal_dtype(signal_dtype)
    signal = np.asarray(signal, dtype=np.float32)
    if signal_dtype != "int16":
        return EncodedSignal(signal.astype(signal_dtype), None)
    gain = np.array([_lead_gain(lead) for lead in signal], dtype=np.float32)
    with np.errstate(invalid="ignore"):  # NaN * gain
        scaled = np.round(signal.astype(np.float64) * gain[:, None].astype(np.float64))
    missing = ~np.isfinite(scaled)
    values = np.where(missing, INT16_MISSING, np.clip(np.nan_to_num(scaled), -INT16_LIMIT, INT16_LIMIT))
    return EncodedSignal(values.astype(np.int16), gain)


def decode_signals(values: np.ndarray, gain: np.ndarray | None = None) -> np.ndarray:
    """Stored values (..., 12, T) of any `SIGNAL_DTYPES` -> float32 mV, NaN where a sample is missing.

    Args:
        values: int16 (or the int64 datasets' formatting makes of it; with `gain`), float16 or float32; one row
            (12, T) or a batch (B, 12, T).
        gain: (..., 12) units per mV, required for int16 values.

    Raises:
        ValueError: int16 values without gains, or values of another dtype.
    """
    values = np.asarray(values)
    # datasets' numpy/torch formatting widens int16 columns to int64; the values are the stored ones all the same.
    if np.issubdtype(values.dtype, np.integer):
        if gain is None:
            raise ValueError(f"int16 ECG values need their per-lead gains (the {GAIN_COLUMN!r} column)")
        # Division (not multiplication by 1 / gain) makes whole-step values exactly the float32 of the source's mV;
        # one pass converts and divides. The sentinel is looked for only when the minimum says it is there.
        decoded = np.divide(values, np.asarray(gain, dtype=np.float32)[..., None], dtype=np.float32)
        if values.size and values.min() == INT16_MISSING:
            decoded[values == INT16_MISSING] = np.nan
        return decoded
    if values.dtype in (np.float16, np.float32):
        return values.astype(np.float32, copy=values.dtype != np.float32)
    raise ValueError(f"ECG values must be stored as one of {SIGNAL_DTYPES}, got dtype {values.dtype}")


def decode_tensor(values: torch.Tensor, gain: torch.Tensor | None = None) -> torch.Tensor:
    """`decode_signals` for tensors on any device, with the same arithmetic (int16 -> float32, divided by the gain;
    bit-identical results): (..., 12, T) stored values and (..., 12) gains -> float32 mV, NaN where missing.

    Raises:
        ValueError: integer values without gains, or values of another dtype.
    """
    if not values.is_floating_point():
        if gain is None:
            raise ValueError(f"int16 ECG values need their per-lead gains (the {GAIN_COLUMN!r} column)")
        decoded = values.to(torch.float32) / gain.to(torch.float32)[..., None]
        if values.numel() and bool(values.amin() == INT16_MISSING):  # as `decode_signals`: looked for when present
            decoded.masked_fill_(values == INT16_MISSING, math.nan)
        return decoded
    if values.dtype in (torch.float16, torch.float32):
        return values.to(torch.float32)
    raise ValueError(f"ECG values must be stored as one of {SIGNAL_DTYPES}, got dtype {values.dtype}")


def row_signals(
    values: np.ndarray, lengths: Sequence[int] | np.ndarray | None, gain: np.ndarray | None = None
) -> list[np.ndarray]:
    """Stored rows (B, 12, T) -> B float32 mV signals (12, length_b), each cropped to its row's true length.

    The crops are views of one decoded batch (no copy per row). `lengths` None keeps all T samples (datasets built
    before `num_samples` was recorded).
    """
    decoded = decode_signals(values, gain)
    if lengths is None:
        return list(decoded)
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.shape != (decoded.shape[0],) or (lengths < 1).any() or (lengths > decoded.shape[-1]).any():
        raise ValueError(f"num_samples must give 1..{decoded.shape[-1]} samples for each of the "
                         f"{decoded.shape[0]} rows, got {lengths.tolist()}")
    return [row[:, :length] for row, length in zip(decoded, lengths)]


def storage_note(signal_dtype: str) -> str:
    """One sentence for the dataset card: how `ecg` is stored and how to read it as mV."""
    check_signal_dtype(signal_dtype)
    read = ("`modeling_supreme.storage_supreme.row_signals(ecg, num_samples, ecg_gain)` gives float32 mV cropped to "
            "each record's true length")
    if signal_dtype == "int16":
        how = (f"int16 with a per-lead gain in `{GAIN_COLUMN}` (units per mV, mV = ecg / gain; 1000 = 1 µV steps); "
               f"missing samples are {INT16_MISSING}")
    else:
        how = f"{signal_dtype} in mV; missing samples are NaN"
    return (f"`ecg` is stored as {how}. Samples after `num_samples` and leads whose `lead_mask` is False are zeros. "
            f"{read}.")


__all__ = [
    "BASE_GAIN",
    "DEFAULT_SIGNAL_DTYPE",
    "GAIN_COLUMN",
    "LENGTH_COLUMN",
    "INT16_MISSING",
    "SIGNAL_DTYPES",
    "EncodedSignal",
    "check_signal_dtype",
    "decode_signals",
    "decode_tensor",
    "encode_signal",
    "row_signals",
    "storage_note",
]
