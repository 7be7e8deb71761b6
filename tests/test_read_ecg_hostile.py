"""`read_ecg` on a generated corpus of hostile records: every refusal happens before the samples are read, is a
ValueError / FileNotFoundError, and names the record and the problem."""

from __future__ import annotations

import os
import shutil
import signal
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from modeling_supreme.reading_supreme import read_ecg, read_header
from tests.sample_data import ptbxl_record


def _copy_record(folder: Path, name: str = "rec", ecg_id: int = 1) -> Path:
    """PTB-XL record `ecg_id` (100 Hz, 12 x 1000, format 16) under a new name."""
    source = ptbxl_record(ecg_id)
    shutil.copy(source.with_suffix(".dat"), folder / f"{name}.dat")
    (folder / f"{name}.hea").write_text(source.with_suffix(".hea").read_text().replace(source.name, name))
    return folder / name


def _edit_record_line(base: Path, old: str, new: str) -> None:
    header = base.with_suffix(".hea")
    text = header.read_text()
    assert old in text
    header.write_text(text.replace(old, new, 1))


def _refused(base: Path, error_type: type[Exception], *fragments: str) -> str:
    with pytest.raises(error_type) as raised:
        read_ecg(base)
    message = str(raised.value)
    assert str(base) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


class _Alarm(Exception):
    pass


@pytest.fixture
def no_blocking():
    """Fails the test instead of hanging when a read blocks (a FIFO with no writer blocks on open)."""

    def ring(*_):
        raise _Alarm("read_ecg blocked")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# -- what the header's files are --------------------------------------------------------------------------------


def test_a_fifo_as_data_file_is_refused_without_blocking(tmp_path, no_blocking):
    base = _copy_record(tmp_path)
    base.with_suffix(".dat").unlink()
    os.mkfifo(base.with_suffix(".dat"))
    _refused(base, ValueError, "is a FIFO, not a regular file", "rec.dat")


def test_a_fifo_as_header_is_refused_without_blocking(tmp_path, no_blocking):
    os.mkfifo(tmp_path / "pipe.hea")
    _refused(tmp_path / "pipe", ValueError, "is a FIFO")


def test_a_huge_header_over_a_link_to_dev_zero_is_refused_before_any_allocation(tmp_path):
    base = _copy_record(tmp_path)
    _edit_record_line(base, "rec 12 100 1000", "rec 12 100 1000000000")
    base.with_suffix(".dat").unlink()
    os.symlink("/dev/zero", base.with_suffix(".dat"))
    _refused(base, ValueError, "character device")


def test_a_directory_as_data_file_is_refused(tmp_path):
    base = _copy_record(tmp_path)
    base.with_suffix(".dat").unlink()
    base.with_suffix(".dat").mkdir()
    _refused(base, ValueError, "is a directory")


def test_a_header_larger_than_any_header_is_refused(tmp_path):
    (tmp_path / "big.hea").write_bytes(b"big 12 100 1000\n" + b"#" * (2 << 20))
    _refused(tmp_path / "big", ValueError, "not a WFDB header")


def test_a_data_file_outside_the_record_folder_is_refused(tmp_path):
    base = _copy_record(tmp_path)
    header = base.with_suffix(".hea")
    header.write_text(header.read_text().replace("rec.dat", "../rec.dat"))
    _refused(base, ValueError, "'../rec.dat'", "not a file of the record's folder")


# -- header fields ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", ["-100", "nan", "abc", "0", "inf", "0/100"])
def test_sampling_rates_that_are_not_positive_finite_numbers_are_refused(tmp_path, rate):
    base = _copy_record(tmp_path)
    _edit_record_line(base, "rec 12 100 1000", f"rec 12 {rate} 1000")
    _refused(base, ValueError, f"sampling rate {rate!r}", "not a positive finite number")


def test_a_header_without_sampling_rate_is_refused_not_read_at_250_hz(tmp_path):
    base = _copy_record(tmp_path)
    _edit_record_line(base, "rec 12 100 1000", "rec 12")
    _refused(base, ValueError, "no sampling rate")


def test_a_large_sampling_rate_is_read_as_written(tmp_path):
    base = _copy_record(tmp_path)
    _edit_record_line(base, "rec 12 100 1000", "rec 12 1e9 1000")
    assert wfdb.rdheader(str(base)).fs == 1  # what wfdb alone makes of it
    assert read_ecg(base).sampling_rate == 1e9


@pytest.mark.parametrize(("line", "fragment"), [
    ("rec 12 100 -1000", "number of samples '-1000'"),
    ("rec 12 100 1e3", "number of samples '1e3'"),
    ("rec -12 100 1000", "number of signals '-12'"),
    ("rec twelve 100 1000", "number of signals 'twelve'"),
])
def test_negative_or_non_integer_counts_are_refused(tmp_path, line, fragment):
    base = _copy_record(tmp_path)
    _edit_record_line(base, "rec 12 100 1000", line)
    _refused(base, ValueError, fragment)


def test_an_unknown_storage_format_is_refused(tmp_path):
    base = _copy_record(tmp_path)
    header = base.with_suffix(".hea")
    header.write_text(header.read_text().replace("rec.dat 16 ", "rec.dat 99 "))
    _refused(base, ValueError, "unknown WFDB storage format 99")


def test_fewer_signal_lines_than_signals_are_refused(tmp_path):
    base = _copy_record(tmp_path)
    header = base.with_suffix(".hea")
    header.write_text("\n".join(header.read_text().splitlines()[:5]) + "\n")
    _refused(base, ValueError, "announces 12 signals and describes 4")


def test_read_header_gives_the_fields_it_checked():
    header = read_header(ptbxl_record(1))
    assert (header.n_sig, header.sampling_rate, header.sig_len) == (12, 100.0, 1000)
    assert {spec.fmt for spec in header.signals} == {16}


# -- MAT v4 -----------------------------------------------------------------------------------------------------

_SIGNALS, _SAMPLES = 12, 1000


def _cinc_header(folder: Path, name: str, first: int = 0, checksums: tuple[int, ...] = (0,) * _SIGNALS) -> Path:
    """Header of a CinC `.mat` record: format 16 at byte 24, gain 1000/mV, initial value, checksum per lead."""
    lines = [f"{name} {_SIGNALS} 500 {_SAMPLES}"]
    lines += [f"{name}.mat 16+24 1000/mV 16 0 {first} {checksums[lead]} 0 L{lead}" for lead in range(_SIGNALS)]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / name


def _mat_payload_bytes() -> int:
    return 24 + _SIGNALS * _SAMPLES * 2  # what the header's `16+24` describes


def test_a_valid_mat4_record_is_read(tmp_path):
    base = _cinc_header(tmp_path, "good")
    values = np.arange(_SIGNALS * _SAMPLES, dtype=np.int16).reshape(_SIGNALS, _SAMPLES) % 500
    scipy.io.savemat(str(base.with_suffix(".mat")), {"val": values}, format="4")
    np.testing.assert_allclose(read_ecg(base).signal, values / 1000, rtol=1e-6)


def test_random_bytes_of_the_expected_size_are_refused(tmp_path):
    base = _cinc_header(tmp_path, "noise")
    base.with_suffix(".mat").write_bytes(np.random.default_rng(0).bytes(_mat_payload_bytes()))
    _refused(base, ValueError, "is not the MATLAB v4 file its header describes")


def test_float64_data_of_the_expected_size_is_refused(tmp_path):
    base = _cinc_header(tmp_path, "doubles")
    scipy.io.savemat(str(base.with_suffix(".mat")), {"val": np.zeros((_SIGNALS, _SAMPLES // 4))}, format="4")
    assert base.with_suffix(".mat").stat().st_size == _mat_payload_bytes()
    _refused(base, ValueError, "matrix type 0", "int16")


def test_another_variable_name_is_refused(tmp_path):
    base = _cinc_header(tmp_path, "named")
    scipy.io.savemat(str(base.with_suffix(".mat")), {"sig": np.zeros((_SIGNALS, _SAMPLES), np.int16)}, format="4")
    _refused(base, ValueError, "variable 'sig'")


@pytest.mark.parametrize("version", ["5.0", "7.3"])
def test_matlab_v5_and_v73_files_are_refused(tmp_path, version):
    base = _cinc_header(tmp_path, "newer")
    text = f"MATLAB {version} MAT-file, Platform: GLNXA64".encode().ljust(116)
    base.with_suffix(".mat").write_bytes(text + b"\0" * (_mat_payload_bytes() - len(text)))
    _refused(base, ValueError, f"MATLAB {version} MAT-file", "only MATLAB v4")


def test_a_mat_matrix_of_another_shape_is_refused(tmp_path):
    base = _cinc_header(tmp_path, "shape")
    scipy.io.savemat(str(base.with_suffix(".mat")), {"val": np.zeros((_SAMPLES, _SIGNALS), np.int16)}, format="4")
    _refused(base, ValueError, f"a {_SAMPLES} x {_SIGNALS} matrix")


# -- checksums --------------------------------------------------------------------------------------------------


def test_signed_checksums_of_cinc_headers_are_no_mismatch(tmp_path, caplog):
    values = np.full((_SIGNALS, _SAMPLES), 40, dtype=np.int16)  # each lead sums to 40000: signed -25536
    base = _cinc_header(tmp_path, "signed", 40, (-25536,) * _SIGNALS)
    scipy.io.savemat(str(base.with_suffix(".mat")), {"val": values}, format="4")
    with caplog.at_level("WARNING"):
        read_ecg(base)
    assert not [message for message in caplog.messages if "checksum" in message]
    _cinc_header(tmp_path, "signed", 40, (-25535,) + (-25536,) * (_SIGNALS - 1))
    with caplog.at_level("WARNING"):
        read_ecg(base)
    assert any("checksum mismatch for leads ['L0']" in message for message in caplog.messages)


def test_struct_of_mat4_header_is_what_scipy_writes(tmp_path):
    scipy.io.savemat(str(tmp_path / "x.mat"), {"val": np.zeros((2, 3), np.int16)}, format="4")
    assert struct.unpack("<5i", (tmp_path / "x.mat").read_bytes()[:20]) == (30, 2, 3, 0, 4)


# -- the pipeline reads records through read_ecg ------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["fifo", "rate"])
def test_the_pipeline_refuses_a_hostile_record_naming_it(tmp_path, tiny_checkpoint, no_blocking, damage):
    from transformers import pipeline

    base = _copy_record(tmp_path)
    if damage == "fifo":
        base.with_suffix(".dat").unlink()
        os.mkfifo(base.with_suffix(".dat"))
    else:
        _edit_record_line(base, "rec 12 100 1000", "rec 12 -100 1000")
    classifier = pipeline("ecg-zero-shot", model=str(tiny_checkpoint))
    with pytest.raises(ValueError, match="FIFO" if damage == "fifo" else "sampling rate '-100'") as raised:
        classifier(str(base), candidate_labels=["normal ecg"])
    assert str(base) in str(raised.value)
