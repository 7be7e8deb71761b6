"""Reading ECG records from disk: WFDB records -> `EcgRecord`.

`read_ecg(path)` reads a WFDB record (`.hea` + `.dat` as in PTB-XL and MIMIC-IV-ECG, `.hea` + `.mat` as in
PhysioNet/CinC 2020 and Chapman-Shaoxing-Ningbo) into an `EcgRecord`: signal (n_leads, n_samples) in mV, sampling
rate and lead names. This is the only module of the package that imports wfdb.

This file travels with checkpoints as remote code: it imports only installed libraries; wfdb is optional and
imported inside a `try:` block.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

try:
    import wfdb
except ImportError:  # optional: only `read_ecg` needs it
    wfdb = None

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
    # Parsing a header is the slowest step of reading a record (wfdb's parser), so it is parsed once, by rdrecord;
    # the header is parsed again on its own only to explain a record that could not be read.
    try:
        record = wfdb_module.rdrecord(str(base), physical=False)
        signal = record.dac(return_res=32)
    except Exception as error:  # wfdb raises many types for malformed records
        _check_header(wfdb_module, base, source)
        raise ValueError(f"ECG record {source}: cannot decode the signal data ({error})") from error
    if not _is_multi_segment(header_path):  # segments of multi-segment records are checked by wfdb
        _check_header_fields(record, source)
        _check_data_files(record, base.parent, f"ECG record {source}")
    if signal is None or signal.ndim != 2 or signal.shape[0] == 0:
        raise ValueError(f"ECG record {source}: the data file holds zero samples")
    _warn_on_checksum_mismatch(record, source)
    signal = np.ascontiguousarray(signal.T, dtype=np.float32)
    signal *= _millivolt_factors(record.units or [None] * record.n_sig, source)[:, None]
    return EcgRecord(signal=signal, sampling_rate=float(record.fs), lead_names=list(record.sig_name), source=source)


def _is_multi_segment(header_path: Path) -> bool:
    """A multi-segment header's record line reads `name/n_segments ...`."""
    with open(header_path, encoding="latin-1") as header_file:
        for line in header_file:
            if line.strip() and not line.startswith("#"):
                return "/" in line.split()[0]
    return False


def _check_header_fields(header: Any, source: str) -> None:
    """Raise if a parsed header (or the record read with it) declares no samples or no signals."""
    if header.sig_len == 0:
        raise ValueError(f"ECG record {source}: the header declares zero samples")
    if not header.n_sig or not header.file_name:
        raise ValueError(f"ECG record {source}: the header declares no signals")


def _check_header(wfdb_module: Any, base: Path, source: str) -> None:
    """Parse the header alone and raise the error that explains why its record cannot be read, if it does."""
    header_path = base.with_name(base.name + ".hea")
    try:
        header = wfdb_module.rdheader(str(base))
    except Exception as error:  # wfdb raises many types for malformed headers
        raise ValueError(f"ECG record {source}: unreadable header {header_path} ({error})") from error
    if isinstance(header, wfdb_module.MultiRecord):
        if header.sig_len == 0:
            raise ValueError(f"ECG record {source}: the header declares zero samples")
        return
    _check_header_fields(header, source)
    _check_data_files(header, base.parent, f"ECG record {source}")


def _warn_on_checksum_mismatch(record: Any, source: str) -> None:
    """Log a warning when the samples do not add up to the header's checksums (sign of corrupted data)."""
    if not record.checksum or not any(record.checksum):
        return  # writers that leave checksums at 0 carry no information
    actual = record.calc_checksum()
    mismatched = [name for name, want, got in zip(record.sig_name, record.checksum, actual) if int(want) != int(got)]
    if mismatched:
        logger.warning("%s: checksum mismatch for leads %s; the data may be corrupted", source, mismatched)


def is_ecg_record(value: Any) -> bool:
    """An `EcgRecord`, recognised by its fields: with trust_remote_code, transformers imports this file once per
    class that needs it (pipeline, feature extractor), so a record made by one copy is not an instance of another's."""
    return isinstance(value, EcgRecord) or all(
        hasattr(value, field) for field in ("signal", "sampling_rate", "lead_names", "source")
    )


