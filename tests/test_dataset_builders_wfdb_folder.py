"""Generic builder for a folder of WFDB records plus a `record, report[, split]` CSV."""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd

from modeling_supreme.configuration_supreme import STANDARD_LEADS
from modeling_supreme.dataset_builders import BuildSettings
from modeling_supreme.dataset_builders.wfdb_folder import build_wfdb_folder
from tests.dataset_builders_helpers import PTBXL_ORDER, ptbxl_signal, quantized, stored_mv, write_wfdb_record

CHEST = ["V1", "V2", "V3", "V4", "V5", "V6"]


def _write_folder(root):
    write_wfdb_record(root / "ward_a" / "0001", ptbxl_signal(11, 100), PTBXL_ORDER, 100)
    # Only I, II and the chest leads: III, aVR, aVL, aVF are derived from I and II.
    eight = ptbxl_signal(12, 100)[[0, 1, 6, 7, 8, 9, 10, 11]]
    write_wfdb_record(root / "ward_a" / "0002", eight, ["I", "II", *CHEST], 100)
    # Other spellings and order.
    shuffled = [11, 3, 0, 5, 1, 4, 2, 6, 7, 8, 9, 10]
    names = ["v6", "AVR", "lead I", "avf", "ii", "aVl", "III", "v1", "v2", "v3", "v4", "v5"]
    write_wfdb_record(root / "ward_b" / "0003", ptbxl_signal(13, 100)[shuffled], names, 100)
    write_wfdb_record(root / "ward_b" / "0004", ptbxl_signal(14, 500), PTBXL_ORDER, 500)  # another rate
    write_wfdb_record(root / "ward_b" / "0005", ptbxl_signal(15, 100), PTBXL_ORDER, 100)  # not in the CSV
    write_wfdb_record(root / "ward_a" / "0006", ptbxl_signal(16, 100), PTBXL_ORDER, 100)  # empty report
    rows = [
        ("ward_a/0001.hea", "Sinus rhythm, normal ECG", "train"),
        ("ward_a/0002", "Left axis deviation", "train"),
        ("./ward_b/0003", "Sinus bradycardia", "test"),
        ("ward_b/0004", "Atrial fibrillation", "train"),
        ("ward_c/0009", "Record that does not exist", "test"),
        ("ward_a/0006", "  ", "train"),
    ]
    pd.DataFrame(rows, columns=["record", "report", "split"]).to_csv(root / "reports.csv", index=False)


def test_folder_build_standardises_leads_and_accounts_for_every_record(tmp_path):
    root = tmp_path / "ecgs"
    _write_folder(root)
    summary = build_wfdb_folder(root, root / "reports.csv", tmp_path / "out", settings=BuildSettings(shard_size=2))
    assert summary.rows == {"train": 2, "test": 1}
    assert summary.rejected_by_reason == {
        "other sampling rate": 1,
        "missing file": 1,
        "empty report": 1,
        "not listed in the CSV": 1,
    }

    loaded = datasets.load_dataset(str(tmp_path / "out")).with_format("numpy")
    assert list(loaded["train"]["id"]) == ["ward_a/0001", "ward_a/0002"]
    assert list(loaded["train"]["report"]) == ["Sinus rhythm, normal ECG", "Left axis deviation"]
    first, derived = loaded["train"][0], loaded["train"][1]
    np.testing.assert_allclose(stored_mv(first), quantized(ptbxl_signal(11, 100)), atol=1e-6)

    recorded = quantized(ptbxl_signal(12, 100))
    lead = {name: index for index, name in enumerate(STANDARD_LEADS)}
    assert derived["lead_mask"].all()
    signal = stored_mv(derived)
    np.testing.assert_allclose(signal[lead["III"]], recorded[1] - recorded[0], atol=1e-6)
    # aVR = -(I + II) / 2 lies on a half-µV grid: int16 storage doubles that lead's gain and keeps it exact.
    np.testing.assert_allclose(signal[lead["aVR"]], -(recorded[0] + recorded[1]) / 2, atol=1e-6)
    assert derived["ecg_gain"][lead["aVR"]] == 2000 and derived["ecg_gain"][lead["III"]] == 1000
    np.testing.assert_allclose(signal[[lead[name] for name in CHEST]], recorded[6:], atol=1e-6)

    reordered = loaded["test"][0]
    assert reordered["id"] == "ward_b/0003"
    np.testing.assert_allclose(stored_mv(reordered), quantized(ptbxl_signal(13, 100)), atol=1e-6)
