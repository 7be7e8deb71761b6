"""MIMIC-IV-ECG builder on a miniature MIMIC tree written from real PTB-XL 500 Hz signals."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

from modeling_supreme.dataset_builders import BuildSettings
from modeling_supreme.dataset_builders.mimic_iv_ecg import build_mimic_iv_ecg, clean_report
from tests.dataset_builders_helpers import ptbxl_signal, quantized, stored_mv, write_wfdb_record

MIMIC_LEAD_ORDER = ("I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6")
PTBXL_TO_MIMIC = [0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11]  # PTB-XL has aVL before aVF, MIMIC the reverse

# Report fragments (report_0, report_1, ...) written for the test, one list per study.
FRAGMENTS = [
    ["Sinus rhythm", "Normal ECG"],
    ["Sinus rhythm.", "  Left  axis deviation  ", "Borderline ECG"],
    ["Atrial fibrillation with rapid ventricular response", "--- Abnormal ECG ---"],
    ["Sinus bradycardia", "Possible anterior infarct - age undetermined", "Abnormal ECG"],
    ["Normal ECG"],  # two words: dropped
    ["Sinus tachycardia", "Nonspecific ST abnormality", "Abnormal ECG"],
    ["Sinus rhythm", "Prolonged QT interval", "*** Abnormal ECG ***"],
    ["Poor", "quality"],  # two words: dropped
    ["Sinus rhythm with 1st degree A-V block", "Otherwise normal ECG"],
    None,  # no row in machine_measurements.csv
]


def _write_mimic_tree(root: Path) -> pd.DataFrame:
    """files/pNNNN/pNNNNNNNN/sNNNNNNNN/NNNNNNNN.hea/.dat plus record_list.csv and machine_measurements.csv.

    Record i carries the PTB-XL 500 Hz record i+1 in MIMIC's lead order. machine_measurements.csv lists
    the studies in another order than record_list.csv and has one study more, so a join by row order fails.
    """
    rows = []
    for index in range(len(FRAGMENTS)):
        subject_id, study_id = 10000032 + 7 * index, 40000000 + 991 * index
        relative = Path("files") / f"p{str(subject_id)[:4]}" / f"p{subject_id}" / f"s{study_id}" / str(study_id)
        signal = ptbxl_signal(index + 1, rate=500)[PTBXL_TO_MIMIC]
        write_wfdb_record(root / relative, signal, MIMIC_LEAD_ORDER, rate=500)
        rows.append(
            {
                "subject_id": subject_id,
                "study_id": study_id,
                "file_name": study_id,
                "ecg_time": f"2180-07-{index + 10} 12:00:00",
                "path": relative.as_posix(),
                "ptbxl_id": index + 1,
            }
        )
    records = pd.DataFrame(rows)
    records.drop(columns="ptbxl_id").to_csv(root / "record_list.csv", index=False)
    measurements = []
    for row, fragments in zip(rows, FRAGMENTS, strict=True):
        if fragments is None:
            continue
        cells = {f"report_{k}": (fragments[k] if k < len(fragments) else None) for k in range(18)}
        measurements.append(
            {
                "subject_id": row["subject_id"],
                "study_id": row["study_id"],
                "cart_id": 6848296,
                "ecg_time": row["ecg_time"],
                **cells,
                "rr_interval": 659,
            }
        )
    measurements.append(
        {"subject_id": 1, "study_id": 49999999, "cart_id": 1, "ecg_time": "", "report_0": "Sinus rhythm normal ECG"}
    )
    pd.DataFrame(measurements).iloc[::-1].to_csv(root / "machine_measurements.csv", index=False)
    return records


@pytest.fixture(scope="module")
def mimic_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("mimic-iv-ecg")
    records = _write_mimic_tree(root)
    out = tmp_path_factory.mktemp("mimic-out")
    summary = build_mimic_iv_ecg(root, out, BuildSettings(shard_size=3, num_proc=2, chunk_size=2))
    return records, out, summary


def test_reports_are_joined_on_study_id_cleaned_and_short_ones_dropped(mimic_build):
    records, out, summary = mimic_build
    short = [
        i for i, fragments in enumerate(FRAGMENTS) if fragments is not None and len(clean_report(fragments).split()) < 4
    ]
    unmatched = [i for i, fragments in enumerate(FRAGMENTS) if fragments is None]
    assert summary.built == len(FRAGMENTS) - len(short) - len(unmatched)
    # machine_measurements.csv has one study (49999999) that no record lists: a reject of its own
    assert summary.rejected_by_reason == {
        "report under 4 words": len(short), "no machine report": len(unmatched), "measurements without a record": 1
    }
    assert f"{len(short)}  report under 4 words" in summary.format()
    rejected = {json.loads(line)["id"] for line in (out / "rejects.jsonl").read_text().splitlines()}
    assert rejected == {str(records.study_id[i]) for i in short + unmatched} | {"49999999"}

    train = datasets.load_dataset(str(out), split="train")
    reports = dict(zip(train["study_id"], train["report"], strict=True))
    assert reports[records.study_id[1]] == "Sinus rhythm. Left axis deviation. Borderline ECG."
    assert reports[records.study_id[2]] == "Atrial fibrillation with rapid ventricular response. Abnormal ECG."
    assert reports[records.study_id[6]] == "Sinus rhythm. Prolonged QT interval. Abnormal ECG."
    kept = [study for i, study in enumerate(records.study_id) if i not in short + unmatched]
    assert list(train["study_id"]) == kept  # record_list order


def test_leads_are_reordered_from_mimic_to_the_standard_order(mimic_build):
    records, out, _ = mimic_build
    train = datasets.load_dataset(str(out), split="train").with_format("numpy")
    by_study = {int(row["study_id"]): row for row in train}
    for index in (0, 3, 8):
        row = by_study[int(records.study_id[index])]
        expected = quantized(ptbxl_signal(index + 1, rate=500))  # PTB-XL order is the standard order
        assert row["ecg"].shape == (12, 5000) and row["sampling_rate"] == 500
        np.testing.assert_allclose(stored_mv(row), expected, atol=1e-6)
        assert row["subject_id"] == records.subject_id[index]


def test_clean_report_joins_fragments_into_sentences():
    assert (
        clean_report(["  Sinus  rhythm. ", None, float("nan"), "", "*** Normal ECG ***"]) == "Sinus rhythm. Normal ECG."
    )
    assert clean_report([None, "  "]) == ""
