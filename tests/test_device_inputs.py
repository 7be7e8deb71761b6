"""Batches normalised where the model runs (`training.device_inputs`): the collator hands stored int16 values over,
the trainer normalises them; the model must see exactly what the host path gives, and anything the host path must
repair, resample or refuse still goes through it."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from modeling_supreme import SupremeFeatureExtractor, SupremeProcessor
from modeling_supreme.storage_supreme import INT16_MISSING, decode_signals, decode_tensor, encode_signal
from modeling_supreme.training import SupremeCollator, resolve_vocabulary
from modeling_supreme.training.data import RowBatch, formatted_for_collation, load_splits
from modeling_supreme.training.device_inputs import normalized_on_device, stored_inputs
from modeling_supreme.training.trainer import run_training
from tests.training_helpers import fresh_accelerate_state, tiny_options, training_dataset  # noqa: F401


@pytest.fixture(scope="module")
def split(training_dataset):  # noqa: F811
    return load_splits(str(training_dataset))["train"]


def _collators(split, tiny_tokenizer, **extractor_settings):
    extractor = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000, **extractor_settings)
    processor = SupremeProcessor(feature_extractor=extractor, tokenizer=tiny_tokenizer)
    options = tiny_options("unused", "unused", "unused")
    vocabulary = resolve_vocabulary(options, split)
    host = SupremeCollator(processor, vocabulary)
    device = SupremeCollator(processor, vocabulary, normalize_on_device=True)
    return host, device, extractor


def _rows(split, count=12) -> RowBatch:
    return formatted_for_collation(split).__getitems__(list(range(count)))


def _edited(rows: RowBatch, **columns) -> RowBatch:
    return RowBatch({**rows.columns, **columns})


@pytest.mark.parametrize("normalization", ["zscore", "minmax", "none"])
def test_device_batches_give_the_host_paths_model_inputs(split, tiny_tokenizer, normalization):
    host, device, extractor = _collators(split, tiny_tokenizer, normalization=normalization)
    rows = _rows(split)
    stored = device(rows)
    assert "ecg_values" not in stored and stored["ecg_stored"].dtype == torch.int16  # half the bytes of float32
    assert stored["ecg_stored"].shape == (12, 12, 1000) and stored["ecg_gain"].shape == (12, 12)
    expected, finished = host(rows), normalized_on_device(stored, extractor)
    assert set(finished) == set(expected)
    for key, value in expected.items():
        assert torch.equal(finished[key], value), key


def test_flat_and_unrecorded_leads_are_masked_as_on_the_host(split, tiny_tokenizer, caplog):
    host, device, extractor = _collators(split, tiny_tokenizer)
    rows = _rows(split)
    ecg, stored_mask = rows.columns["ecg"].copy(), rows.columns["lead_mask"].copy()
    ecg[0, 4] = 300  # a constant aVL: a disconnected electrode
    ecg[1, 7], stored_mask[1, 7] = 0, False  # a lead the source lacked, stored as zeros
    rows = _edited(rows, ecg=ecg, lead_mask=stored_mask)
    expected = host(rows)
    with caplog.at_level(logging.WARNING):
        finished = normalized_on_device(device(rows), extractor)
    assert not finished["lead_mask"][0, 4] and not finished["lead_mask"][1, 7]
    assert torch.equal(finished["lead_mask"], expected["lead_mask"])
    assert torch.equal(finished["ecg_values"], expected["ecg_values"])
    assert f"record {rows.columns['id'][0]!r}: leads ['aVL'] are constant" in caplog.text


def test_a_flat_ecg_is_refused_naming_its_record(split, tiny_tokenizer):
    _, device, extractor = _collators(split, tiny_tokenizer)
    rows = _rows(split)
    ecg = rows.columns["ecg"].copy()
    ecg[3] = 7
    with pytest.raises(ValueError, match=rf"record {rows.columns['id'][3]!r}: the ECG is flat"):
        normalized_on_device(device(_edited(rows, ecg=ecg)), extractor)


def test_batches_the_host_must_repair_resample_or_filter_go_through_the_host(split, tiny_tokenizer):
    host, device, extractor = _collators(split, tiny_tokenizer)
    rows = _rows(split)
    gapped = rows.columns["ecg"].copy()
    gapped[2, 0, 10:20] = INT16_MISSING  # a gap the NaN policy interpolates
    lengths = rows.columns["num_samples"].copy()
    lengths[5] = 800  # rows of different lengths
    rates = rows.columns["sampling_rate"].astype(float) * 5  # another rate: resampling
    for edited in (_edited(rows, ecg=gapped), _edited(rows, num_samples=lengths), _edited(rows, sampling_rate=rates)):
        batch = device(edited)
        assert "ecg_stored" not in batch
        assert torch.equal(batch["ecg_values"], host(edited)["ecg_values"])
    _, filtered, _ = _collators(split, tiny_tokenizer, highpass_hz=0.5)
    assert "ecg_stored" not in filtered(rows)
    columns = {name: rows.columns[name] for name in ("ecg", "sampling_rate")}
    assert stored_inputs(columns, extractor, ["a"] * len(rows)) is not None  # no gain needed for the check


def test_tensor_decoding_is_bit_identical_to_the_numpy_decoding():
    rng = np.random.default_rng(0)
    signal = rng.normal(0, 1, (12, 500)).astype(np.float32).round(3)
    signal[3, 40:45] = np.nan
    signal[5] *= 40  # a lead beyond +-32.767 mV: a gain below 1000
    encoded = encode_signal(signal, "int16")
    reference = decode_signals(encoded.values, encoded.gain)
    decoded = decode_tensor(torch.from_numpy(encoded.values), torch.from_numpy(encoded.gain)).numpy()
    np.testing.assert_array_equal(decoded, reference)  # NaN in the same places, every value bit for bit
    half = encode_signal(signal, "float16").values
    np.testing.assert_array_equal(decode_tensor(torch.from_numpy(half)).numpy(), decode_signals(half))
    with pytest.raises(ValueError, match="ecg_gain"):
        decode_tensor(torch.from_numpy(encoded.values))


def test_training_normalised_on_the_device_ends_with_the_same_weights(
    training_dataset, tiny_text_encoder_dir, tmp_path  # noqa: F811
):
    weights = {}
    for on_device in (True, False):
        options = tiny_options(training_dataset, tmp_path / str(on_device), tiny_text_encoder_dir, max_steps=4,
                               eval_steps=0, save_steps=4, normalize_on_device=on_device)
        run_training(options)
        weights[on_device] = load_file(tmp_path / str(on_device) / "checkpoints" / "checkpoint-4" / "model.safetensors")
    assert all(torch.equal(weights[True][key], weights[False][key]) for key in weights[False])
