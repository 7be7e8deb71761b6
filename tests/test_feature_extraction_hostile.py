"""The feature extractor's NaN policy and its refusals of hostile signals: each refusal is a ValueError that names
the input and the problem; masked leads are announced by a warning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling_supreme.feature_extraction_supreme import SupremeFeatureExtractor
from tests.dataset_builders_helpers import ptbxl_signal


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    """(12, 1000) mV, 100 Hz: PTB-XL record 1."""
    return ptbxl_signal(1, 100).astype(np.float32)


def _extract(signal, **settings):
    extractor = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000, **settings)
    return extractor(signal, sampling_rate=100, return_tensors="np")


def _with_missing(signal: np.ndarray, fraction: float, leads=range(12)) -> np.ndarray:
    damaged = signal.copy()
    damaged[list(leads), : round(fraction * signal.shape[1])] = np.nan
    return damaged


# -- the NaN policy ---------------------------------------------------------------------------------------------


def test_leads_missing_more_than_half_their_samples_are_masked_with_a_warning(ecg, caplog):
    damaged = _with_missing(_with_missing(ecg, 0.6, leads=[1, 7]), 0.3, leads=[3])
    with caplog.at_level("WARNING"):
        output = _extract(damaged)
    assert output["lead_mask"][0].tolist() == [lead not in (1, 7) for lead in range(12)]
    assert not output["ecg_values"][0, [1, 7]].any()
    assert np.isfinite(output["ecg_values"]).all()
    assert any("['II (60%)', 'V2 (60%)']" in message and "input ECG" in message for message in caplog.messages)


def test_leads_missing_less_than_the_threshold_are_interpolated_and_kept(ecg):
    output = _extract(_with_missing(ecg, 0.3))
    assert output["lead_mask"].all()
    assert np.isfinite(output["ecg_values"]).all()


def test_an_ecg_with_no_usable_lead_is_refused_naming_it(ecg):
    # 99 % NaN in every lead was scored (0.99 -> 0.19) with no warning; now it is refused.
    for fraction in (0.51, 0.99):
        with pytest.raises(ValueError, match=r"input ECG, shape \(12, 1000\): no usable lead.*more than 50%"):
            _extract(_with_missing(ecg, fraction))


def test_the_threshold_is_configurable_and_saved(ecg, tmp_path):
    lenient = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000, max_missing_fraction=0.7)
    assert lenient(_with_missing(ecg, 0.6), sampling_rate=100)["lead_mask"].all()
    lenient.save_pretrained(tmp_path)
    assert SupremeFeatureExtractor.from_pretrained(tmp_path).max_missing_fraction == 0.7
    for bad in (1.0, -0.1, True):
        with pytest.raises(ValueError, match="max_missing_fraction"):
            SupremeFeatureExtractor(max_missing_fraction=bad)


# -- scale, flat and constant ECGs --------------------------------------------------------------------------------


@pytest.mark.parametrize("normalization", ["zscore", "minmax"])
@pytest.mark.parametrize("scale", [1e-9, 1e19, 1e30])
def test_normalisation_does_not_depend_on_the_scale(ecg, normalization, scale):
    reference = _extract(ecg, normalization=normalization)["ecg_values"]
    scaled = _extract(ecg.astype(np.float64) * scale, normalization=normalization)["ecg_values"]
    assert np.abs(reference).max() > 0.5  # not the flat-line output that 1e19 used to give
    np.testing.assert_allclose(scaled, reference, rtol=1e-4, atol=1e-4)


def test_float32_lead_statistics_match_float64_ones(ecg):
    """In the usual range of amplitudes the statistics are float32 sums (5x faster); they must agree with float64."""
    from modeling_supreme.signal_processing_supreme import lead_statistics

    signals = np.stack([ecg, ecg[::-1] * 3.0 + 0.7]).astype(np.float32)  # (2, 12, T) mV, with offsets
    statistics = lead_statistics(torch.from_numpy(signals))
    assert statistics.std.dtype == torch.float32  # the float32 path was taken
    wide = signals.astype(np.float64)
    np.testing.assert_allclose(statistics.std[..., 0].numpy(), wide.std(axis=-1), rtol=1e-6)
    centered = wide - wide.mean(axis=-1, keepdims=True)
    z_scores = (statistics.centered / statistics.std).numpy()
    np.testing.assert_allclose(z_scores, centered / centered.std(axis=-1, keepdims=True), atol=1e-5)
    assert not statistics.flat.any()


@pytest.mark.parametrize("value", [0.0, 2.5])
def test_a_flat_ecg_is_refused_naming_it(ecg, value):
    with pytest.raises(ValueError, match=r"input ECG, shape \(12, 1000\): the ECG is flat"):
        _extract(np.full_like(ecg, value))


def test_constant_leads_are_masked_with_a_warning(ecg, caplog):
    damaged = ecg.copy()
    damaged[4] = 0.3
    with caplog.at_level("WARNING"):
        output = _extract(damaged)
    assert not output["lead_mask"][0, 4] and output["lead_mask"][0].sum() == 11
    assert any("['aVL'] are constant" in message for message in caplog.messages)


# -- types and rates --------------------------------------------------------------------------------------------


def test_a_boolean_array_is_refused(ecg):
    with pytest.raises(ValueError, match=r"input ECG, shape \(12, 1000\): got a boolean array"):
        _extract(ecg > 0)


@pytest.mark.parametrize(("rate", "message"), [(True, "the boolean True"), (0.001, "below 10 Hz")])
def test_rates_that_cannot_be_an_ecg_are_refused(ecg, rate, message):
    with pytest.raises(ValueError, match=message) as raised:
        SupremeFeatureExtractor(sampling_rate=100, num_samples=1000)(ecg, sampling_rate=rate)
    assert "input ECG" in str(raised.value)
