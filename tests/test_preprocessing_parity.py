"""One preprocessing path: a built dataset row and the raw record give the same model input.

Builders store the signal as read (NaN kept, true length and lead mask recorded); only the feature extractor repairs,
resamples, crops, pads and normalises, in training (the collator), evaluation (`BuiltDataset`) and the pipeline.
"""

from __future__ import annotations

from types import SimpleNamespace

import datasets
import numpy as np
import pandas as pd
import pytest

from modeling_supreme import SupremeFeatureExtractor, read_ecg
from modeling_supreme.configuration_supreme import STANDARD_LEADS
from modeling_supreme.dataset_builders import BuildSettings, SignalWindow
from modeling_supreme.dataset_builders.wfdb_folder import build_wfdb_folder
from modeling_supreme.evaluation.records import BuiltDataset
from modeling_supreme.processing_supreme import SupremeProcessor
from modeling_supreme.training.data import ArrowRows, SupremeCollator
from tests.dataset_builders_helpers import PTBXL_ORDER, ptbxl_signal, write_wfdb_record

RECORDS = {
    "gap": "a NaN gap of 50 samples in lead II",
    "short": "2.5 s, padded to the model's 10 s",
    "missing_lead": "V3 not recorded",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity") / "records"
    gap = ptbxl_signal(21, 100)
    gap[1, 400:450] = np.nan
    write_wfdb_record(root / "gap", gap, PTBXL_ORDER, 100)
    write_wfdb_record(root / "short", ptbxl_signal(22, 100)[:, :250], PTBXL_ORDER, 100)
    eleven = [index for index, name in enumerate(PTBXL_ORDER) if name != "V3"]
    write_wfdb_record(root / "missing_lead", ptbxl_signal(23, 100)[eleven], [PTBXL_ORDER[i] for i in eleven], 100)
    csv = root / "reports.csv"
    pd.DataFrame({"record": list(RECORDS), "report": list(RECORDS.values())}).to_csv(csv, index=False)
    out = root.parent / "dataset"
    window = SignalWindow(seconds=10.0, min_seconds=2.5)  # short records are stored with their true length
    build_wfdb_folder(root, csv, out, window=window, settings=BuildSettings(progress=False))
    split = datasets.load_dataset(str(out), split="train")
    assert list(split["id"]) == list(RECORDS)
    return root, out, split


@pytest.fixture(params=[(100, 1000), (500, 5000)], ids=["same-rate", "resampled"])
def processor(request, tiny_tokenizer):
    rate, samples = request.param
    return SupremeProcessor(SupremeFeatureExtractor(sampling_rate=rate, num_samples=samples), tiny_tokenizer)


def test_rows_keep_the_gap_the_true_length_and_the_lead_mask(built):
    _, _, split = built
    rows = ArrowRows(split).__getitems__(range(len(RECORDS))).columns
    assert rows["num_samples"].tolist() == [1000, 250, 1000]
    assert (rows["ecg"][0, 1, 400:450] == -32768).all() and (rows["ecg"][0, 1, :400] != -32768).all()
    assert rows["lead_mask"][2].tolist() == [name != "V3" for name in STANDARD_LEADS]
    assert rows["lead_mask"][:2].all()


@pytest.mark.parametrize("indices", [[0, 1, 2], [0, 2]], ids=["rows-one-by-one", "one-array-batch"])
def test_training_rows_and_raw_records_give_the_same_model_input(built, processor, indices):
    """Rows of several true lengths reach the feature extractor one by one, rows of one length as one array."""
    root, _, split = built
    collated = SupremeCollator(processor)(ArrowRows(split).__getitems__(indices))
    for position, index in enumerate(indices):
        name = list(RECORDS)[index]
        raw = processor.feature_extractor(read_ecg(root / name), return_tensors="np")
        np.testing.assert_allclose(collated["ecg_values"][position].numpy(), raw["ecg_values"][0], atol=1e-6,
                                   err_msg=name)
        assert collated["lead_mask"][position].tolist() == raw["lead_mask"][0].tolist(), name


def test_evaluation_rows_and_raw_records_give_the_same_model_input(built, processor):
    root, out, _ = built
    table = SimpleNamespace(keys=list(RECORDS))  # BuiltDataset reads records by a task table's keys only
    loaded = BuiltDataset(out).read(table, range(len(RECORDS)))
    extractor = processor.feature_extractor
    for name, item in zip(RECORDS, loaded, strict=True):
        from_row = extractor(item.record, return_tensors="np")["ecg_values"][0]
        from_record = extractor(read_ecg(root / name), return_tensors="np")["ecg_values"][0]
        np.testing.assert_allclose(from_row, from_record, atol=1e-6, err_msg=name)
