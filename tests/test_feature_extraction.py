"""Lead standardisation and `SupremeFeatureExtractor` on the bundled PTB-XL records and on adversarial input."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from modeling_supreme.configuration_supreme import STANDARD_LEADS
from modeling_supreme.feature_extraction_supreme import SupremeFeatureExtractor
from modeling_supreme.leads_supreme import canonical_lead_name, standardize_leads
from modeling_supreme.reading_supreme import EcgRecord, read_ecg

from tests.sample_data import ptbxl_record

LIMB_LEADS = STANDARD_LEADS[:6]
# MIMIC-IV-ECG writes aVF before aVL.
MIMIC_ORDER = ["I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"]
# Stored PTB-XL leads are rounded to 1 µV each, so a derived lead may differ from the stored one by a few µV.
DERIVATION_TOLERANCE_MV = 5e-3


@pytest.fixture(scope="module")
def record_100hz() -> EcgRecord:
    return read_ecg(ptbxl_record(1, 100))


@pytest.fixture(scope="module")
def record_500hz() -> EcgRecord:
    return read_ecg(ptbxl_record(1, 500))


@pytest.fixture(scope="module")
def standard_100hz(record_100hz: EcgRecord) -> np.ndarray:
    """Record 1 at 100 Hz, (12, 1000), rows in STANDARD_LEADS order."""
    signal, mask = standardize_leads(record_100hz.signal, record_100hz.lead_names)
    assert mask.all()
    return signal


def raw_extractor(**overrides) -> SupremeFeatureExtractor:
    """An extractor that only reorders, repairs and crops/pads (no resampling at 100 Hz, no normalisation)."""
    settings_ = {"sampling_rate": 100, "num_samples": 1000, "normalization": "none"}
    return SupremeFeatureExtractor(**(settings_ | overrides))


# ---- lead names ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling, canonical",
    [
        ("I", "I"), ("i", "I"), ("DI", "I"), ("II", "II"), ("ii", "II"), ("D3", "III"), ("III", "III"),
        ("AVR", "aVR"), ("avr", "aVR"), ("aVR", "aVR"), ("AVL", "aVL"), ("avl", "aVL"), ("aVF", "aVF"),
        ("avf", "aVF"), ("V1", "V1"), ("v1", "V1"), ("V6", "V6"), ("C4", "V4"), ("Lead V5", "V5"), (" aVL ", "aVL"),
    ],
)
def test_canonical_lead_name_accepts_common_spellings(spelling: str, canonical: str) -> None:
    assert canonical_lead_name(spelling) == canonical


@pytest.mark.parametrize("name", ["vx", "vy", "vz", "X", "Y", "Z", "V7", "V8", "V9", "V3R", "V4R", "-aVR", "MLII"])
def test_canonical_lead_name_returns_none_for_other_ecg_leads(name: str) -> None:
    assert canonical_lead_name(name) is None


@pytest.mark.parametrize("name", ["foo", "ABP", "PLETH", "RESP", "V1V2", ""])
def test_canonical_lead_name_rejects_non_ecg_names(name: str) -> None:
    with pytest.raises(ValueError, match=repr(name).replace("\\", "\\\\")):
        canonical_lead_name(name)


# ---- standardize_leads -------------------------------------------------------------------------------------


def test_shuffled_leads_in_mixed_spellings_are_put_back_in_order(record_100hz, standard_100hz) -> None:
    order = np.random.default_rng(0).permutation(12)
    spellings = [name.lower() if index % 2 else name.upper() for index, name in enumerate(STANDARD_LEADS)]

    signal, mask = standardize_leads(standard_100hz[order], [spellings[index] for index in order])

    assert mask.all()
    np.testing.assert_array_equal(signal, standard_100hz)


def test_standard_order_is_returned_as_a_copy(standard_100hz) -> None:
    signal, _ = standardize_leads(standard_100hz, list(STANDARD_LEADS))
    signal[0] += 1.0
    assert not np.shares_memory(signal, standard_100hz)
    np.testing.assert_array_equal(signal[1:], standard_100hz[1:])


def test_extractor_leaves_its_input_untouched(standard_100hz) -> None:
    damaged = standard_100hz.copy()
    damaged[3, 5:9] = np.nan
    before = damaged.copy()
    SupremeFeatureExtractor(sampling_rate=100, num_samples=1000)([damaged, damaged], sampling_rate=100)
    np.testing.assert_array_equal(damaged, before)


def test_mimic_order_with_avf_before_avl(standard_100hz) -> None:
    mimic_rows = [STANDARD_LEADS.index(name) for name in MIMIC_ORDER]
    signal, mask = standardize_leads(standard_100hz[mimic_rows], MIMIC_ORDER)

    assert mask.all()
    np.testing.assert_array_equal(signal, standard_100hz)
    np.testing.assert_array_equal(signal[4], standard_100hz[STANDARD_LEADS.index("aVL")])


@pytest.mark.parametrize("recorded", [("I", "II"), ("II", "III"), ("I", "III")])
def test_missing_limb_leads_are_derived_from_two(standard_100hz, recorded: tuple[str, str]) -> None:
    kept = list(recorded) + list(STANDARD_LEADS[6:])
    rows = [STANDARD_LEADS.index(name) for name in kept]

    signal, mask = standardize_leads(standard_100hz[rows], kept)

    assert mask.all()
    np.testing.assert_allclose(signal[:6], standard_100hz[:6], atol=DERIVATION_TOLERANCE_MV)
    np.testing.assert_array_equal(signal[6:], standard_100hz[6:])


def test_without_derivation_missing_leads_are_zero_and_masked(standard_100hz) -> None:
    kept = ["I", "II", "V1", "V2"]
    rows = [STANDARD_LEADS.index(name) for name in kept]

    signal, mask = standardize_leads(standard_100hz[rows], kept, derive_limb_leads=False)

    assert mask.tolist() == [name in kept for name in STANDARD_LEADS]
    assert not signal[~mask].any()
    np.testing.assert_array_equal(signal[mask], standard_100hz[rows])


def test_one_limb_lead_is_not_enough_to_derive(standard_100hz) -> None:
    signal, mask = standardize_leads(standard_100hz[[1, 6]], ["II", "V1"])

    assert mask.tolist() == [name in ("II", "V1") for name in STANDARD_LEADS]
    assert not signal[~mask].any()


def test_frank_leads_are_dropped_with_a_warning(standard_100hz, caplog) -> None:
    frank = np.random.default_rng(1).normal(size=(3, standard_100hz.shape[1])).astype(np.float32)
    names = list(STANDARD_LEADS) + ["vx", "vy", "vz"]  # the PTB Diagnostic database's 15 leads

    with caplog.at_level(logging.WARNING):
        signal, mask = standardize_leads(np.concatenate([standard_100hz, frank]), names, source="s0010_re")

    assert mask.all()
    np.testing.assert_array_equal(signal, standard_100hz)
    warning = " ".join(caplog.messages)
    assert "s0010_re" in warning and all(name in warning for name in ("vx", "vy", "vz"))


def test_duplicate_leads_are_rejected(standard_100hz) -> None:
    names = list(STANDARD_LEADS[:3]) + ["AVR", "aVR"]
    with pytest.raises(ValueError, match="duplicate lead aVR"):
        standardize_leads(standard_100hz[:5], names, source="record 7")


def test_non_lead_names_are_rejected_naming_them_and_the_source(standard_100hz) -> None:
    with pytest.raises(ValueError, match="ABP") as error:
        standardize_leads(standard_100hz[:2], ["II", "ABP"], source="icu/rec42")
    assert "icu/rec42" in str(error.value)


def test_name_count_must_match_rows(standard_100hz) -> None:
    with pytest.raises(ValueError, match="3 lead names"):
        standardize_leads(standard_100hz[:2], ["I", "II", "III"])


# ---- feature extractor: shapes, inputs and orientation ------------------------------------------------------


def test_records_become_model_input(record_100hz, record_500hz) -> None:
    extractor = SupremeFeatureExtractor()
    batch = extractor([record_100hz, record_500hz])

    assert batch["ecg_values"].shape == (2, 12, 5000)
    assert batch["ecg_values"].dtype == torch.float32
    assert batch["lead_mask"].dtype == torch.bool and batch["lead_mask"].all()
    assert torch.isfinite(batch["ecg_values"]).all()
    assert extractor.model_input_names == list(batch.keys())


def test_one_ecg_array_tensor_and_record_agree(record_100hz) -> None:
    extractor = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000)
    from_record = extractor(record_100hz)["ecg_values"]
    from_array = extractor(record_100hz.signal, sampling_rate=100, lead_names=record_100hz.lead_names)["ecg_values"]
    from_tensor = extractor(torch.from_numpy(record_100hz.signal), sampling_rate=100,
                            lead_names=record_100hz.lead_names)["ecg_values"]
    from_numpy = extractor(record_100hz, return_tensors="np")["ecg_values"]

    assert from_record.shape == (1, 12, 1000)
    torch.testing.assert_close(from_array, from_record)
    torch.testing.assert_close(from_tensor, from_record)
    assert isinstance(from_numpy, np.ndarray)
    np.testing.assert_array_equal(from_numpy, from_record.numpy())


def test_samples_by_leads_input_is_transposed(record_100hz, standard_100hz) -> None:
    extractor = raw_extractor()
    expected = extractor(standard_100hz, sampling_rate=100)["ecg_values"]

    with_names = extractor(record_100hz.signal.T, sampling_rate=100, lead_names=record_100hz.lead_names)["ecg_values"]
    without_names = extractor(standard_100hz.T, sampling_rate=100)["ecg_values"]

    torch.testing.assert_close(with_names, expected)
    torch.testing.assert_close(without_names, expected)
    np.testing.assert_array_equal(expected[0].numpy(), standard_100hz)


def test_batch_equals_items_processed_one_by_one(record_100hz, record_500hz, standard_100hz) -> None:
    extractor = SupremeFeatureExtractor(sampling_rate=250, num_samples=2000, highpass_hz=0.5)
    mimic_rows = [STANDARD_LEADS.index(name) for name in MIMIC_ORDER]
    items = [record_100hz, standard_100hz[:, :700], record_500hz, standard_100hz[mimic_rows], standard_100hz[:, :700]]
    rates = [100, 100, 500, 100, 100]
    names = [record_100hz.lead_names, list(STANDARD_LEADS), record_500hz.lead_names, MIMIC_ORDER, list(STANDARD_LEADS)]

    batch = extractor(items, sampling_rate=rates, lead_names=names)

    for index, (item, rate, item_names) in enumerate(zip(items, rates, names)):
        single = extractor(item, sampling_rate=rate, lead_names=item_names)
        torch.testing.assert_close(batch["ecg_values"][index], single["ecg_values"][0], atol=1e-5, rtol=1e-5)
        assert torch.equal(batch["lead_mask"][index], single["lead_mask"][0])


def test_twelve_rows_without_names_are_read_in_standard_order(standard_100hz) -> None:
    values = raw_extractor()(standard_100hz, sampling_rate=100)["ecg_values"][0].numpy()
    np.testing.assert_array_equal(values, standard_100hz)


def test_other_lead_counts_need_names(standard_100hz) -> None:
    with pytest.raises(ValueError, match=r"input ECG, shape \(8, 1000\).*lead_names"):
        raw_extractor()(standard_100hz[:8], sampling_rate=100)


def test_names_matching_neither_axis_are_rejected(standard_100hz) -> None:
    with pytest.raises(ValueError, match="3 lead names"):
        raw_extractor()(standard_100hz[:8], sampling_rate=100, lead_names=["I", "II", "III"])


@pytest.mark.parametrize("shape", [(1000,), (2, 12, 1000), (1, 1, 12, 1000)])
def test_wrong_rank_is_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=f"rank {len(shape)}"):
        raw_extractor()([np.zeros((12, 1000)), np.zeros(shape)], sampling_rate=100)


def test_errors_name_the_batch_item(standard_100hz) -> None:
    batch = [standard_100hz, standard_100hz, standard_100hz, standard_100hz[:5]]
    with pytest.raises(ValueError, match=r"input 3 of the batch, shape \(5, 1000\)"):
        raw_extractor()(batch, sampling_rate=100)


def test_sampling_rate_is_required_for_arrays(standard_100hz) -> None:
    with pytest.raises(ValueError, match="sampling_rate is required"):
        raw_extractor()(standard_100hz)


@pytest.mark.parametrize("rate", [0, -100, float("nan"), float("inf"), "fast"])
def test_invalid_sampling_rates_are_rejected(standard_100hz, rate) -> None:
    with pytest.raises(ValueError, match="sampling rate"):
        raw_extractor()(standard_100hz, sampling_rate=rate)


def test_one_sampling_rate_per_item(standard_100hz) -> None:
    with pytest.raises(ValueError, match="2 values for a batch of 3"):
        raw_extractor()([standard_100hz] * 3, sampling_rate=[100, 100])


def test_record_rate_and_names_cannot_be_contradicted(record_100hz) -> None:
    with pytest.raises(ValueError, match="contradicts"):
        raw_extractor()(record_100hz, sampling_rate=500)
    with pytest.raises(ValueError, match="contradict"):
        raw_extractor()(record_100hz, lead_names=list(STANDARD_LEADS[::-1]))


def test_unknown_lead_names_are_rejected(standard_100hz) -> None:
    with pytest.raises(ValueError, match="PLETH"):
        raw_extractor()(standard_100hz[:2], sampling_rate=100, lead_names=["II", "PLETH"])


def test_only_non_standard_leads_are_rejected(standard_100hz) -> None:
    with pytest.raises(ValueError, match="none of the leads"):
        raw_extractor()(standard_100hz[:3], sampling_rate=100, lead_names=["vx", "vy", "vz"])


def test_ecgs_shorter_than_half_a_second_are_rejected(standard_100hz) -> None:
    extractor = raw_extractor()
    assert extractor(standard_100hz[:, :50], sampling_rate=100)["ecg_values"].shape == (1, 12, 1000)
    with pytest.raises(ValueError, match="49 samples at 100 Hz"):
        extractor(standard_100hz[:, :49], sampling_rate=100)
    with pytest.raises(ValueError, match="0 samples"):
        extractor(standard_100hz[:, :0], sampling_rate=100)


def test_empty_batch_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty batch"):
        raw_extractor()([], sampling_rate=100)


def test_missing_limb_leads_are_derived_by_the_extractor(standard_100hz) -> None:
    kept = ["I", "II"] + list(STANDARD_LEADS[6:])
    rows = [STANDARD_LEADS.index(name) for name in kept]

    batch = raw_extractor()(standard_100hz[rows], sampling_rate=100, lead_names=kept)

    assert batch["lead_mask"].all()
    np.testing.assert_allclose(batch["ecg_values"][0].numpy(), standard_100hz, atol=DERIVATION_TOLERANCE_MV)


def test_missing_chest_leads_are_zero_and_masked(standard_100hz) -> None:
    batch = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000)(
        standard_100hz[:6], sampling_rate=100, lead_names=list(LIMB_LEADS)
    )
    assert batch["lead_mask"][0].tolist() == [True] * 6 + [False] * 6
    assert not batch["ecg_values"][0, 6:].any()
    assert batch["ecg_values"][0, :6].std(dim=-1).gt(0.9).all()


# ---- resampling ------------------------------------------------------------------------------------------------


def test_upsampled_100hz_record_matches_the_500hz_record(record_100hz, record_500hz) -> None:
    extractor = SupremeFeatureExtractor(sampling_rate=500, num_samples=5000)
    values = extractor([record_100hz, record_500hz], return_tensors="np")["ecg_values"]

    for lead, (upsampled, recorded) in enumerate(zip(values[0], values[1])):
        assert np.corrcoef(upsampled, recorded)[0, 1] > 0.95, STANDARD_LEADS[lead]


def test_resampling_reproduces_a_band_limited_signal_at_an_irregular_rate() -> None:
    source_rate, target_rate, seconds = 257.0, 500, 4  # St Petersburg INCART records are at 257 Hz
    waveform = lambda t: np.sin(2 * np.pi * 1.3 * t) + 0.5 * np.sin(2 * np.pi * 17.0 * t + 0.4)  # noqa: E731
    source_time = np.arange(int(source_rate * seconds)) / source_rate
    extractor = SupremeFeatureExtractor(sampling_rate=target_rate, num_samples=target_rate * seconds,
                                        normalization="none")

    values = extractor(np.tile(waveform(source_time), (12, 1)), sampling_rate=source_rate, return_tensors="np")

    expected = waveform(np.arange(target_rate * seconds) / target_rate)
    interior = slice(target_rate // 2, -target_rate // 2)  # away from the edges, where padding dominates
    np.testing.assert_allclose(values["ecg_values"][0, 0, interior], expected[interior], atol=0.02)


# ---- NaN and inf ---------------------------------------------------------------------------------------------


def test_isolated_nan_and_inf_are_interpolated(standard_100hz) -> None:
    damaged = standard_100hz.copy()
    damaged[2, 300:304] = np.nan
    damaged[7, 10] = np.inf
    damaged[9, 0:3] = -np.inf  # at the start: held at the first finite value

    batch = raw_extractor()(damaged, sampling_rate=100, return_tensors="np")
    values = batch["ecg_values"][0]

    assert batch["lead_mask"].all() and np.isfinite(values).all()
    np.testing.assert_allclose(values[2, 300:304], np.linspace(damaged[2, 299], damaged[2, 304], 6)[1:-1], rtol=1e-5)
    np.testing.assert_allclose(values[7, 10], (damaged[7, 9] + damaged[7, 11]) / 2, rtol=1e-5)
    np.testing.assert_array_equal(values[9, 0:3], damaged[9, 3])
    untouched = np.isfinite(damaged)
    np.testing.assert_array_equal(values[untouched], damaged[untouched])


def test_lead_without_finite_samples_is_zeroed_and_masked(standard_100hz, caplog) -> None:
    damaged = standard_100hz.copy()
    damaged[8] = np.nan

    with caplog.at_level(logging.WARNING):
        batch = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000)(damaged, sampling_rate=100)

    assert batch["lead_mask"][0].tolist() == [name != "V3" for name in STANDARD_LEADS]
    assert not batch["ecg_values"][0, 8].any()
    assert torch.isfinite(batch["ecg_values"]).all()
    assert any("V3" in message and "NaN" in message for message in caplog.messages)


def test_ecg_with_only_nan_is_rejected(standard_100hz) -> None:
    batch = [standard_100hz, np.full_like(standard_100hz[:8], np.nan)]
    with pytest.raises(ValueError, match=r"input 1 of the batch, shape \(8, 1000\).*NaN"):
        raw_extractor()(batch, sampling_rate=100, lead_names=[list(STANDARD_LEADS), list(STANDARD_LEADS[:8])])


# ---- crop, pad, filters, normalisation ------------------------------------------------------------------------


def test_long_ecgs_are_cropped_at_the_start_or_center(standard_100hz) -> None:
    start = raw_extractor(num_samples=400)(standard_100hz, sampling_rate=100)["ecg_values"][0].numpy()
    center = raw_extractor(num_samples=400, crop="center")(standard_100hz, sampling_rate=100)["ecg_values"][0].numpy()

    np.testing.assert_array_equal(start, standard_100hz[:, :400])
    np.testing.assert_array_equal(center, standard_100hz[:, 300:700])


def test_long_ecgs_cropped_before_resampling_match_cropping_after(record_500hz) -> None:
    ten_seconds = SupremeFeatureExtractor(sampling_rate=250, num_samples=2500)
    two_seconds = SupremeFeatureExtractor(sampling_rate=250, num_samples=500, normalization="none")
    reference = SupremeFeatureExtractor(sampling_rate=250, num_samples=2500, normalization="none")

    full = reference(record_500hz, return_tensors="np")["ecg_values"][0]
    cropped = two_seconds(record_500hz, return_tensors="np")["ecg_values"][0]

    np.testing.assert_allclose(cropped, full[:, :500], atol=1e-4)
    assert ten_seconds(record_500hz)["ecg_values"].shape == (1, 12, 2500)


def test_short_ecgs_are_padded_at_the_end(standard_100hz) -> None:
    values = raw_extractor(padding_value=-7.0)(standard_100hz[:, :600], sampling_rate=100)["ecg_values"][0].numpy()

    np.testing.assert_array_equal(values[:, :600], standard_100hz[:, :600])
    assert (values[:, 600:] == -7.0).all()


def test_zscore_is_per_lead_over_the_recorded_part(standard_100hz) -> None:
    flat = standard_100hz[:, :600].copy()
    flat[5] = 0.25  # a flat lead stays zero instead of blowing up

    values = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000)(flat, sampling_rate=100)["ecg_values"][0]

    recorded = values[:, :600].numpy()
    non_flat = [lead for lead in range(12) if lead != 5]
    np.testing.assert_allclose(recorded[non_flat].mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(recorded[non_flat].std(axis=-1), 1.0, atol=1e-4)
    assert not recorded[5].any()
    assert not values[:, 600:].any()  # padding keeps padding_value (0)


def test_minmax_maps_the_whole_record_to_unit_range_as_merl(standard_100hz) -> None:
    values = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000, normalization="minmax")(
        standard_100hz, sampling_rate=100
    )["ecg_values"][0].numpy()

    low, high = standard_100hz.min(), standard_100hz.max()
    np.testing.assert_allclose(values, (standard_100hz - low) / (high - low + 1e-6), atol=1e-6)
    assert values.min() == 0.0 and values.max() == pytest.approx(1.0, abs=1e-5)


def test_minmax_ignores_missing_leads(standard_100hz) -> None:
    shifted = standard_100hz[6:] + 5.0  # chest leads only, far from the zero-filled limb leads
    batch = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000, normalization="minmax")(
        shifted, sampling_rate=100, lead_names=list(STANDARD_LEADS[6:])
    )
    values = batch["ecg_values"][0].numpy()

    assert values[6:].min() == 0.0 and values[6:].max() == pytest.approx(1.0, abs=1e-5)
    assert not values[:6].any()


def test_highpass_removes_baseline_wander_and_lowpass_removes_mains_hum() -> None:
    time = np.arange(5000) / 500
    wander, heart, hum = np.sin(2 * np.pi * 0.1 * time), np.sin(2 * np.pi * 8.0 * time), np.sin(2 * np.pi * 50 * time)
    signal = np.tile(3.0 * wander + 0.5 + heart + hum, (12, 1))
    band_pass = SupremeFeatureExtractor(normalization="none", highpass_hz=0.5, lowpass_hz=25.0)

    values = band_pass(signal, sampling_rate=500, return_tensors="np")["ecg_values"][0, 0]

    residual = values - heart
    interior = slice(500, -500)  # filter edge transients decay within about a second
    assert np.sqrt(np.mean(residual[interior] ** 2)) < 0.03  # the input's residual RMS is about 2.3
    assert np.abs(residual[interior]).max() < 0.15


@pytest.mark.parametrize(
    "settings_",
    [
        {"normalization": "l2"}, {"crop": "end"}, {"lowpass_hz": 300.0}, {"highpass_hz": 0.0},
        {"highpass_hz": 40.0, "lowpass_hz": 30.0}, {"feature_size": 8}, {"num_samples": 0}, {"sampling_rate": -1},
    ],
)
def test_invalid_settings_are_rejected(settings_: dict) -> None:
    with pytest.raises(ValueError):
        SupremeFeatureExtractor(**settings_)


def test_save_and_load_keep_every_setting(tmp_path, record_100hz) -> None:
    extractor = SupremeFeatureExtractor(
        sampling_rate=250, num_samples=1234, padding_value=-1.5, normalization="minmax", highpass_hz=0.5,
        lowpass_hz=45.0, derive_limb_leads=False, crop="center",
    )
    extractor.save_pretrained(tmp_path)
    loaded = SupremeFeatureExtractor.from_pretrained(tmp_path)

    assert (tmp_path / "preprocessor_config.json").is_file()
    assert loaded.to_dict() == extractor.to_dict()
    for name in ("sampling_rate", "num_samples", "padding_value", "normalization", "highpass_hz", "lowpass_hz",
                 "derive_limb_leads", "crop"):
        assert getattr(loaded, name) == getattr(extractor, name), name
    torch.testing.assert_close(loaded(record_100hz)["ecg_values"], extractor(record_100hz)["ecg_values"])


# ---- property: any input gives a finite tensor of the right shape or a ValueError --------------------------------

# Spellings per standard lead, and ECG leads outside the twelve (dropped).
LEAD_SPELLINGS = {lead: [lead, lead.upper(), lead.lower()] for lead in STANDARD_LEADS}
OTHER_LEADS = ["vx", "vy", "vz", "V7", "V4R"]
PROPERTY_EXTRACTORS = [
    SupremeFeatureExtractor(sampling_rate=100, num_samples=500),
    SupremeFeatureExtractor(sampling_rate=100, num_samples=500, normalization="minmax", highpass_hz=0.5,
                            lowpass_hz=40.0, crop="center"),
    SupremeFeatureExtractor(sampling_rate=100, num_samples=500, normalization="none", derive_limb_leads=False),
]


@st.composite
def lead_name_lists(draw) -> list[str]:
    """1-15 distinct leads (standard ones in random spellings, some non-standard), in random order."""
    leads = draw(st.lists(st.sampled_from([*STANDARD_LEADS, *OTHER_LEADS]), min_size=1, max_size=15, unique=True))
    return [draw(st.sampled_from(LEAD_SPELLINGS[lead])) if lead in LEAD_SPELLINGS else lead for lead in leads]


@st.composite
def ecg_batches(draw):
    """A batch of 1-3 ECGs with random lead subsets, lengths, rates, amplitudes, orientation and NaN/inf damage."""
    generator = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ecgs, rates, names = [], [], []
    for _ in range(draw(st.integers(1, 3))):
        lead_names = draw(lead_name_lists())
        n_samples = draw(st.integers(1, 3000) | st.integers(1000, 3000))  # also many long enough for high rates
        signal = generator.normal(size=(len(lead_names), n_samples)) * draw(st.sampled_from([1e-3, 1.0, 1e4]))
        damage = draw(st.sampled_from(["none", "scattered", "lead", "all", "inf"]))
        if damage == "scattered":
            signal[generator.random(signal.shape) < 0.2] = np.nan
        elif damage == "lead":
            signal[generator.integers(len(lead_names))] = np.nan
        elif damage == "all":
            signal[:] = np.nan
        elif damage == "inf":
            signal[generator.random(signal.shape) < 0.05] = np.inf
        ecgs.append(signal.T if draw(st.booleans()) else signal)
        rates.append(draw(st.sampled_from([100.0, 257.0, 500.0, 1000.0]) | st.floats(1.0, 2000.0)))
        names.append(lead_names)
    return ecgs, rates, names


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=ecg_batches(), extractor_index=st.integers(0, len(PROPERTY_EXTRACTORS) - 1))
def test_any_input_gives_finite_model_input_or_value_error(batch, extractor_index: int) -> None:
    ecgs, rates, names = batch
    try:
        output = PROPERTY_EXTRACTORS[extractor_index](ecgs, sampling_rate=rates, lead_names=names)
    except ValueError as error:
        event(f"ValueError: {str(error).split(': ')[-1][:30]}")
        return
    event("finite model input")
    values, lead_mask = output["ecg_values"], output["lead_mask"]
    assert values.shape == (len(ecgs), 12, 500) and values.dtype == torch.float32
    assert lead_mask.shape == (len(ecgs), 12) and lead_mask.dtype == torch.bool
    assert torch.isfinite(values).all()
    assert lead_mask.any(dim=1).all()
    assert not values[~lead_mask].any()
