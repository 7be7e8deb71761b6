"""Compact signal storage: int16 with per-lead gain, float16, float32; NaN kept; bytes on disk."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from huggingface_hub import DatasetCard

from modeling_supreme.dataset_builders import BuildSettings, SignalReader, SignalWindow
from modeling_supreme.dataset_builders.ptbxl import build_ptbxl
from modeling_supreme.storage_supreme import (
    BASE_GAIN,
    INT16_MISSING,
    decode_signals,
    encode_signal,
    row_signals,
)
from tests.dataset_builders_helpers import copy_ptbxl_subset, ptbxl_signal, stored_mv
from tests.sample_data import ptbxl_record


def _round_trip(signal: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    encoded = encode_signal(signal, dtype)
    return decode_signals(encoded.values, encoded.gain), encoded.gain


def test_int16_round_trip_of_a_real_500_hz_record_is_exact_to_float32():
    signal = ptbxl_signal(3, rate=500).astype(np.float32)
    decoded, gain = _round_trip(signal, "int16")
    assert (gain == BASE_GAIN).all()  # PTB-XL is digitised in whole µV
    np.testing.assert_array_equal(decoded, signal)


def test_int16_off_grid_values_round_trip_within_half_a_step_and_large_leads_get_a_smaller_gain():
    rng = np.random.default_rng(0)
    signal = rng.normal(0, 1.0, (12, 500)).astype(np.float32)
    signal[4] *= 40  # +-150 mV: beyond int16 at 1 µV
    decoded, gain = _round_trip(signal, "int16")
    assert gain[4] < BASE_GAIN
    others = np.delete(np.arange(12), 4)
    peaks = np.abs(signal[others]).max(axis=1)
    # Off every grid: the finest 1000 * 2**k that fits int16.
    assert (gain[others] * peaks <= 32767).all() and (2 * gain[others] * peaks > 32767).all()
    assert (np.abs(decoded - signal) <= 0.5 / gain[:, None] + 1e-6 * np.abs(signal)).all()  # half a step + rounding
    assert np.abs(decoded[4]).max() == pytest.approx(np.abs(signal[4]).max(), rel=1e-4)  # not clipped


@pytest.mark.parametrize("dtype", ["int16", "float16", "float32"])
def test_missing_samples_round_trip_as_nan(dtype):
    signal = ptbxl_signal(5, rate=100).astype(np.float32)
    signal[2, 100:150] = np.nan
    signal[7, :] = np.nan
    decoded, _ = _round_trip(signal, dtype)
    np.testing.assert_array_equal(np.isnan(decoded), np.isnan(signal))
    finite = np.isfinite(signal)
    tolerance = {"int16": 0.0, "float16": 2.0**-11, "float32": 0.0}[dtype]
    assert (np.abs(decoded[finite] - signal[finite]) <= tolerance * np.abs(signal[finite])).all()


def test_int16_missing_samples_use_the_sentinel_and_decoding_refuses_bad_input():
    signal = np.zeros((12, 10), np.float32)
    signal[0, 3] = np.nan
    encoded = encode_signal(signal, "int16")
    assert encoded.values[0, 3] == INT16_MISSING and (np.delete(encoded.values.ravel(), 3) == 0).all()
    with pytest.raises(ValueError, match="ecg_gain"):
        decode_signals(encoded.values)
    with pytest.raises(ValueError, match="float64"):
        decode_signals(signal.astype(np.float64))
    with pytest.raises(ValueError, match="signal_dtype must be one of"):
        encode_signal(signal, "int8")


def test_row_signals_crop_each_row_to_its_true_length_and_check_the_lengths():
    values = np.arange(2 * 12 * 6, dtype=np.float32).reshape(2, 12, 6)
    first, second = row_signals(values, [6, 2])
    assert first.shape == (12, 6) and second.shape == (12, 2)
    np.testing.assert_array_equal(second, values[1, :, :2])
    with pytest.raises(ValueError, match="num_samples"):
        row_signals(values, [7, 2])


def test_reader_keeps_nan_gaps_and_the_true_length(tmp_path):
    # 10 s records in a 12 s window
    reader = SignalReader(500, SignalWindow(12.0, min_seconds=10.0), signal_dtype="int16")
    arrays = reader(str(ptbxl_record(1, 500)))
    assert arrays.ecg.dtype == np.int16 and arrays.num_samples == 5000
    assert not arrays.ecg[:, 5000:].any()
    np.testing.assert_array_equal(arrays.millivolts(), ptbxl_signal(1, 500).astype(np.float32))
    with pytest.raises(ValueError, match="signal_dtype"):
        SignalReader(500, SignalWindow(10.0), signal_dtype="float64")


def test_int16_build_takes_at_most_60_percent_of_the_float32_bytes_and_says_so_in_the_card(tmp_path):
    root = copy_ptbxl_subset(tmp_path / "root", list(range(1, 41)), rate=500)
    sizes, loaded = {}, {}
    for dtype in ("int16", "float32"):
        out = tmp_path / dtype
        build_ptbxl(root, out, 500, BuildSettings(signal_dtype=dtype, progress=False))
        sizes[dtype] = sum(path.stat().st_size for path in (out / "data").glob("*.parquet"))
        loaded[dtype] = datasets.load_dataset(str(out), split="train").with_format("numpy")
        assert f"`ecg` is stored as {dtype}" in DatasetCard.load(out / "README.md").text
        assert loaded[dtype].features["ecg"].dtype == dtype
    assert sizes["int16"] <= 0.6 * sizes["float32"], sizes
    for int16_row, float32_row in zip(loaded["int16"], loaded["float32"], strict=True):
        np.testing.assert_array_equal(stored_mv(int16_row), stored_mv(float32_row))
