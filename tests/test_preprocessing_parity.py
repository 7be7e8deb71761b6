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
from modeling_supreme.pipeline_ecg_zero_shot import EcgZeroShotPipeline
from modeling_supreme.processing_supreme import SupremeProcessor
from modeling_supreme.storage_supreme import GAIN_COLUMN, SIGNAL_DTYPES, decode_signals
from modeling_supreme.training.data import ArrowRows, SupremeCollator
from tests.dataset_builders_helpers import PTBXL_ORDER, ptbxl_signal, write_wfdb_record

RECORDS = {
    "gap": "a NaN gap of 50 samples in lead II",
    "short": "2.5 s, padded to the model's 10 s",
    "missing_lead": "V3 not recorded",
}
LABELS = ["normal ecg", "atrial fibrillation", "left bundle branch block"]


# float16 keeps 11 significant bits, so a record of whole µV is not stored exactly; on a 1/8 mV grid it is (in every
# storage dtype), which lets the float16 tests see the path and not the storage's rounding.
_FLOAT16_GRID_MV = 0.125


def _source_signal(ecg_id: int, signal_dtype: str) -> np.ndarray:
    signal = ptbxl_signal(ecg_id, 100)
    return np.round(signal / _FLOAT16_GRID_MV) * _FLOAT16_GRID_MV if signal_dtype == "float16" else signal


@pytest.fixture(scope="module", params=SIGNAL_DTYPES)
def built(request, tmp_path_factory):
    signal_dtype = request.param
    root = tmp_path_factory.mktemp(f"parity-{signal_dtype}") / "records"
    gap = _source_signal(21, signal_dtype)
    gap[1, 400:450] = np.nan
    write_wfdb_record(root / "gap", gap, PTBXL_ORDER, 100)
    write_wfdb_record(root / "short", _source_signal(22, signal_dtype)[:, :250], PTBXL_ORDER, 100)
    eleven = [index for index, name in enumerate(PTBXL_ORDER) if name != "V3"]
    eleven_leads = _source_signal(23, signal_dtype)[eleven]
    write_wfdb_record(root / "missing_lead", eleven_leads, [PTBXL_ORDER[i] for i in eleven], 100)
    csv = root / "reports.csv"
    pd.DataFrame({"record": list(RECORDS), "report": list(RECORDS.values())}).to_csv(csv, index=False)
    out = root.parent / "dataset"
    window = SignalWindow(seconds=10.0, min_seconds=2.5)  # short records are stored with their true length
    settings = BuildSettings(progress=False, signal_dtype=signal_dtype)
    build_wfdb_folder(root, csv, out, window=window, settings=settings)
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
    gap = decode_signals(rows["ecg"][0], rows.get(GAIN_COLUMN, [None])[0])
    assert np.isnan(gap[1, 400:450]).all() and np.isfinite(gap[1, :400]).all()
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


@pytest.mark.parametrize("normalization", ["zscore", "none"])
@pytest.mark.parametrize("row_format", [None, "numpy", "torch"])
def test_pipeline_scores_rows_and_raw_records_alike(built, tiny_model, tiny_tokenizer, normalization, row_format):
    """The pipeline decodes a row as stored (gains, missing samples) and crops it to its true length, so its scores
    equal the raw record's: the 2.5 s record is not normalised with its zero padding, the gap is repaired, not read as
    -32768. "none" keeps amplitudes, so a row's int16 units are not taken for mV."""
    root, _, split = built
    extractor = SupremeFeatureExtractor(
        sampling_rate=tiny_model.config.sampling_rate, num_samples=tiny_model.config.num_samples,
        normalization=normalization,
    )
    classifier = EcgZeroShotPipeline(model=tiny_model, processor=SupremeProcessor(extractor, tiny_tokenizer))
    rows = split.with_format(row_format) if row_format else split
    for index, name in enumerate(RECORDS):
        from_row = classifier(rows[index], candidate_labels=LABELS)
        from_record = classifier(str(root / name), candidate_labels=LABELS)
        assert [item["label"] for item in from_row] == [item["label"] for item in from_record], name
        np.testing.assert_allclose([item["score"] for item in from_row], [item["score"] for item in from_record],
                                   atol=1e-6, err_msg=name)
