"""The processor's and the feature extractor's contracts: a string is one text, `return_tensors` defaults as in
transformers' processors, `pad` follows SequenceFeatureExtractor's contract for channel-first ECGs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling_supreme import SupremeFeatureExtractor


def test_a_string_is_one_label_text(tiny_processor):
    one = tiny_processor(text="normal", return_tensors="pt")
    assert one["input_ids"].shape[0] == 1
    phrase = tiny_processor(text="left bundle branch block", return_tensors="pt")
    listed = tiny_processor(text=["left bundle branch block"], return_tensors="pt")
    torch.testing.assert_close(phrase["input_ids"], listed["input_ids"])


def test_a_string_is_one_report(tiny_processor):
    tokens = tiny_processor(reports="sinus rhythm normal ecg", return_tensors="pt")
    assert tokens["report_input_ids"].shape[0] == 1
    torch.testing.assert_close(
        tokens["report_input_ids"],
        tiny_processor(reports=["sinus rhythm normal ecg"], return_tensors="pt")["report_input_ids"],
    )


def test_non_string_texts_raise_type_errors_naming_the_argument(tiny_processor):
    with pytest.raises(TypeError, match="`text`.*positions \\[1\\]"):
        tiny_processor(text=["normal ecg", 5])
    with pytest.raises(TypeError, match="`reports`"):
        tiny_processor(reports=7)
    with pytest.raises(ValueError, match="positions \\[0\\]"):
        tiny_processor(text=["  "])


def test_return_tensors_defaults_to_none_as_in_transformers_processors(tiny_processor):
    ecg = np.random.default_rng(0).normal(size=(12, 1000))  # not flat: a constant ECG is refused
    plain = tiny_processor(text=["normal ecg", "atrial fibrillation"], ecg=ecg, sampling_rate=100)
    assert isinstance(plain["input_ids"], list) and isinstance(plain["input_ids"][0], list)
    assert not isinstance(plain["ecg_values"], torch.Tensor)
    tensors = tiny_processor(text=["normal ecg"], ecg=ecg, sampling_rate=100, return_tensors="pt")
    assert isinstance(tensors["input_ids"], torch.Tensor) and isinstance(tensors["ecg_values"], torch.Tensor)


def test_pad_follows_the_sequence_feature_extractor_contract():
    """A reported failure: `SupremeFeatureExtractor.pad(...)` raised a TypeError (its `_pad` had another signature)."""
    extractor = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000, padding_value=0.0)
    short, long = np.ones((12, 700), dtype=np.float32), np.full((12, 900), 2.0, dtype=np.float32)
    padded = extractor.pad(
        [{"ecg_values": short}, {"ecg_values": long}], return_attention_mask=True, return_tensors="pt"
    )
    assert padded["ecg_values"].shape == (2, 12, 900)
    assert padded["attention_mask"].shape == (2, 900)
    assert padded["attention_mask"][0].sum() == 700 and padded["attention_mask"][1].all()
    torch.testing.assert_close(padded["ecg_values"][0, :, 700:], torch.zeros(12, 200))
    torch.testing.assert_close(padded["ecg_values"][1], torch.from_numpy(long))
    to_max = extractor.pad({"ecg_values": [short]}, padding="max_length", max_length=1000, return_tensors="np")
    assert to_max["ecg_values"].shape == (1, 12, 1000)
    truncated = extractor.pad(
        {"ecg_values": [long]}, padding="max_length", max_length=800, truncation=True, return_tensors="np"
    )
    assert truncated["ecg_values"].shape == (1, 12, 800)
    with pytest.raises(ValueError, match="ecg_values items \\[0\\]"):
        extractor.pad({"ecg_values": [np.ones((3, 10))]})
