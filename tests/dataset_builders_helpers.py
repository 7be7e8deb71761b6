"""Writers of ECG records in the layouts of the dataset builders' sources, for tests that build miniature
source trees from the bundled real PTB-XL signals."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import wfdb

from modeling_supreme.storage_supreme import GAIN_COLUMN, decode_signals
from tests.sample_data import PTBXL_DIR, ptbxl_record

PTBXL_ORDER = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
GAIN = 1000  # ADC units per mV of the written records


def ptbxl_signal(ecg_id: int, rate: int = 500) -> np.ndarray:
    """(12, T) float64 in mV, PTB-XL (= standard) lead order, read with wfdb directly."""
    signal, fields = wfdb.rdsamp(str(ptbxl_record(ecg_id, rate)))
    assert [name.upper() for name in fields["sig_name"]] == list(PTBXL_ORDER)
    return signal.T


def stored_mv(row) -> np.ndarray:
    """A built row's (numpy-formatted) `ecg` decoded to float32 mV, all T stored samples."""
    return decode_signals(np.asarray(row["ecg"]), row.get(GAIN_COLUMN))


def quantized(signal: np.ndarray) -> np.ndarray:
    """What a record written with `GAIN` stores of `signal`, in mV."""
    return np.round(signal * GAIN) / GAIN


def write_wfdb_record(
    path: Path, signal: np.ndarray, lead_names: Sequence[str], rate: int, comments: Sequence[str] = ()
) -> None:
    """Write `.hea` + `.dat` (format 16, `GAIN`/mV) at `path` (without extension); signal (n_leads, T) in mV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = len(lead_names)
    wfdb.wrsamp(
        path.name,
        fs=rate,
        units=["mV"] * count,
        sig_name=list(lead_names),
        p_signal=np.asarray(signal, dtype=np.float64).T,
        fmt=["16"] * count,
        adc_gain=[GAIN] * count,
        baseline=[0] * count,
        comments=list(comments),
        write_dir=str(path.parent),
    )


def write_cinc_record(
    path: Path,
    signal: np.ndarray,
    lead_names: Sequence[str],
    rate: int,
    dx_codes: Sequence[str],
    age: str = "63",
    sex: str = "Female",
) -> None:
    """Write a PhysioNet/CinC 2020 record: MATLAB v4 `.mat` (variable `val`, int16, `GAIN`/mV) + `.hea` with
    `#Age`, `#Sex`, `#Dx` comment lines, at `path` (without extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.round(np.asarray(signal) * GAIN).astype(np.int16)
    scipy.io.savemat(str(path.with_suffix(".mat")), {"val": values}, format="4")
    lines = [f"{path.name} {len(lead_names)} {rate} {values.shape[1]} 05-Feb-2020 11:39:16"]
    for lead, name in enumerate(lead_names):
        checksum = (int(values[lead].astype(np.int64).sum()) + 32768) % 65536 - 32768
        lines.append(f"{path.name}.mat 16+24 {GAIN}/mV 16 0 {values[lead, 0]} {checksum} 0 {name}")
    lines += [
        f"#Age: {age}",
        f"#Sex: {sex}",
        f"#Dx: {','.join(dx_codes)}",
        "#Rx: Unknown",
        "#Hx: Unknown",
        "#Sx: Unknown",
    ]
    path.with_suffix(".hea").write_text("\n".join(lines) + "\n")


def copy_ptbxl_subset(destination: Path, ecg_ids: Sequence[int], rate: int = 100) -> Path:
    """A PTB-XL root with the records `ecg_ids` only (database rows and files copied)."""
    destination.mkdir(parents=True, exist_ok=True)
    database = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv", index_col="ecg_id")
    database.loc[list(ecg_ids)].to_csv(destination / "ptbxl_database.csv")
    shutil.copy(PTBXL_DIR / "scp_statements.csv", destination / "scp_statements.csv")
    for ecg_id in ecg_ids:
        source = ptbxl_record(ecg_id, rate)
        target = destination / source.relative_to(PTBXL_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".hea", ".dat"):
            shutil.copy(source.with_suffix(suffix), target.with_suffix(suffix))
    return destination
