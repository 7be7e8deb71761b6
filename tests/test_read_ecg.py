"""`read_ecg` on the bundled PTB-XL records, on CinC/CSN-style `.hea` + `.mat` records and on broken records."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from modeling_supreme.configuration_supreme import STANDARD_LEADS
from modeling_supreme.leads_supreme import canonical_lead_name
from modeling_supreme.reading_supreme import MAX_HEADER_BYTES, EcgRecord, read_ecg, read_header_comments
from tests.dataset_builders_helpers import write_cinc_record
from tests.sample_data import ptbxl_record

PTBXL_HEADER_NAMES = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]


@pytest.mark.parametrize("rate, samples", [(100, 1000), (500, 5000)])
@pytest.mark.parametrize("suffix", ["", ".hea", ".dat"])
def test_reads_ptbxl_records_like_wfdb(rate: int, samples: int, suffix: str) -> None:
    base = ptbxl_record(1, rate)
    record = read_ecg(str(base) + suffix)
    expected, fields = wfdb.rdsamp(str(base))

    assert isinstance(record, EcgRecord)
    assert record.signal.shape == (12, samples)
    assert record.signal.dtype == np.float32
    assert record.sampling_rate == rate == fields["fs"]
    assert record.lead_names == PTBXL_HEADER_NAMES == fields["sig_name"]
    assert str(base) in record.source
    np.testing.assert_allclose(record.signal, expected.T, rtol=1e-6, atol=1e-6)


def test_accepts_path_objects() -> None:
    record = read_ecg(ptbxl_record(2).with_suffix(".hea"))
    assert record.signal.shape == (12, 1000)


def test_header_names_map_to_the_standard_leads() -> None:
    names = read_ecg(ptbxl_record(3)).lead_names
    assert tuple(canonical_lead_name(name) for name in names) == STANDARD_LEADS


def _write_cinc_mat_record(folder: Path, name: str, digital: np.ndarray, gains: np.ndarray, lead_names: list[str],
                           rate: int, unit: str = "mV") -> Path:
    """Write a record as PhysioNet/CinC 2020 and CSN ship them: MATLAB v4 'val' (leads x samples, int16) whose data
    start at byte 24, and a header with format `16+24`."""
    mat_path = folder / f"{name}.mat"
    scipy.io.savemat(mat_path, {"val": digital.astype(np.int16)}, format="4")
    lines = [f"{name} {digital.shape[0]} {rate} {digital.shape[1]}"]
    for lead, gain, values in zip(lead_names, gains, digital):
        checksum = int(values.astype(np.int64).sum()) % 65536
        checksum = checksum - 65536 if checksum >= 32768 else checksum
        lines.append(f"{name}.mat 16+24 {gain:g}/{unit} 16 0 {values[0]} {checksum} 0 {lead}")
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return mat_path


@pytest.fixture
def cinc_record(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A CinC/CSN-layout copy of PTB-XL record 1 at 500 Hz, and the signal wfdb reads from the original (mV)."""
    original = wfdb.rdrecord(str(ptbxl_record(1, 500)), physical=False)
    mat_path = _write_cinc_mat_record(
        tmp_path, "JS00001", original.d_signal.T, np.asarray(original.adc_gain), original.sig_name, int(original.fs)
    )
    expected, _ = wfdb.rdsamp(str(ptbxl_record(1, 500)))
    return mat_path, expected.T


@pytest.mark.parametrize("suffix", [".mat", ".hea", ""])
def test_reads_cinc_mat_records(cinc_record: tuple[Path, np.ndarray], suffix: str) -> None:
    mat_path, expected = cinc_record
    assert mat_path.stat().st_size == 24 + expected.size * 2  # the layout the header's `16+24` describes

    record = read_ecg(str(mat_path.with_suffix("")) + suffix)

    assert record.sampling_rate == 500
    assert record.lead_names == PTBXL_HEADER_NAMES
    np.testing.assert_allclose(record.signal, expected, rtol=1e-6, atol=1e-6)


def test_signals_stored_in_microvolts_are_returned_in_millivolts(tmp_path: Path) -> None:
    original = wfdb.rdrecord(str(ptbxl_record(1)), physical=False)
    assert set(original.adc_gain) == {1000.0}  # PTB-XL: one digital unit per µV
    _write_cinc_mat_record(tmp_path, "JS00002", original.d_signal.T, np.ones(12), original.sig_name, 100, unit="uV")

    record = read_ecg(tmp_path / "JS00002.mat")

    expected, _ = wfdb.rdsamp(str(ptbxl_record(1)))
    np.testing.assert_allclose(record.signal, expected.T, rtol=1e-6, atol=1e-6)


def test_invalid_samples_stay_nan(tmp_path: Path) -> None:
    original = wfdb.rdrecord(str(ptbxl_record(1)), physical=False)
    digital = original.d_signal.T.copy()
    digital[4, 100:110] = -32768  # WFDB's "no sample" value of format 16
    _write_cinc_mat_record(tmp_path, "JS00003", digital, np.asarray(original.adc_gain), original.sig_name, 100)

    signal = read_ecg(tmp_path / "JS00003.hea").signal

    assert np.isnan(signal[4, 100:110]).all()
    assert np.isfinite(np.delete(signal, np.s_[100:110], axis=1)).all()
    assert np.isfinite(signal[:4]).all() and np.isfinite(signal[5:]).all()


def _copy_ptbxl_record(destination: Path, name: str, ecg_id: int = 1) -> Path:
    """Copy a PTB-XL 100 Hz record under a new name (header rewritten to match)."""
    source = ptbxl_record(ecg_id)
    shutil.copy(source.with_suffix(".dat"), destination / f"{name}.dat")
    header = source.with_suffix(".hea").read_text().replace(source.name, name)
    (destination / f"{name}.hea").write_text(header)
    return destination / name


def test_missing_record_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_ecg(tmp_path / "nowhere.hea")


def test_missing_data_file_raises_file_not_found(tmp_path: Path) -> None:
    base = _copy_ptbxl_record(tmp_path, "lost")
    base.with_suffix(".dat").unlink()
    with pytest.raises(FileNotFoundError, match="lost.dat"):
        read_ecg(base)


def test_truncated_data_file_raises_value_error_naming_the_record(tmp_path: Path) -> None:
    base = _copy_ptbxl_record(tmp_path, "truncated")
    data = base.with_suffix(".dat").read_bytes()
    base.with_suffix(".dat").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated") as error:
        read_ecg(base)
    assert str(base) in str(error.value)


def test_header_claiming_more_samples_than_stored_raises(tmp_path: Path) -> None:
    base = _copy_ptbxl_record(tmp_path, "too_long")
    header = base.with_suffix(".hea")
    header.write_text(header.read_text().replace("too_long 12 100 1000", "too_long 12 100 5000"))
    with pytest.raises(ValueError, match="5000 samples") as error:
        read_ecg(base)
    assert str(base) in str(error.value)


def test_header_claiming_fewer_signals_than_stored_raises(tmp_path: Path) -> None:
    base = _copy_ptbxl_record(tmp_path, "few_signals")
    header = base.with_suffix(".hea")
    lines = header.read_text().splitlines()
    lines = [lines[0].replace("few_signals 12", "few_signals 8")] + lines[1:9]
    header.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="8 signals") as error:
        read_ecg(base)
    assert str(base) in str(error.value)


def test_header_of_garbage_bytes_raises_value_error(tmp_path: Path) -> None:
    generator = np.random.default_rng(0)
    (tmp_path / "garbage.hea").write_bytes(generator.integers(0, 256, 400, dtype=np.uint8).tobytes())
    (tmp_path / "garbage.dat").write_bytes(generator.integers(0, 256, 400, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="garbage"):
        read_ecg(tmp_path / "garbage")


def test_data_file_of_garbage_bytes_raises_value_error(tmp_path: Path) -> None:
    base = _copy_ptbxl_record(tmp_path, "noise")
    base.with_suffix(".dat").write_bytes(np.random.default_rng(1).integers(0, 256, 999, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="noise"):
        read_ecg(base)


def test_corrupted_data_of_the_right_size_is_flagged_by_its_checksum(tmp_path: Path, caplog) -> None:
    base = _copy_ptbxl_record(tmp_path, "flipped")
    data = bytearray(base.with_suffix(".dat").read_bytes())
    data[1000] ^= 0xFF
    base.with_suffix(".dat").write_bytes(bytes(data))

    with caplog.at_level("WARNING"):
        record = read_ecg(base)

    assert record.signal.shape == (12, 1000)
    assert any("checksum" in message and "flipped" in message for message in caplog.messages)


def test_zero_samples_raise_value_error(tmp_path: Path) -> None:
    base = _copy_ptbxl_record(tmp_path, "empty")
    header = base.with_suffix(".hea")
    header.write_text(header.read_text().replace("empty 12 100 1000", "empty 12 100 0"))
    base.with_suffix(".dat").write_bytes(b"")
    with pytest.raises(ValueError, match="zero samples"):
        read_ecg(base)


def test_multi_segment_records_are_joined(tmp_path: Path) -> None:
    expected, fields = wfdb.rdsamp(str(ptbxl_record(1)))
    for index, (start, stop) in enumerate([(0, 400), (400, 1000)]):
        wfdb.wrsamp(f"segment{index}", fs=100, units=["mV"] * 12, sig_name=fields["sig_name"],
                    p_signal=expected[start:stop], fmt=["16"] * 12, adc_gain=[1000] * 12, baseline=[0] * 12,
                    write_dir=str(tmp_path))
    (tmp_path / "joined.hea").write_text("joined/2 12 100 1000\nsegment0 400\nsegment1 600\n")

    record = read_ecg(tmp_path / "joined.hea")

    assert record.lead_names == fields["sig_name"]
    np.testing.assert_allclose(record.signal, expected.T, rtol=1e-6, atol=1e-6)


def test_header_comments_are_the_fields_of_the_hash_lines(tmp_path: Path) -> None:
    write_cinc_record(tmp_path / "A0001", np.zeros((2, 500)), ["I", "II"], 500, ["426783006", "164889003"], age="74",
                      sex="Male")
    header = tmp_path / "A0001.hea"
    header.write_text(header.read_text() + "#DX: 0\n# a note without a colon\n")
    comments = read_header_comments(tmp_path / "A0001.mat")
    assert comments == {"age": "74", "sex": "Male", "dx": "426783006,164889003", "rx": "Unknown", "hx": "Unknown",
                        "sx": "Unknown"}


def test_header_comments_refuse_what_is_no_header(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.hea does not exist"):
        read_header_comments(tmp_path / "missing")
    (tmp_path / "huge.hea").write_bytes(b"#" * (MAX_HEADER_BYTES + 1))
    with pytest.raises(ValueError, match="not a WFDB header"):
        read_header_comments(tmp_path / "huge")
