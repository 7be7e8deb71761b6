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
import re
import stat
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
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
        start_sample: index in the record of `signal`'s first sample (0 unless a window was read).
        total_samples: the record's length in samples as its header gives it (None when unknown).
    """

    signal: np.ndarray
    sampling_rate: float
    lead_names: list[str]
    source: str
    start_sample: int = 0
    total_samples: int | None = None

    @property
    def is_window(self) -> bool:
        """True when `signal` holds only part of the record (`read_ecg(..., max_seconds=...)`)."""
        return self.total_samples is not None and self.signal.shape[-1] < self.total_samples


def _record_base(path: str | os.PathLike) -> Path:
    """`.../00001_lr`, `.../00001_lr.hea`, `.../JS00001.mat` -> the record path without extension."""
    path = Path(path)
    if path.suffix.lower() in _RECORD_SUFFIXES:
        return path.with_suffix("")
    return path


# Storage formats of WFDB signal files (https://wfdb.io/spec/signal-files.html) that wfdb reads.
KNOWN_FORMATS = frozenset({8, 16, 24, 32, 61, 80, 160, 212, 310, 311, 508, 516, 524})
# A header is a few lines of text; anything far larger is not one (and is not read into memory).
MAX_HEADER_BYTES = 1 << 20
# MAT v4 (PhysioNet/CinC `.mat`): five little-endian int32 (type, rows, columns, imaginary flag, name length) and
# the variable name; type 30 = little-endian IEEE machine, int16 values, full numeric matrix, which is what
# WFDB's `16+24` signal lines describe.
_MAT4_HEADER = struct.Struct("<5i")
_MAT4_INT16 = 30
_MAT_VARIABLE = "val"

_FILE_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
               (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))
_FORMAT_SPEC = re.compile(r"^(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?$")
_NON_NEGATIVE_INTEGER = re.compile(r"^\d+$")


@dataclass(frozen=True)
class SignalSpec:
    """What one signal line of a header says about where its samples are stored."""

    file_name: str
    fmt: int
    samples_per_frame: int
    byte_offset: int
    line: str = field(default="", compare=False)  # the signal line as written (read by `_format16_layout`)


@dataclass(frozen=True)
class WfdbHeader:
    """A WFDB header parsed strictly (`read_header`).

    Attributes:
        path: the `.hea` file.
        n_sig: number of signals.
        sampling_rate: samples per second per signal (positive, finite).
        sig_len: samples per signal, None when the header leaves it out.
        signals: one `SignalSpec` per signal line (empty for a multi-segment header).
        segments: (name, samples) per segment of a multi-segment header, else empty.
    """

    path: Path
    n_sig: int
    sampling_rate: float
    sig_len: int | None
    signals: tuple[SignalSpec, ...]
    segments: tuple[tuple[str, int], ...] = ()


def _header_text_lines(path: Path, source: str) -> list[str]:
    """The non-blank lines of a header (stripped), read only once it is known to be a small regular file."""
    size = _regular_file_size(path, source, "header")
    if size > MAX_HEADER_BYTES:
        raise ValueError(
            f"ECG record {source}: header {path} has {size} bytes, not a WFDB header (> {MAX_HEADER_BYTES})"
        )
    text = _header_text(path.read_bytes())
    return [line.strip() for line in text.splitlines() if line.strip()]


def _header_text(data: bytes) -> str:
    """Headers written today are UTF-8 (a data file named `données.dat` must read so in messages); older ones may be
    Latin-1, where any byte decodes. The fields are checked one by one afterwards."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _header_lines(path: Path, source: str) -> list[str]:
    """The non-comment lines of a header (record line, then signal or segment lines)."""
    return [line for line in _header_text_lines(path, source) if not line.startswith("#")]


def read_header_comments(path: str | os.PathLike) -> dict[str, str]:
    """The `#key: value` comment lines of a record's header, e.g. PhysioNet/CinC's `#Dx: 426783006,164889003`,
    `#Age: 74`, `#Sex: Male` -> {"dx": "426783006,164889003", "age": "74", "sex": "Male"}.

    Keys are lower case and stripped, values stripped; where a key repeats, its first line wins. Comment lines
    without a colon are not fields. The record and signal lines are not parsed here (`read_header` does that).

    Args:
        path: the record, with or without extension.

    Raises:
        FileNotFoundError: no header. ValueError: the header is no regular file or is too large (names the record).
    """
    base = _record_base(path)
    fields: dict[str, str] = {}
    for line in _header_text_lines(base.with_name(base.name + ".hea"), str(base)):
        if line.startswith("#") and ":" in line:
            key, value = line[1:].split(":", 1)
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _regular_file_size(path: Path, source: str, what: str) -> int:
    """Size of `path` once it is known to be a regular file (links followed): a FIFO would block the read, a
    device (`/dev/zero`) would never end, a folder cannot be read.

    Raises:
        FileNotFoundError: nothing at `path`.
        ValueError: `path` is not a regular file (names its kind).
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"ECG record {source}: {what} file {path} does not exist") from None
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(status.st_mode)), "special file")
        raise ValueError(f"ECG record {source}: {what} file {path} is a {kind}, not a regular file")
    return status.st_size


def _sampling_rate_field(field: str, source: str) -> float:
    """`500`, `500.0`, `360/360(0)` -> the rate; anything that is not a positive finite number is refused."""
    text = field.split("/", 1)[0]
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"ECG record {source}: sampling rate {field!r} in the header is not a positive finite number")
    return rate


def _count_field(field: str, what: str, source: str) -> int:
    if not _NON_NEGATIVE_INTEGER.match(field):
        raise ValueError(f"ECG record {source}: {what} {field!r} in the header is not a non-negative integer")
    return int(field)


def _plain_file_name(name: str, source: str) -> str:
    """Data files and segments sit next to their header: a name with a folder in it would read elsewhere."""
    if name != Path(name).name or name in ("", ".", ".."):
        raise ValueError(f"ECG record {source}: header names the file {name!r}, not a file of the record's folder")
    if not name.isascii():  # wfdb reads headers as ASCII, dropping other bytes: it would open another file
        raise ValueError(
            f"ECG record {source}: header names the file {name!r}, which is not ASCII (WFDB headers are ASCII text); "
            "rename the file and its header line"
        )
    return name


def _signal_spec(line: str, source: str) -> SignalSpec:
    fields = line.split()
    if len(fields) < 2:
        raise ValueError(f"ECG record {source}: signal line {line[:80]!r} has no storage format")
    match = _FORMAT_SPEC.match(fields[1])
    if match is None:
        raise ValueError(f"ECG record {source}: storage format {fields[1]!r} in the header is not a WFDB format")
    fmt = int(match["fmt"])
    if fmt not in KNOWN_FORMATS:
        raise ValueError(f"ECG record {source}: unknown WFDB storage format {fmt} (known: {sorted(KNOWN_FORMATS)})")
    file_name = fields[0] if fields[0] == "~" else _plain_file_name(fields[0], source)
    return SignalSpec(file_name, fmt, int(match["spf"] or 1) or 1, int(match["offset"] or 0), line)


def read_header(path: str | os.PathLike) -> WfdbHeader:
    """Parse a WFDB header strictly, without reading any signal data.

    Args:
        path: the record, with or without extension.

    Raises:
        FileNotFoundError: no header.
        ValueError: the header is no regular file, is too large, or a field is malformed: a sampling rate that is
            missing or not a positive finite number, a negative or non-integer sample or signal count, an unknown
            storage format, fewer signal lines than signals, or a file name outside the record's folder. Each
            message names the record.
    """
    base = _record_base(path)
    source = str(base)
    header_path = base.with_name(base.name + ".hea")
    lines = _header_lines(header_path, source)
    if not lines:
        raise ValueError(f"ECG record {source}: header {header_path} has no record line")
    fields = lines[0].split()
    if len(fields) < 2:
        raise ValueError(f"ECG record {source}: record line {lines[0][:80]!r} lacks the number of signals")
    name, _, segment_count = fields[0].partition("/")
    n_sig = _count_field(fields[1], "number of signals", source)
    if len(fields) < 3:
        raise ValueError(f"ECG record {source}: the header gives no sampling rate (the record line has no third field)")
    rate = _sampling_rate_field(fields[2], source)
    sig_len = _count_field(fields[3], "number of samples", source) if len(fields) > 3 else None
    if segment_count:
        count = _count_field(segment_count, "number of segments", source)
        segments = tuple(_segment(line, source) for line in lines[1 : 1 + count])
        if len(segments) != count:
            raise ValueError(f"ECG record {source}: the header announces {count} segments and lists {len(segments)}")
        return WfdbHeader(header_path, n_sig, rate, sig_len, (), segments)
    signals = tuple(_signal_spec(line, source) for line in lines[1 : 1 + n_sig])
    if len(signals) != n_sig:
        raise ValueError(f"ECG record {source}: the header announces {n_sig} signals and describes {len(signals)}")
    return WfdbHeader(header_path, n_sig, rate, sig_len, signals)


def _segment(line: str, source: str) -> tuple[str, int]:
    fields = line.split()
    if len(fields) != 2:
        raise ValueError(f"ECG record {source}: segment line {line[:80]!r} is not 'name samples'")
    name = fields[0] if fields[0] == "~" else _plain_file_name(fields[0], source)
    return name, _count_field(fields[1], "segment length", source)


def _expected_data_bytes(header: WfdbHeader, file_name: str) -> tuple[int, bool] | None:
    """Size in bytes that `file_name` must have according to the header, and whether it is only a lower bound.

    None when the size cannot be known from the header (FLAC formats, unknown length, formats mixed in a file).
    """
    specs = [spec for spec in header.signals if spec.file_name == file_name]
    formats = {spec.fmt for spec in specs}
    if header.sig_len is None or len(formats) != 1 or not formats <= set(_BYTES_PER_SAMPLE):
        return None
    (fmt,) = formats
    samples_per_frame = sum(spec.samples_per_frame for spec in specs)
    data_bytes = math.ceil(samples_per_frame * header.sig_len * _BYTES_PER_SAMPLE[fmt])
    return max(spec.byte_offset for spec in specs) + data_bytes, fmt in _PACKED_FORMATS


def _check_data_file(header: WfdbHeader, data_path: Path, source: str) -> None:
    """Raise if a data file is no regular file or its size (or MAT v4 header) contradicts the header."""
    actual_bytes = _regular_file_size(data_path, source, "data")
    if data_path.suffix.lower() == ".mat":
        _check_mat4(header, data_path, source)
    expected = _expected_data_bytes(header, data_path.name)
    if expected is None:
        return
    expected_bytes, packed = expected
    # Packed formats may carry up to one partly used group of bytes at the end.
    size_ok = expected_bytes <= actual_bytes <= expected_bytes + 4 if packed else actual_bytes == expected_bytes
    if not size_ok:
        raise ValueError(
            f"ECG record {source}: the header announces {header.n_sig} signals x {header.sig_len} samples "
            f"({expected_bytes} bytes in {data_path.name}), but {data_path} has {actual_bytes} bytes: "
            "the header does not describe this data file (truncated or mismatched record)"
        )


def _check_mat4(header: WfdbHeader, data_path: Path, source: str) -> None:
    """A `.mat` must be MATLAB v4 with one int16 matrix `val` of (signals, samples), where the header says the
    samples start; anything else (v5/v7.3 files, float data, random bytes) would be decoded as garbage."""
    with open(data_path, "rb") as mat_file:
        head = mat_file.read(_MAT4_HEADER.size + 64)
    if head.startswith(b"MATLAB"):
        version = head[:19].decode("ascii", "replace")
        raise ValueError(f"ECG record {source}: {data_path} is a {version!r} file; only MATLAB v4 files (as "
                         "PhysioNet/CinC writes them, variable 'val', int16) can be read")
    if len(head) < _MAT4_HEADER.size:
        raise ValueError(f"ECG record {source}: {data_path} is too short for a MATLAB v4 header")
    kind, rows, columns, imaginary, name_length = _MAT4_HEADER.unpack_from(head)
    name_end = _MAT4_HEADER.size + name_length
    name = head[_MAT4_HEADER.size : name_end - 1].decode("latin-1") if 0 < name_length <= 64 else None
    problems = []
    if kind != _MAT4_INT16 or imaginary != 0:
        problems.append(f"matrix type {kind} (imaginary flag {imaginary}); need {_MAT4_INT16}, little-endian int16")
    if name != _MAT_VARIABLE or head[name_end - 1 : name_end] != b"\0":
        problems.append(f"variable {name!r}; need {_MAT_VARIABLE!r}")
    file_signals = sum(spec.samples_per_frame for spec in header.signals if spec.file_name == data_path.name)
    if (rows, columns) != (file_signals, header.sig_len if header.sig_len is not None else columns):
        problems.append(f"a {rows} x {columns} matrix; the header describes {file_signals} x {header.sig_len}")
    offsets = {spec.byte_offset for spec in header.signals if spec.file_name == data_path.name}
    if offsets != {name_end}:
        problems.append(f"data at byte {name_end}; the header says {sorted(offsets)}")
    if problems:
        raise ValueError(f"ECG record {source}: {data_path} is not the MATLAB v4 file its header describes: "
                         + "; ".join(problems))


def validate_record(path: str | os.PathLike) -> WfdbHeader:
    """Everything that can be checked before a record's samples are read: a strict header, and data files that
    are regular files of the size (and, for `.mat`, the MAT v4 layout) it describes; segments of a multi-segment
    record likewise. Returns the parsed header.

    Raises:
        FileNotFoundError / ValueError: as `read_ecg`, naming the record and the problem.
    """
    base = _record_base(path)
    source = str(base)
    header = read_header(base)
    if header.segments:
        if header.sig_len == 0:
            raise ValueError(f"ECG record {source}: the header declares zero samples")
        for name, _ in header.segments:
            if name != "~":
                validate_record(base.with_name(name))
        return header
    if header.sig_len == 0:
        raise ValueError(f"ECG record {source}: the header declares zero samples")
    if header.n_sig == 0:
        raise ValueError(f"ECG record {source}: the header declares no signals")
    for file_name in dict.fromkeys(spec.file_name for spec in header.signals):
        if file_name != "~":
            _check_data_file(header, base.parent / file_name, source)
    return header


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


CROP_MODES = ("start", "center")


def read_window(total_samples: int | None, sampling_rate: float, max_seconds: float | None,
                crop: str = "start") -> tuple[int, int | None]:
    """The samples [start, stop) of a record that `read_ecg` reads: all of them without `max_seconds` or when the
    record is no longer; else `ceil(max_seconds * sampling_rate)` samples from the start (`crop="start"`) or around
    the middle (`"center"`, starting at `(total - kept) // 2`, the feature extractor's crop). stop None: to the end."""
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}; got {crop!r}")
    if max_seconds is None or total_samples is None:
        return 0, None
    kept = max(1, math.ceil(max_seconds * sampling_rate))
    if total_samples <= kept:
        return 0, None
    start = (total_samples - kept) // 2 if crop == "center" else 0
    return start, start + kept


def read_ecg(path: str | os.PathLike, max_seconds: float | None = None, crop: str = "start") -> EcgRecord:
    """Read a WFDB record (`.hea` + `.dat`, or `.hea` + `.mat` as in PhysioNet/CinC 2020 and CSN).

    Nothing is read from a data file before the header has been parsed strictly and every file it names has been
    found to be a regular file of the announced size (`validate_record`): a FIFO, a device, a header claiming
    more samples than stored, or a `.mat` that is not the MAT v4 int16 matrix its header describes is refused.

    With `max_seconds`, only that window is read from the data files (`read_window`: the first `max_seconds`, or the
    middle ones with `crop="center"`), so memory and time do not grow with the record's length: a 24-hour Holter
    record costs what a 10 s one costs. The record's `start_sample` and `total_samples` say which window it holds.

    Args:
        path: the record with or without extension (`.../00001_lr`, `.../00001_lr.hea`, `.../JS00001.mat`).
        max_seconds: read at most this many seconds (None: the whole record).
        crop: which window of a longer record: "start" or "center".

    Returns:
        An `EcgRecord` whose signal is (n_leads, n_samples) float32 in mV. Samples the file marks invalid are NaN.

    Raises:
        FileNotFoundError: the header or a data file it names does not exist.
        ValueError: the header cannot be parsed (sampling rate not positive and finite, negative counts, unknown
            format...), names something that is not a regular file, disagrees with the size or layout of its data
            file, or the data cannot be decoded. The message names the record.
    """
    base = _record_base(path)
    source = str(base)
    header = validate_record(base)
    start, stop = read_window(header.sig_len, header.sampling_rate, max_seconds, crop)
    layout = _format16_layout(header)
    if layout is not None:
        signal, units, lead_names = _read_format16(header, layout, base, start, stop, source)
    else:
        signal, units, lead_names = _read_with_wfdb(header, base, start, stop, source)
    signal = np.ascontiguousarray(signal.T, dtype=np.float32)
    signal *= _millivolt_factors(units, source)[:, None]
    return EcgRecord(signal=signal, sampling_rate=header.sampling_rate, lead_names=lead_names,
                     source=source, start_sample=start, total_samples=header.sig_len)


def _read_with_wfdb(
    header: WfdbHeader, base: Path, start: int, stop: int | None, source: str
) -> tuple[np.ndarray, list[str | None], list[str]]:
    """(samples, signals) float32 physical values, units and lead names of any format wfdb reads."""
    wfdb_module = _require_wfdb()
    try:
        record = wfdb_module.rdrecord(str(base), sampfrom=start, sampto=stop, physical=False)
        signal = record.dac(return_res=32)
    except Exception as error:  # wfdb raises many types for malformed records
        raise ValueError(f"ECG record {source}: cannot decode the signal data ({error})") from error
    if signal is None or signal.ndim != 2 or signal.shape[0] == 0:
        raise ValueError(f"ECG record {source}: the data file holds zero samples")
    if not math.isclose(float(record.fs), header.sampling_rate, rel_tol=1e-9):
        # wfdb's own parser reads some valid numbers wrongly (`1e9` as 1): the strictly parsed rate is the truth.
        logger.debug("%s: wfdb read the sampling rate as %s, the header says %s", source, record.fs,
                     header.sampling_rate)
    if stop is None:  # checksums sum the whole record: a window cannot be checked against them
        _warn_on_checksum_mismatch(record.sig_name, record.checksum, record.calc_checksum(), source)
    return signal, record.units or [None] * record.n_sig, list(record.sig_name)


# A signal line's `gain(baseline)/units` field as PTB-XL and MIMIC-IV-ECG write it (all three parts present).
_GAIN_FIELD = re.compile(r"^(?P<gain>\d+(?:\.\d*)?)\((?P<baseline>-?\d+)\)/(?P<units>\S+)$")
_SIGNED_INTEGER = re.compile(r"^-?\d+$")
# The sample value that WFDB format 16 reserves for "invalid" (NaN once converted), as in wfdb's `_digi_nan`.
_FORMAT16_INVALID = -32768


@dataclass(frozen=True)
class _Format16Layout:
    """The signal lines of a record whose samples are all in one format-16 file, fully specified."""

    file_name: str
    gains: np.ndarray  # (n_sig,) float64 ADC units per physical unit
    baselines: np.ndarray  # (n_sig,) float64 ADC value of 0 physical units
    units: list[str | None]
    lead_names: list[str]
    checksums: list[int]


def _format16_layout(header: WfdbHeader) -> _Format16Layout | None:
    """The layout of a record whose signals all sit, interleaved, in one WFDB format-16 file from its first byte,
    each signal line giving gain(baseline)/units, resolution, zero, initial value, checksum, block size and a
    one-word description; None for anything else (wfdb reads it). wfdb's header parser indexes a pandas frame field
    by field (most of a MIMIC build's time), so the common case is read here with numpy."""
    if header.sig_len is None or not header.signals:
        return None
    gains, baselines, units, names, checksums = [], [], [], [], []
    for spec in header.signals:
        fields = spec.line.split()
        if (spec.file_name != header.signals[0].file_name or spec.file_name == "~" or len(fields) != 9
                or fields[1] != "16"):
            return None
        gain = _GAIN_FIELD.match(fields[2])
        if gain is None or float(gain["gain"]) == 0 or not all(_SIGNED_INTEGER.match(f) for f in fields[3:8]):
            return None
        gains.append(float(gain["gain"]))
        baselines.append(int(gain["baseline"]))
        units.append(gain["units"])
        checksums.append(int(fields[6]))
        names.append(fields[8])
    return _Format16Layout(header.signals[0].file_name, np.asarray(gains, dtype=np.float64),
                           np.asarray(baselines, dtype=np.float64), units, names, checksums)


def _read_format16(
    header: WfdbHeader, layout: _Format16Layout, base: Path, start: int, stop: int | None, source: str
) -> tuple[np.ndarray, list[str | None], list[str]]:
    """(samples, signals) float32 physical values, units and lead names of a format-16 record, as wfdb's
    `rdrecord(physical=False).dac(return_res=32)` gives them: (digital - baseline) / gain computed in float64 and
    rounded once to float32, the invalid value -32768 as NaN. `validate_record` has checked the file's size."""
    assert header.sig_len is not None
    stop = header.sig_len if stop is None else stop
    n_sig = header.n_sig
    try:
        digital = np.fromfile(base.parent / layout.file_name, dtype="<i2", count=(stop - start) * n_sig,
                              offset=start * n_sig * 2).reshape(-1, n_sig)
    except (OSError, ValueError) as error:
        raise ValueError(f"ECG record {source}: cannot decode the signal data ({error})") from error
    if digital.shape[0] != stop - start:
        raise ValueError(f"ECG record {source}: {layout.file_name} holds {digital.shape[0]} samples per signal, "
                         f"the header announces {stop - start}")
    if stop - start == header.sig_len:  # checksums sum the whole record: a window cannot be checked against them
        sums = digital.sum(axis=0, dtype=np.int64) % 65536
        _warn_on_checksum_mismatch(layout.lead_names, layout.checksums, [int(value) for value in sums], source)
    signal = ((digital - layout.baselines) / layout.gains).astype(np.float32)
    signal[digital == _FORMAT16_INVALID] = np.nan
    return signal, list(layout.units), list(layout.lead_names)


def _warn_on_checksum_mismatch(
    names: Sequence[str], wanted: Sequence[int] | None, actual: Sequence[int], source: str
) -> None:
    """Log a warning when the samples do not add up to the header's checksums (sign of corrupted data).

    Checksums are 16-bit sums: writers store them signed (CinC 2021: Georgia, Ningbo, PTB-XL in CinC format) or
    unsigned, so they are compared modulo 65536."""
    if not wanted or not any(wanted):
        return  # writers that leave checksums at 0 carry no information
    mismatched = [name for name, want, got in zip(names, wanted, actual) if (int(want) - int(got)) % 65536]
    if mismatched:
        logger.warning("%s: checksum mismatch for leads %s; the data may be corrupted", source, mismatched)


def is_ecg_record(value: Any) -> bool:
    """An `EcgRecord`, recognised by its fields: with trust_remote_code, transformers imports this file once per
    class that needs it (pipeline, feature extractor), so a record made by one copy is not an instance of another's."""
    return isinstance(value, EcgRecord) or all(
        hasattr(value, field) for field in ("signal", "sampling_rate", "lead_names", "source")
    )


