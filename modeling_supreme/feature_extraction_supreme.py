"""ECG input for SuPreME: reading WFDB records, lead standardisation and the feature extractor.

Everything a model sees goes through here:

* `read_ecg(path)` reads a WFDB record (`.hea` + `.dat` as in PTB-XL and MIMIC-IV-ECG, `.hea` + `.mat` as in
  PhysioNet/CinC 2020 and Chapman-Shaoxing-Ningbo) into an `EcgRecord`: signal (n_leads, n_samples) in mV,
  sampling rate and lead names.
* `canonical_lead_name` / `standardize_leads` map any lead layout onto the twelve `STANDARD_LEADS`
  (I, II, III, aVR, aVL, aVF, V1-V6): reorder by name, derive missing limb leads, zero-fill the rest and
  return a lead mask.
* `SupremeFeatureExtractor` turns one ECG or a batch into `ecg_values` (B, 12, num_samples) float32 and
  `lead_mask` (B, 12) bool: leads standardised, NaN/inf repaired, resampled (polyphase), optionally
  filtered, cropped/padded and normalised.

This file travels with checkpoints as remote code: it imports only its sibling `configuration_supreme` and
installed libraries; the optional ones (wfdb, scipy) are imported inside `try:` blocks.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor

from .configuration_supreme import STANDARD_LEADS

try:
    import wfdb
except ImportError:  # optional: only `read_ecg` needs it
    wfdb = None

try:
    import scipy.signal as scipy_signal
except ImportError:  # optional: only resampling and filtering need it
    scipy_signal = None

logger = logging.getLogger(__name__)

_RECORD_SUFFIXES = (".hea", ".dat", ".mat")

# Bytes per sample of the WFDB storage formats whose file size follows exactly from the header.
_BYTES_PER_SAMPLE = {8: 1.0, 16: 2.0, 24: 3.0, 32: 4.0, 61: 2.0, 80: 1.0, 160: 2.0, 212: 1.5, 310: 4 / 3, 311: 4 / 3}
# Packed formats may end with a partly used group of bytes.
_PACKED_FORMATS = {212, 310, 311}

# Factor that turns a value in the header's unit into mV.
_TO_MILLIVOLT = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}


def _require_wfdb() -> Any:
    if wfdb is None:
        raise ImportError("Reading WFDB records needs the package `wfdb` (pip install wfdb).")
    return wfdb


def _require_scipy_signal() -> Any:
    if scipy_signal is None:
        raise ImportError("Resampling and filtering ECGs needs the package `scipy` (pip install scipy).")
    return scipy_signal


# --------------------------------------------------------------------------------------------------------------
# Reading records
# --------------------------------------------------------------------------------------------------------------


@dataclass
class EcgRecord:
    """One ECG as read from disk.

    Attributes:
        signal: (n_leads, n_samples) float32 in physical units (mV); NaN where the file marks a sample invalid.
        sampling_rate: samples per second.
        lead_names: lead names as written in the file (not yet canonical).
        source: path or description of where the ECG came from, used in error messages.
    """

    signal: np.ndarray
    sampling_rate: float
    lead_names: list[str]
    source: str


def _record_base(path: str | os.PathLike) -> Path:
    """`.../00001_lr`, `.../00001_lr.hea`, `.../JS00001.mat` -> the record path without extension."""
    path = Path(path)
    if path.suffix.lower() in _RECORD_SUFFIXES:
        return path.with_suffix("")
    return path


def _expected_data_bytes(header: Any, file_name: str) -> tuple[int, bool] | None:
    """Size in bytes that `file_name` must have according to the header, and whether it is only a lower bound.

    None when the size cannot be known from the header (compressed formats, unknown length).
    """
    indices = [i for i, name in enumerate(header.file_name) if name == file_name]
    formats = {int(header.fmt[i]) for i in indices}
    if header.sig_len is None or len(formats) != 1 or not formats <= set(_BYTES_PER_SAMPLE):
        return None
    (fmt,) = formats
    samples_per_frame = sum(int((header.samps_per_frame or [1] * header.n_sig)[i] or 1) for i in indices)
    offsets = {int((header.byte_offset or [0] * header.n_sig)[i] or 0) for i in indices}
    data_bytes = math.ceil(samples_per_frame * header.sig_len * _BYTES_PER_SAMPLE[fmt])
    return max(offsets) + data_bytes, fmt in _PACKED_FORMATS


def _check_data_files(header: Any, directory: Path, source: str) -> None:
    """Raise if a data file named in the header is missing or its size contradicts the header."""
    for file_name in dict.fromkeys(header.file_name):
        data_path = directory / file_name
        if not data_path.is_file():
            raise FileNotFoundError(f"{source}: data file {data_path} named in the header does not exist")
        expected = _expected_data_bytes(header, file_name)
        if expected is None:
            continue
        expected_bytes, packed = expected
        actual_bytes = data_path.stat().st_size
        # Packed formats may carry up to one partly used group of bytes at the end.
        size_ok = expected_bytes <= actual_bytes <= expected_bytes + 4 if packed else actual_bytes == expected_bytes
        if not size_ok:
            raise ValueError(
                f"{source}: the header announces {header.n_sig} signals x {header.sig_len} samples "
                f"({expected_bytes} bytes in {file_name}), but {data_path} has {actual_bytes} bytes: "
                "the header does not describe this data file (truncated or mismatched record)"
            )


def _millivolt_factors(units: Sequence[str | None], source: str) -> np.ndarray:
    """(n_leads,) factors that turn each signal's physical unit into mV (unknown units are kept as they are)."""
    factors = np.ones(len(units), dtype=np.float32)
    for index, unit in enumerate(units):
        key = (unit or "mV").strip().lower()
        if key in _TO_MILLIVOLT:
            factors[index] = _TO_MILLIVOLT[key]
        else:
            logger.warning("%s: signal %d has unit %r, kept as is (expected mV)", source, index, unit)
    return factors


def read_ecg(path: str | os.PathLike) -> EcgRecord:
    """Read a WFDB record (`.hea` + `.dat`, or `.hea` + `.mat` as in PhysioNet/CinC 2020 and CSN).

    Args:
        path: the record with or without extension (`.../00001_lr`, `.../00001_lr.hea`, `.../JS00001.mat`).

    Returns:
        An `EcgRecord` whose signal is (n_leads, n_samples) float32 in mV. Samples the file marks invalid are NaN.

    Raises:
        FileNotFoundError: the header or a data file it names does not exist.
        ValueError: the header cannot be parsed, announces zero samples, disagrees with the size of its data
            file, or the data cannot be decoded. The message names the record.
    """
    wfdb_module = _require_wfdb()
    base = _record_base(path)
    source = str(base)
    header_path = base.with_name(base.name + ".hea")
    if not header_path.is_file():
        raise FileNotFoundError(f"ECG record {source}: header file {header_path} does not exist")
    try:
        header = wfdb_module.rdheader(str(base))
    except Exception as error:  # wfdb raises many types for malformed headers
        raise ValueError(f"ECG record {source}: unreadable header {header_path} ({error})") from error
    if not header.n_sig or not header.file_name:
        raise ValueError(f"ECG record {source}: the header declares no signals")
    if header.sig_len == 0:
        raise ValueError(f"ECG record {source}: the header declares zero samples")
    _check_data_files(header, base.parent, source)
    try:
        record = wfdb_module.rdrecord(str(base), physical=False)
        signal = record.dac(return_res=32)
    except Exception as error:
        raise ValueError(f"ECG record {source}: cannot decode the signal data ({error})") from error
    if signal is None or signal.ndim != 2 or signal.shape[0] == 0:
        raise ValueError(f"ECG record {source}: the data file holds zero samples")
    _warn_on_checksum_mismatch(record, source)
    signal = np.ascontiguousarray(signal.T, dtype=np.float32)
    signal *= _millivolt_factors(record.units or [None] * record.n_sig, source)[:, None]
    return EcgRecord(signal=signal, sampling_rate=float(record.fs), lead_names=list(record.sig_name), source=source)


def _warn_on_checksum_mismatch(record: Any, source: str) -> None:
    """Log a warning when the samples do not add up to the header's checksums (sign of corrupted data)."""
    if not record.checksum or not any(record.checksum):
        return  # writers that leave checksums at 0 carry no information
    actual = record.calc_checksum()
    mismatched = [name for name, want, got in zip(record.sig_name, record.checksum, actual) if int(want) != int(got)]
    if mismatched:
        logger.warning("%s: checksum mismatch for leads %s; the data may be corrupted", source, mismatched)


# --------------------------------------------------------------------------------------------------------------
# Lead names and the twelve standard leads
# --------------------------------------------------------------------------------------------------------------

_LEAD_ALIASES: dict[str, str] = {
    **{name.upper(): name for name in STANDARD_LEADS},
    # Einthoven's "derivations" (DI, DII, DIII, as in Brazilian and French data sets).
    "DI": "I",
    "DII": "II",
    "DIII": "III",
    "D1": "I",
    "D2": "II",
    "D3": "III",
    # European chest-lead naming.
    **{f"C{index}": f"V{index}" for index in range(1, 7)},
}

# Real ECG leads that are not among the twelve: Frank/vector leads, right-sided and posterior chest leads,
# inverted aVR (Cabrera), modified and bipolar Holter leads, EASI leads, unnamed ECG channels.
_NON_STANDARD_LEAD = re.compile(
    r"^(?:V[XYZ]|[XYZ]|V\d*R?|-AVR|M?L(?:I{1,3}|\d)|MV\d|CM\d|CC\d|CS\d|A[SI]|ES|ECG\d*|EKG\d*)$"
)


def _normalized_spelling(name: str) -> str:
    """Upper-case, drop a `lead` prefix and separators: ' Lead_aVr ' -> 'AVR'."""
    key = name.strip().upper()
    key = re.sub(r"^LEAD[\s_]*", "", key)
    return re.sub(r"[\s_]", "", key)


def canonical_lead_name(name: str) -> str | None:
    """Map a lead name as written in a file to one of `STANDARD_LEADS`.

    Args:
        name: e.g. "AVR", "avr", "aVR", "i", "DII", "v1", "C3", "Lead V5".

    Returns:
        The standard spelling ("aVR", "I", "II", "V1", ...), or None for a real ECG lead that is not one of the
        twelve (Frank leads vx/vy/vz or X/Y/Z, V7-V9, right-sided V3R/V4R, -aVR, Holter leads such as MLII).

    Raises:
        ValueError: `name` is not an ECG lead at all (e.g. "ABP", "PLETH"); the message names it.
    """
    key = _normalized_spelling(str(name))
    if key in _LEAD_ALIASES:
        return _LEAD_ALIASES[key]
    if _NON_STANDARD_LEAD.match(key):
        return None
    raise ValueError(f"{name!r} is not an ECG lead name (expected one of {', '.join(STANDARD_LEADS)} or a known variant)")


# How each limb lead follows from leads I and II (Einthoven's law and Goldberger's augmented leads).
_LIMB_LEADS_FROM_I_II: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0),
    "II": (0.0, 1.0),
    "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5),
    "aVL": (1.0, -0.5),
    "aVF": (-0.5, 1.0),
}

LeadTerms = dict[int, float]  # input lead index -> coefficient


@dataclass(frozen=True)
class LeadLayout:
    """How to build the twelve standard leads from one input lead order.

    Attributes:
        terms: per standard lead, the linear combination {input index: coefficient} that gives it
            (empty = missing, zero-filled).
        lead_mask: (12,) bool, True where the lead is recorded or derived.
        dropped: input names that are ECG leads but not among the twelve.
    """

    terms: tuple[LeadTerms, ...]
    lead_mask: np.ndarray
    dropped: tuple[str, ...]

    def apply(self, signal: np.ndarray) -> np.ndarray:
        """(..., n_leads, n_samples) -> (..., 12, n_samples) float32; NaN in a used lead propagates."""
        output = np.zeros(signal.shape[:-2] + (len(STANDARD_LEADS), signal.shape[-1]), dtype=np.float32)
        for lead_index, terms in enumerate(self.terms):
            for input_index, coefficient in terms.items():
                if coefficient == 1.0:
                    output[..., lead_index, :] += signal[..., input_index, :]
                else:
                    output[..., lead_index, :] += np.float32(coefficient) * signal[..., input_index, :]
        return output


def _combine(first: LeadTerms, second: LeadTerms, first_weight: float, second_weight: float) -> LeadTerms:
    combined: LeadTerms = {}
    for terms, weight in ((first, first_weight), (second, second_weight)):
        for index, coefficient in terms.items():
            combined[index] = combined.get(index, 0.0) + weight * coefficient
    return {index: coefficient for index, coefficient in combined.items() if coefficient != 0.0}


def _limb_terms_from_two(positions: dict[str, int]) -> dict[str, LeadTerms]:
    """Leads I and II as combinations of the recorded leads, when any two of I, II, III are recorded."""
    lead_i = {positions["I"]: 1.0} if "I" in positions else None
    lead_ii = {positions["II"]: 1.0} if "II" in positions else None
    lead_iii = {positions["III"]: 1.0} if "III" in positions else None
    if lead_i is None and lead_ii is not None and lead_iii is not None:
        lead_i = _combine(lead_ii, lead_iii, 1.0, -1.0)  # I = II - III
    if lead_ii is None and lead_i is not None and lead_iii is not None:
        lead_ii = _combine(lead_i, lead_iii, 1.0, 1.0)  # II = I + III
    if lead_i is None or lead_ii is None:
        return {}
    return {name: _combine(lead_i, lead_ii, *weights) for name, weights in _LIMB_LEADS_FROM_I_II.items()}


def lead_layout(lead_names: Sequence[str], source: str = "input", derive_limb_leads: bool = True) -> LeadLayout:
    """Plan the mapping of an input lead order onto `STANDARD_LEADS` (see `standardize_leads`).

    Raises:
        ValueError: a name is not an ECG lead, or two names denote the same standard lead.
    """
    positions: dict[str, int] = {}
    dropped: list[str] = []
    for index, name in enumerate(lead_names):
        try:
            canonical = canonical_lead_name(name)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        if canonical is None:
            dropped.append(str(name))
        elif canonical in positions:
            first = lead_names[positions[canonical]]
            raise ValueError(f"{source}: duplicate lead {canonical} (names {first!r} and {name!r})")
        else:
            positions[canonical] = index
    derived = _limb_terms_from_two(positions) if derive_limb_leads else {}
    terms = tuple(
        {positions[lead]: 1.0} if lead in positions else derived.get(lead, {}) for lead in STANDARD_LEADS
    )
    lead_mask = np.array([bool(lead_terms) for lead_terms in terms], dtype=bool)
    return LeadLayout(terms=terms, lead_mask=lead_mask, dropped=tuple(dropped))


def standardize_leads(
    signal: np.ndarray, lead_names: Sequence[str], source: str = "input", derive_limb_leads: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Reorder an ECG to `STANDARD_LEADS`, derive missing limb leads and zero-fill the rest.

    Missing limb leads are derived from any two of I, II, III (III = II - I, aVR = -(I + II) / 2,
    aVL = I - II / 2, aVF = II - I / 2); other missing leads are zeros with mask False. ECG leads that are not
    among the twelve (Frank leads, V7-V9, ...) are dropped with a warning naming them and `source`.

    Args:
        signal: (n_leads, n_samples) array, leads in the order of `lead_names`.
        lead_names: one name per row, any common spelling ("AVR", "avr", "v1", ...).
        source: names the ECG in messages (path or description).
        derive_limb_leads: derive missing limb leads; if False they are zero-filled.

    Returns:
        signal (12, n_samples) float32 in `STANDARD_LEADS` order, and lead_mask (12,) bool
        (True = recorded or derived).

    Raises:
        ValueError: signal is not 2-D, its row count differs from the number of names, a name is not an
            ECG lead, or a lead appears twice.
    """
    signal = np.asarray(signal)
    if signal.ndim != 2:
        raise ValueError(f"{source}: expected a 2-D signal (n_leads, n_samples), got shape {signal.shape}")
    if signal.shape[0] != len(lead_names):
        raise ValueError(
            f"{source}: {len(lead_names)} lead names for a signal of shape {signal.shape} (rows must be leads)"
        )
    layout = lead_layout(lead_names, source, derive_limb_leads)
    if layout.dropped:
        logger.warning("%s: dropping leads that are not among the 12 standard leads: %s", source, list(layout.dropped))
    return layout.apply(signal.astype(np.float32, copy=False)), layout.lead_mask.copy()
