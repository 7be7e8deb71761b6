"""The feature extractor's batch path: `batch` on a 3-D array (B, n_leads, T) gives what the list of its ECGs gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling_supreme import SupremeFeatureExtractor
from tests.dataset_builders_helpers import ptbxl_signal

NAMES = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]  # limb leads derived, the rest standard


@pytest.fixture(scope="module")
def batch():
    signals = np.stack([ptbxl_signal(index, 100)[[0, 1, 6, 7, 8, 9, 10, 11]] for index in (1, 2, 3)]).astype(np.float32)
    signals[1, 0, 100:130] = np.nan
    return signals


@pytest.mark.parametrize("rate, samples", [(100, 1000), (500, 4000)])
def test_array_batch_equals_the_list_of_its_ecgs(batch, rate, samples):
    extractor = SupremeFeatureExtractor(sampling_rate=rate, num_samples=samples)
    as_list = extractor(list(batch), sampling_rate=100, lead_names=NAMES, return_tensors="np")
    as_array = extractor.batch(batch, 100, NAMES, return_tensors="np")
    np.testing.assert_array_equal(as_array["ecg_values"], as_list["ecg_values"])
    np.testing.assert_array_equal(as_array["lead_mask"], as_list["lead_mask"])
    transposed = extractor.batch(torch.from_numpy(batch.transpose(0, 2, 1).copy()), [100, 100, 100], NAMES,
                                 return_tensors="np")
    np.testing.assert_array_equal(transposed["ecg_values"], as_list["ecg_values"])


def test_array_batch_leaves_the_input_alone_and_refuses_mixed_settings(batch):
    extractor = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000)
    before = batch.copy()
    extractor.batch(batch, 100, NAMES)
    np.testing.assert_array_equal(batch, before)
    with pytest.raises(ValueError, match="one sampling_rate"):
        extractor.batch(batch, [100, 100, 500], NAMES)
    with pytest.raises(ValueError, match="one list of lead_names"):
        extractor.batch(batch, 100, [NAMES] * 3)
    with pytest.raises(ValueError, match="shorter than the minimum"):
        extractor.batch(batch[..., :20], 100, NAMES)
    with pytest.raises(ValueError, match="3-D batch"):
        extractor.batch(batch[0], 100, NAMES)
    with pytest.raises(ValueError, match="rank 3"):  # __call__ still takes one ECG or a list, never a 3-D array
        extractor(batch, sampling_rate=100, lead_names=NAMES)
