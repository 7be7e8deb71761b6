"""Odd inputs to the feature extractor and the pipeline: every input type (numpy, torch, masked arrays) gets the same
checks and errors that name the input; long tensors are cropped before they are converted; lead names written
V01..V06 or with full-width digits are the standard chest leads, not leads to drop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import pipeline

from modeling_supreme.feature_extraction_supreme import SupremeFeatureExtractor
from modeling_supreme.leads_supreme import canonical_lead_name
from tests.dataset_builders_helpers import ptbxl_signal
from tests.process_helpers import peak_rss_of_snippet

CHEST_LEADS = [f"V{index}" for index in range(1, 7)]


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    """(12, 1000) mV, 100 Hz: PTB-XL record 1."""
    return ptbxl_signal(1, 100).astype(np.float32)


def _extract(signal, **kwargs):
    extractor = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000)
    return extractor(signal, sampling_rate=100, return_tensors="np", **kwargs)


# -- the same checks for every input type ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda signal: torch.from_numpy(signal).to(torch.complex64),
    lambda signal: torch.from_numpy(signal) > 0,
], ids=["complex", "bool"])
def test_a_tensor_that_is_no_real_ecg_is_refused_as_the_array_would_be(ecg, make):
    # A complex tensor was scored on its real part, a bool tensor as 0/1 amplitudes.
    with pytest.raises(ValueError, match=r"input ECG, shape \(12, 1000\).*(complex|boolean)"):
        _extract(make(ecg))


@pytest.mark.parametrize("make", [
    lambda signal: torch.empty(12, 1000, device="meta"),
    lambda signal: torch.from_numpy(signal).to_sparse(),
], ids=["meta", "sparse"])
def test_meta_and_sparse_tensors_get_an_error_naming_the_input_not_a_library_error(ecg, make):
    with pytest.raises(ValueError, match=r"input ECG, shape \(12, 1000\).*(meta|sparse)"):
        _extract(make(ecg))


def test_a_masked_arrays_mask_marks_missing_samples(ecg):
    # The mask was dropped: masked samples were scored as recorded values.
    masked = np.ma.masked_array(ecg, mask=np.zeros_like(ecg, dtype=bool))
    masked[3] = np.ma.masked  # aVR wholly masked
    masked.data[3] = ecg[3] * 1e4  # what lies under the mask must never reach the model
    output = _extract(masked)
    assert output["lead_mask"][0].tolist() == [lead != 3 for lead in range(12)]
    assert np.abs(output["ecg_values"]).max() < 100


def test_a_masked_array_and_the_same_signal_with_nan_give_the_same_features(ecg):
    masked = np.ma.masked_array(ecg.copy(), mask=np.zeros_like(ecg, dtype=bool))
    masked[5, 100:200] = np.ma.masked
    with_nan = ecg.copy()
    with_nan[5, 100:200] = np.nan
    np.testing.assert_array_equal(_extract(masked)["ecg_values"], _extract(with_nan)["ecg_values"])


def test_a_label_text_with_a_lone_surrogate_is_refused_naming_the_label(tiny_checkpoint, ecg):
    classifier = pipeline("ecg-zero-shot", model=str(tiny_checkpoint))
    with pytest.raises(ValueError, match=r"'atrial \\ud800 fibrillation'.*not valid Unicode"):
        classifier(ecg, sampling_rate=100, candidate_labels=["normal ecg", "atrial \ud800 fibrillation"])


# -- long tensors are cropped before they are converted ----------------------------------------------------------

_LONG_TENSOR_SNIPPET = """
import numpy as np, torch
from modeling_supreme.feature_extraction_supreme import SupremeFeatureExtractor
extractor = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000)
chunk = np.random.default_rng(0).standard_normal((12, 5000))
extractor(torch.from_numpy(chunk), sampling_rate=500)  # first call: lazy imports and caches
# 1 h, 12 leads at 500 Hz as float64, held by the caller: 173 MB.
signal = torch.from_numpy(np.tile(chunk, (1, 360)))
mark_peak()
output = extractor(signal, sampling_rate=500, return_tensors="np")
assert output["ecg_values"].shape == (1, 12, 1000)
"""


def test_a_long_tensor_is_cropped_before_it_is_converted():
    # The whole tensor was converted to float32 numpy first: a 24 h tensor cost 6.5 GB and 18 s. Converting this
    # 1 h tensor whole would add 86 MB to the peak; cropping first adds about a megabyte.
    extra = peak_rss_of_snippet(_LONG_TENSOR_SNIPPET)
    assert extra < 30 * 2**20, extra


def test_a_long_tensor_gives_the_features_of_the_same_numpy_array(ecg):
    extractor = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000, crop="center")
    long = np.tile(ecg, (1, 30))
    from_tensor = extractor(torch.from_numpy(long).double(), sampling_rate=100, return_tensors="np")
    from_array = extractor(long, sampling_rate=100, return_tensors="np")
    np.testing.assert_allclose(from_tensor["ecg_values"], from_array["ecg_values"], rtol=1e-6, atol=1e-6)


# -- lead names ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("written, standard", [
    ("V01", "V1"), ("v06", "V6"), ("Ｖ３", "V3"), ("V４", "V4"), ("ａＶＲ", "aVR"), ("ＩＩ", "II"), ("V001", "V1"),
])
def test_zero_padded_and_full_width_lead_names_are_the_standard_leads(written, standard):
    assert canonical_lead_name(written) == standard


def test_an_ecg_with_leads_v01_to_v06_is_scored_on_all_twelve_leads(ecg, caplog):
    # The six chest leads were dropped with only a warning and the ECG scored on its limb leads.
    names = ["I", "II", "III", "aVR", "aVL", "aVF", *(f"V0{index}" for index in range(1, 7))]
    with caplog.at_level("WARNING"):
        output = _extract(ecg, lead_names=names)
    assert output["lead_mask"].all()
    np.testing.assert_array_equal(output["ecg_values"], _extract(ecg)["ecg_values"])
    assert not [message for message in caplog.messages if "dropping" in message]


def test_the_chest_leads_written_full_width_are_kept():
    full_width = [name.replace("V", "Ｖ").translate(str.maketrans("123456", "１２３４５６")) for name in CHEST_LEADS]
    assert [canonical_lead_name(name) for name in full_width] == CHEST_LEADS


# -- long records are read only in the window the model uses ------------------------------------------------------

_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", *CHEST_LEADS]


def _long_record(folder, seconds: int, rate: int = 500):
    """A 12-lead WFDB record (format 16, 1 uV units) of `seconds`: 30 s of PTB-XL record 1 (500 Hz) repeated, then
    zeros, stored as a sparse file, so that a 24-hour record takes no disk space. -> the record path."""
    folder.mkdir(parents=True, exist_ok=True)
    total = seconds * rate
    frames = np.round(np.tile(ptbxl_signal(1, 500), (1, 3)).T * 1000).astype("<i2")  # (15000, 12)
    header = [f"long 12 {rate} {total}"] + [f"long.dat 16 1000/mV 16 0 0 0 0 {name}" for name in _LEADS]
    (folder / "long.hea").write_text("\n".join(header) + "\n")
    with open(folder / "long.dat", "wb") as data:
        data.write(frames[:total].tobytes())
        data.truncate(total * 12 * 2)
    return folder / "long"


_LONG_RECORD_SNIPPET = """
import sys
from modeling_supreme.reading_supreme import read_ecg
read_ecg(sys.argv[1], max_seconds=11)  # first call: lazy imports
mark_peak()
record = read_ecg(sys.argv[1], max_seconds=11)
assert record.signal.shape == (12, 5500), record.signal.shape
"""


def test_reading_a_long_record_costs_what_a_short_one_costs(tmp_path):
    # read_ecg read the whole record: 1.9 GB of RAM for 2 h at 1 kHz, a misleading error for 24 h (~22 GB).
    long_extra = peak_rss_of_snippet(_LONG_RECORD_SNIPPET.replace("sys.argv[1]", repr(str(
        _long_record(tmp_path / "2h", 2 * 3600)))))
    assert long_extra < 20 * 2**20, long_extra


def test_a_24_hour_record_is_scored_on_its_window_and_the_window_is_named(tiny_checkpoint, tmp_path, caplog):
    record = _long_record(tmp_path / "24h", 24 * 3600)
    classifier = pipeline("ecg-zero-shot", model=str(tiny_checkpoint))
    with caplog.at_level("WARNING"):
        result = classifier(str(record), candidate_labels=["normal ecg", "atrial fibrillation"])
    expected = classifier(ptbxl_signal(1, 500), sampling_rate=500, candidate_labels=["normal ecg",
                                                                                      "atrial fibrillation"])
    assert [item["label"] for item in result] == [item["label"] for item in expected]
    np.testing.assert_allclose([item["score"] for item in result], [item["score"] for item in expected], atol=1e-4)
    assert any("86400.0 s" in message and "from 0.0 s to 10.0 s" in message for message in caplog.messages)


@pytest.mark.parametrize("crop", ["start", "center"])
def test_the_window_read_gives_the_features_of_the_whole_record(tmp_path, crop):
    from modeling_supreme.reading_supreme import read_ecg

    path = _long_record(tmp_path / "record", 25)
    extractor = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000, crop=crop, highpass_hz=0.5)
    window = read_ecg(path, max_seconds=extractor.read_window_s, crop=crop)
    whole = read_ecg(path)
    assert window.is_window and window.signal.shape[1] < whole.signal.shape[1]
    np.testing.assert_array_equal(extractor(window)["ecg_values"], extractor(whole)["ecg_values"])
