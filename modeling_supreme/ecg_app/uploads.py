"""What the page reads: uploaded files (a WFDB record, a lone PhysioNet/CinC `.mat`, a `.npy` or `.csv` array) and
the bundled example records, each turned into an `EcgRecord`.

Uploaded files are only read from where the web framework put them and, for a WFDB record, linked into a temporary
folder that is removed as soon as the record is read. Every problem is a `ValueError` whose message names the uploaded
file (never a temporary path), so the page can show it as it is.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from ..configuration_supreme import STANDARD_LEADS
from ..data_sources import PTBXL_SAMPLE, DataSourceError, ptbxl_folder, record_files
from ..reading_supreme import EcgRecord, read_ecg, read_header_comments

logger = logging.getLogger(__name__)

# Uploads larger than this (all files of one record together) are refused before anything is read.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
HEADER_SUFFIX = ".hea"
WFDB_DATA_SUFFIXES = (".dat", ".mat")
ARRAY_SUFFIXES = (".npy", ".csv", ".mat")
# PhysioNet/CinC `.mat` files hold the int16 matrix `val` at this many units per mV (their headers' gain).
CINC_UNITS_PER_MV = 1000.0
CINC_VARIABLE = "val"
# Example records: the first PTB-XL records at 500 Hz (10 s, 12 leads), found by the data resolver.
EXAMPLE_RATE = 500
MAX_EXAMPLES = 12


def example_records(data_dir: Optional[str | os.PathLike] = None, limit: int = MAX_EXAMPLES) -> dict[str, Path]:
    """Record name -> record path (no extension) of the first `limit` PTB-XL records at 500 Hz.

    They come from `data_dir` when given (a folder in PTB-XL's layout, or one holding `ptbxl-sample/`), else from the
    data resolver (`data_sources.ptbxl_folder`: `SUPREME_DATA_DIR`, the user cache, or a download). Empty, with a
    logged warning, when there are none: the page then takes uploads only.
    """
    ids = range(1, limit + 1)
    if data_dir is not None:
        root = next((folder for folder in (Path(data_dir), Path(data_dir) / PTBXL_SAMPLE)
                     if (folder / "records500").is_dir()), None)
    else:
        try:
            root = ptbxl_folder(ids, (EXAMPLE_RATE,), progress=False)
        except (DataSourceError, OSError) as error:
            logger.warning("No example records (%s); the page takes uploads only.", error)
            return {}
    if root is None:
        logger.warning("No example records under %s; the page takes uploads only.", data_dir)
        return {}
    headers = [root / name for name in record_files(ids, (EXAMPLE_RATE,)) if name.endswith(HEADER_SUFFIX)]
    return {header.stem: header.with_suffix("") for header in headers if header.is_file()}


def upload_size_error(paths: Sequence[str | os.PathLike], limit: int = MAX_UPLOAD_BYTES) -> Optional[str]:
    """A message when the files together exceed `limit` bytes, else None."""
    total = sum(os.path.getsize(path) for path in paths)
    if total > limit:
        return f"The upload has {total / 2**20:.1f} MB; this page takes at most {limit / 2**20:.0f} MB per record."
    return None


def read_uploaded_ecg(
    paths: Sequence[str | os.PathLike],
    sampling_rate: Optional[float] = None,
    lead_names: Optional[Sequence[str]] = None,
) -> tuple[EcgRecord, dict[str, str]]:
    """Read the files of one uploaded ECG.

    Args:
        paths: a WFDB record (its `.hea` with its `.dat` or `.mat`), or one `.npy` / `.csv` / lone `.mat` array.
        sampling_rate: Hz of an array upload (a WFDB header gives its own).
        lead_names: names of an array's leads; default the twelve standard leads in order.

    Returns:
        An `EcgRecord` (signal (n_leads, n_samples) in mV) whose source is the uploaded file's name, and the header's
        `#key: value` comments (age, sex, diagnoses of PhysioNet/CinC records; empty for arrays).

    Raises:
        ValueError: nothing uploaded, too large, an unknown file type, files that are not one record, or a file that
            cannot be read as an ECG (the message names the file and the problem).
    """
    if not paths:
        raise ValueError("No file uploaded: upload a record or choose an example.")
    too_large = upload_size_error(paths)
    if too_large:
        raise ValueError(too_large)
    files = [Path(path) for path in paths]
    headers = [path for path in files if path.suffix.lower() == HEADER_SUFFIX]
    if headers:
        return _read_wfdb_upload(files, headers)
    if len(files) > 1:
        names = ", ".join(path.name for path in files)
        raise ValueError(f"Got several files ({names}) but no .hea header: upload one array file, or a WFDB .hea "
                         "with its .dat or .mat.")
    return _read_array_upload(files[0], sampling_rate, lead_names), {}


def _read_wfdb_upload(files: list[Path], headers: list[Path]) -> tuple[EcgRecord, dict[str, str]]:
    """A WFDB record read from a temporary folder holding links to its uploaded files (their names as uploaded)."""
    if len(headers) > 1:
        raise ValueError(f"Upload one record at a time: got {len(headers)} headers "
                         f"({', '.join(path.name for path in headers)}).")
    for path in files:
        if path.suffix.lower() not in (HEADER_SUFFIX, *WFDB_DATA_SUFFIXES):
            raise ValueError(f"{path.name}: not part of a WFDB record (expected the .hea with its .dat or .mat).")
    name = headers[0].stem
    folder = Path(tempfile.mkdtemp(prefix="supreme-upload-"))
    try:
        for path in files:
            _link_or_copy(path, folder / path.name)
        try:
            record = read_ecg(folder / name)
        except FileNotFoundError as error:
            raise ValueError(
                f"{_without_folder(error, folder)} (upload the .hea together with the data file it names)"
            ) from None
        except ValueError as error:
            raise ValueError(_without_folder(error, folder)) from None
        record.source = headers[0].name
        comments = read_header_comments(folder / name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return record, comments


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.symlink(source.resolve(), target)
    except OSError:
        shutil.copyfile(source, target)


def _without_folder(error: BaseException, folder: Path) -> str:
    """An error message with the temporary folder left out, so that it names the uploaded files."""
    return str(error).replace(f"{folder}{os.sep}", "").replace(str(folder), "upload")


def _read_array_upload(path: Path, sampling_rate: Optional[float], lead_names: Optional[Sequence[str]]) -> EcgRecord:
    suffix = path.suffix.lower()
    if suffix not in ARRAY_SUFFIXES:
        raise ValueError(f"{path.name}: unknown file type {suffix or '(none)'}; upload a WFDB record (.hea with "
                         ".dat or .mat), a PhysioNet/CinC .mat, or a .npy or .csv array.")
    if sampling_rate is None or not np.isfinite(sampling_rate) or sampling_rate <= 0:
        raise ValueError(f"{path.name}: an array file needs its sampling rate: fill in the sampling-rate field (Hz).")
    header_names: Optional[list[str]] = None
    if suffix == ".npy":
        signal = _read_npy(path)
    elif suffix == ".csv":
        signal, header_names = _read_csv(path)
    else:
        signal = _read_lone_mat(path)
    names = list(lead_names) if lead_names else header_names or list(STANDARD_LEADS)
    signal = _leads_first(signal, len(names), path.name, columns_are_leads=header_names is not None)
    return EcgRecord(signal=signal, sampling_rate=float(sampling_rate), lead_names=names, source=path.name)


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path.name}: not a readable NumPy .npy array ({error}).") from None
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{path.name}: holds {array.dtype} values, not numbers.")
    return array


def _read_csv(path: Path) -> tuple[np.ndarray, Optional[list[str]]]:
    """Columns are leads, rows samples; a first row that is not numeric names the leads."""
    try:
        rows = [line.split(",") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path.name}: not a readable CSV text file ({error}).") from None
    if not rows:
        raise ValueError(f"{path.name}: the CSV file is empty.")
    names = None
    if not _all_numbers(rows[0]):
        names, rows = [cell.strip() for cell in rows[0]], rows[1:]
    widths = {len(row) for row in rows}
    if not rows or len(widths) != 1:
        raise ValueError(f"{path.name}: the CSV rows have different numbers of columns ({sorted(widths)}) or no data.")
    try:
        signal = np.array([[float(cell) if cell.strip() else np.nan for cell in row] for row in rows], dtype=np.float32)
    except ValueError as error:
        raise ValueError(f"{path.name}: a CSV cell is not a number ({error}).") from None
    return signal, names


def _all_numbers(cells: list[str]) -> bool:
    try:
        [float(cell) for cell in cells]
    except ValueError:
        return False
    return True


def _read_lone_mat(path: Path) -> np.ndarray:
    """A `.mat` without its header: the int16 matrix `val` as PhysioNet/CinC writes it (1000 units per mV), or the
    file's only numeric matrix (taken as mV)."""
    from scipy.io import loadmat

    try:
        variables = {key: value for key, value in loadmat(path).items() if not key.startswith("__")}
    except (OSError, ValueError, NotImplementedError, TypeError) as error:
        raise ValueError(f"{path.name}: not a readable MATLAB file ({error}).") from None
    if CINC_VARIABLE in variables:
        values = np.asarray(variables[CINC_VARIABLE])
        if np.issubdtype(values.dtype, np.integer):
            return values.astype(np.float32) / CINC_UNITS_PER_MV
        return values
    matrices = {key: value for key, value in variables.items()
                if isinstance(value, np.ndarray) and value.ndim == 2 and np.issubdtype(value.dtype, np.number)}
    if len(matrices) != 1:
        raise ValueError(f"{path.name}: expected the matrix {CINC_VARIABLE!r} (or a single numeric matrix); found "
                         f"{sorted(variables) or 'no variables'}.")
    return next(iter(matrices.values()))


def _leads_first(signal: np.ndarray, n_leads: int, name: str, columns_are_leads: bool = False) -> np.ndarray:
    """(n_leads, n_samples) float32 from an array holding the leads as rows or as columns."""
    signal = np.asarray(signal)
    if signal.ndim == 1:
        signal = signal[None, :] if n_leads == 1 else signal
    if signal.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (leads x samples); got shape {signal.shape}.")
    if columns_are_leads or (signal.shape[1] == n_leads and signal.shape[0] != n_leads):
        signal = signal.T
    if signal.shape[0] != n_leads:
        raise ValueError(f"{name}: an array of shape {signal.shape} does not hold {n_leads} leads as rows or columns; "
                         "fill in the lead names field with the name of each lead.")
    return np.ascontiguousarray(signal, dtype=np.float32)


def parse_lead_names(text: Optional[str]) -> Optional[list[str]]:
    """"I, II, V1" -> ["I", "II", "V1"]; empty or None -> None (the default order)."""
    if not text or not text.strip():
        return None
    return [name.strip() for name in text.replace(";", ",").split(",") if name.strip()]


def read_example(path: str | os.PathLike) -> tuple[EcgRecord, dict[str, str]]:
    """A bundled example record (its source: the record's name) and its header's comments."""
    record = read_ecg(path)
    record.source = f"{Path(path).name} (example)"
    return record, read_header_comments(path)


__all__ = [
    "MAX_UPLOAD_BYTES",
    "example_records",
    "parse_lead_names",
    "read_example",
    "read_uploaded_ecg",
    "upload_size_error",
]
