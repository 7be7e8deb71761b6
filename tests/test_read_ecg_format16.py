"""WFDB format-16 records (PTB-XL, MIMIC-IV-ECG) are read with numpy after the package's strict header parse; the
arrays are bit for bit those of wfdb's `rdrecord(physical=False).dac(return_res=32)`, which reads every other
format."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.synthetic_mimic import BadInput, write_tree
from modeling_supreme import reading_supreme
from modeling_supreme.reading_supreme import read_ecg, validate_record
from tests.sample_data import ptbxl_record


def _through_wfdb(path: Path, max_seconds: float | None = None) -> tuple[np.ndarray, list, list]:
    """What `read_ecg` returned before format 16 was read with numpy: wfdb's arrays, units and names."""
    base = reading_supreme._record_base(path)
    header = validate_record(base)
    start, stop = reading_supreme.read_window(header.sig_len, header.sampling_rate, max_seconds)
    signal, units, names = reading_supreme._read_with_wfdb(header, base, start, stop, str(base))
    signal = np.ascontiguousarray(signal.T, dtype=np.float32)
    signal *= reading_supreme._millivolt_factors(units, str(base))[:, None]
    return signal, units, names


def _assert_identical(path: Path, max_seconds: float | None = None) -> None:
    assert reading_supreme._format16_layout(validate_record(path)) is not None  # the numpy path reads it
    record = read_ecg(path, max_seconds=max_seconds)
    expected, _, names = _through_wfdb(path, max_seconds)
    assert record.signal.dtype == expected.dtype == np.float32
    assert record.signal.shape == expected.shape
    assert np.array_equal(record.signal, expected, equal_nan=True)  # bit for bit, not within a tolerance
    assert record.lead_names == names


@pytest.mark.parametrize("rate", [100, 500])
def test_ptbxl_records_read_with_numpy_equal_wfdbs_arrays(rate) -> None:
    for ecg_id in range(1, 21):
        _assert_identical(ptbxl_record(ecg_id, rate))
    _assert_identical(ptbxl_record(3, rate), max_seconds=2.5)  # a window, as the builders read


def test_synthetic_mimic_records_read_with_numpy_equal_wfdbs_arrays(tmp_path) -> None:
    tree = write_tree(tmp_path / "1.0", 8, seed=2, bad=BadInput(0, 0, 0, 0))
    records = sorted((tree.root / "files").rglob("*.hea"))
    assert len(records) == 8
    for header in records:
        _assert_identical(header)
        _assert_identical(header, max_seconds=3.0)


def test_invalid_samples_and_checksums_as_wfdb_reads_them(tmp_path, caplog) -> None:
    source = ptbxl_record(7, 100)
    target = tmp_path / source.name
    for suffix in (".hea", ".dat"):
        shutil.copyfile(source.with_suffix(suffix), target.with_suffix(suffix))
    data = bytearray(target.with_suffix(".dat").read_bytes())
    data[0:2] = (-32768).to_bytes(2, "little", signed=True)  # sample 0 of lead I: WFDB's invalid value
    data[50:52] = (1234).to_bytes(2, "little", signed=True)  # another sample changed: its checksum fails
    target.with_suffix(".dat").write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        record = read_ecg(target)
    assert np.isnan(record.signal[0, 0]) and not np.isnan(record.signal[0, 1])
    numpy_warnings = [message for message in caplog.messages if "checksum mismatch" in message]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        expected, _, _ = _through_wfdb(target)
    assert numpy_warnings == [message for message in caplog.messages if "checksum mismatch" in message]
    assert len(numpy_warnings) == 1
    assert np.array_equal(record.signal, expected, equal_nan=True)


def test_a_truncated_format16_file_is_refused_before_it_is_read(tmp_path) -> None:
    source = ptbxl_record(2, 500)
    target = tmp_path / source.name
    shutil.copyfile(source.with_suffix(".hea"), target.with_suffix(".hea"))
    target.with_suffix(".dat").write_bytes(source.with_suffix(".dat").read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"has 1000 bytes: the header does not describe this data file \(truncated"):
        read_ecg(target)


def test_other_formats_and_incomplete_signal_lines_go_to_wfdb(tmp_path) -> None:
    source = ptbxl_record(4, 100)
    lines = source.with_suffix(".hea").read_text().splitlines()
    cases = {
        "no-description": [lines[0]] + [" ".join(line.split()[:8]) for line in lines[1:]],
        "no-baseline": [lines[0]] + [line.replace("(0)", "") for line in lines[1:]],
    }
    for name, header in cases.items():
        target = tmp_path / name / source.name
        target.parent.mkdir()
        target.with_suffix(".hea").write_text("\n".join(header) + "\n")
        shutil.copyfile(source.with_suffix(".dat"), target.with_suffix(".dat"))
        assert reading_supreme._format16_layout(validate_record(target)) is None, name
        # wfdb's defaults (baseline = zero, no lead names) apply as before
        assert np.array_equal(read_ecg(target).signal, _through_wfdb(target)[0], equal_nan=True)
