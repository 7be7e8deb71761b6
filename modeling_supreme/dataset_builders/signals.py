"""Reading one record into the stored signal: 12 standard leads, fixed length, samples as read (NaN kept), stored
compactly (`storage_supreme`). Repairing, cropping to the model, padding and normalising are the feature extractor's."""

from __future__ import annotations

import dataclasses

import numpy as np
from datasets import Array2D, Features, List, Value

from ..configuration_supreme import STANDARD_LEADS
from ..leads_supreme import standardize_leads
from ..reading_supreme import read_ecg
from ..storage_supreme import (
    DEFAULT_SIGNAL_DTYPE,
    GAIN_COLUMN,
    check_signal_dtype,
    encode_signal,
    row_signals,
)
from .tasks import RecordRejected


@dataclasses.dataclass(frozen=True)
class SignalWindow:
    """Which part of each signal is stored, in seconds (converted to samples at the dataset's sampling rate).

    Attributes:
        seconds: stored length T / sampling rate; every row has exactly this length.
        crop_seconds: keep at most the first `crop_seconds` of a record (default `seconds`); a crop shorter
            than `seconds` is zero-padded at the end (e.g. the 2.5 s -> 5 s CPSC2018 protocol of MERL).
        min_seconds: records shorter than this are rejected as too short (default: `crop_seconds`, i.e. no
            padding of short records unless asked for).
    """

    seconds: float
    crop_seconds: float | None = None
    min_seconds: float | None = None

    def samples(self, sampling_rate: int) -> tuple[int, int, int]:
        """(stored length, crop length, minimum length) in samples at `sampling_rate`."""
        length = round(self.seconds * sampling_rate)
        crop = round((self.crop_seconds if self.crop_seconds is not None else self.seconds) * sampling_rate)
        minimum = round(self.min_seconds * sampling_rate) if self.min_seconds is not None else crop
        if not 0 < minimum <= crop <= length:
            raise ValueError(f"invalid signal window {self}: need 0 < min_seconds <= crop_seconds <= seconds")
        return length, crop, minimum


@dataclasses.dataclass(frozen=True)
class SignalArrays:
    """The signal part of one row.

    Attributes:
        ecg: (12, T) stored values (`storage_supreme`: int16 with `gain`, float16 or float32 mV), leads in
            `STANDARD_LEADS` order; missing samples of recorded leads kept (NaN, or the int16 sentinel); masked leads
            and the samples after `num_samples` are 0.
        lead_mask: (12,) bool, True where the lead was recorded (or derived from two limb leads) and holds
            at least one valid sample.
        num_samples: samples of the record kept before zero-padding (<= T): its true length.
        gain: (12,) float32 units per mV for int16 storage, else None.
    """

    ecg: np.ndarray
    lead_mask: np.ndarray
    num_samples: int
    gain: np.ndarray | None = None

    def columns(self) -> dict[str, object]:
        """The row's signal columns: `ecg`, `lead_mask`, `num_samples` and, for int16, `ecg_gain`."""
        columns: dict[str, object] = {"ecg": self.ecg, "lead_mask": self.lead_mask.tolist(),
                                      "num_samples": self.num_samples}
        if self.gain is not None:
            columns[GAIN_COLUMN] = self.gain
        return columns

    def millivolts(self) -> np.ndarray:
        """(12, num_samples) float32 mV, NaN where a sample is missing: the stored values decoded."""
        gain = None if self.gain is None else self.gain[None]
        return row_signals(self.ecg[None], [self.num_samples], gain)[0]


@dataclasses.dataclass(frozen=True)
class SignalReader:
    """Reads one record into `SignalArrays` (picklable: it is sent to the worker processes).

    Attributes:
        sampling_rate: the dataset's rate in Hz; records at another rate are rejected (the dataset stores
            signals at the source rate; resampling happens in the feature extractor at model time).
        window: the stored part of each record.
        signal_dtype: storage format of `ecg`, one of `storage_supreme.SIGNAL_DTYPES`.
    """

    sampling_rate: int
    window: SignalWindow
    signal_dtype: str = DEFAULT_SIGNAL_DTYPE

    def __post_init__(self) -> None:
        self.window.samples(self.sampling_rate)  # fail at construction on an impossible window
        check_signal_dtype(self.signal_dtype)

    def __call__(self, path: str) -> SignalArrays:
        """Raises `RecordRejected`, or `read_ecg`'s FileNotFoundError / ValueError, naming the record."""
        length, crop, minimum = self.window.samples(self.sampling_rate)
        # Only the stored window is read: a 24-hour record costs what a 10 s one costs.
        record = read_ecg(path, max_seconds=crop / self.sampling_rate)
        if round(record.sampling_rate) != self.sampling_rate:
            raise RecordRejected(
                f"{record.source}: sampling rate {record.sampling_rate:g} Hz, the dataset is built at "
                f"{self.sampling_rate} Hz (build records of each rate into their own dataset)",
                "other sampling rate",
            )
        if not np.isfinite(record.signal).any():
            raise RecordRejected(f"{record.source}: all samples are NaN", "all NaN")
        available = record.signal.shape[1]
        if available < minimum:
            raise RecordRejected(
                f"{record.source}: too short, {available} samples ({available / self.sampling_rate:g} s) "
                f"< {minimum} ({minimum / self.sampling_rate:g} s)",
                "too short",
            )
        signal, lead_mask = standardize_leads(record.signal[:, :crop], record.lead_names, record.source)
        finite = np.isfinite(signal)
        lead_mask &= finite.any(axis=1)
        if not lead_mask.any():
            raise RecordRejected(f"{record.source}: no valid sample in the first {crop} samples", "all NaN")
        # Samples are kept as read, NaN included: the feature extractor repairs them exactly as it repairs the raw
        # record, so a dataset row and the record give the same model input. Masked leads hold no signal: zeros.
        ecg = np.zeros((len(STANDARD_LEADS), length), dtype=np.float32)
        kept = signal.shape[1]
        ecg[:, :kept] = signal
        ecg[~lead_mask] = 0.0
        encoded = encode_signal(ecg, self.signal_dtype)
        return SignalArrays(ecg=encoded.values, lead_mask=lead_mask, num_samples=kept, gain=encoded.gain)


def signal_features(num_samples: int, signal_dtype: str = DEFAULT_SIGNAL_DTYPE) -> Features:
    """The columns every dataset has: `id`, `report`, `ecg` (Array2D (12, num_samples) of `signal_dtype`, see
    `storage_supreme`), `sampling_rate`, `lead_names` (the 12 standard names), `lead_mask`, `num_samples` (true
    length) and, for int16, `ecg_gain` (12 gains, units per mV)."""
    columns = {
        "id": Value("string"),
        "report": Value("string"),
        "ecg": Array2D((len(STANDARD_LEADS), num_samples), check_signal_dtype(signal_dtype)),
        "sampling_rate": Value("int32"),
        "lead_names": List(Value("string"), length=len(STANDARD_LEADS)),
        "lead_mask": List(Value("bool"), length=len(STANDARD_LEADS)),
        "num_samples": Value("int32"),
    }
    if signal_dtype == "int16":
        columns[GAIN_COLUMN] = List(Value("float32"), length=len(STANDARD_LEADS))
    return Features(columns)
