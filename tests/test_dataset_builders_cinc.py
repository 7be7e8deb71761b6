"""CPSC2018 and CSN builders on records written in the PhysioNet/CinC layout (.hea + MATLAB v4 .mat, #Dx: SNOMED CT
codes) from real PTB-XL 500 Hz signals, named after rows of the bundled benchmark tables."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

from modeling_supreme.dataset_builders import BuildSettings
from modeling_supreme.dataset_builders.labels import multi_hot_matrix, multi_label_names
from modeling_supreme.dataset_builders.physionet_cinc import (
    MERL_CPSC_WINDOW,
    _record_item,
    build_cinc,
    cinc_header,
    csn_acronyms,
    load_label_columns,
)
from tests.dataset_builders_helpers import PTBXL_ORDER, ptbxl_signal, quantized, stored_mv, write_cinc_record
from tests.sample_data import SPLITS_DIR

TABLE_SPLITS = {"train": "train", "validation": "val", "test": "test"}
# The codes PhysioNet/CinC 2020 writes for the nine CPSC 2018 classes (its PVC class is 164884008).
CPSC_CODES = {
    "AFIB": "164889003",
    "VPC": "164884008",
    "NORM": "426783006",
    "1AVB": "270492004",
    "CRBBB": "59118001",
    "STE": "164931005",
    "PAC": "284470004",
    "CLBBB": "164909002",
    "STD": "429622005",
}
CPSC_ROWS = {"train": [0, 1, 2, 3], "validation": [0, 1, 2], "test": [0, 1, 2]}
CSN_ROWS = {"train": [0, 1, 4, 26, 32, 35], "validation": [0, 5, 14, 25, 27, 28], "test": [0, 1, 2]}


def _tables(folder: str) -> dict[str, pd.DataFrame]:
    return {split: pd.read_csv(SPLITS_DIR / folder / f"{folder}_{name}.csv") for split, name in TABLE_SPLITS.items()}


def _signal(index: int, seconds: float = 10.0) -> np.ndarray:
    return ptbxl_signal(index % 40 + 1, rate=500)[:, : round(seconds * 500)]


# ----------------------------------------------------------------------------------------------------------
# CPSC2018
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cpsc_tree(tmp_path_factory):
    """Records for some rows of each icbeb table (one of them 7 s long, one 4 s) and two unlisted records."""
    root = tmp_path_factory.mktemp("cpsc2018") / "Training_WFDB"
    tables = _tables("icbeb")
    written: dict[str, dict] = {}
    for split, rows in CPSC_ROWS.items():
        for row_index in rows:
            row = tables[split].iloc[row_index]
            codes = [CPSC_CODES[column] for column in CPSC_CODES if row[column] == 1]
            seconds = {("train", 1): 7.0, ("validation", 2): 4.0}.get((split, row_index), 10.0)
            write_cinc_record(
                root / row["filename"], _signal(len(written), seconds), PTBXL_ORDER, 500, codes, age="71", sex="Male"
            )
            written[row["filename"]] = {"split": split, "row": row, "seconds": seconds, "index": len(written)}
    for name in ("A9990", "A9991"):
        write_cinc_record(root / name, _signal(0), PTBXL_ORDER, 500, [CPSC_CODES["NORM"]])
    return root, written


def test_cpsc_splits_reproduce_the_benchmark_tables_and_labels_match_them(cpsc_tree, tmp_path):
    root, written = cpsc_tree
    summary = build_cinc("cpsc2018", root, tmp_path, SPLITS_DIR, settings=BuildSettings(shard_size=2))
    loaded = datasets.load_dataset(str(tmp_path))
    tables = _tables("icbeb")
    too_short = {name for name, info in written.items() if info["seconds"] < 5}
    for split, table in tables.items():
        expected = [name for name in table["filename"] if name in written and name not in too_short]
        assert loaded[split]["id"] == expected  # table membership, in table order
    names = load_label_columns("cpsc2018").names
    assert list(names) == list(tables["train"].columns[7:])
    for split in tables:
        assert multi_label_names(loaded[split].features, "labels") == list(names)
        for row, labels in zip(loaded[split], multi_hot_matrix(loaded[split], "labels"), strict=True):
            table_row = written[row["id"]]["row"]
            np.testing.assert_array_equal(labels, table_row[list(names)].to_numpy(dtype=np.float32))
    listed = sum(len(table) for table in tables.values())
    assert summary.rejected_by_reason == {
        "listed record missing": listed - len(written),
        "not in split tables": 2,
        "too short": len(too_short),
    }


def test_cpsc_short_records_are_zero_padded_and_merl_protocol_keeps_2_5_s(cpsc_tree, tmp_path):
    root, written = cpsc_tree
    build_cinc("cpsc2018", root, tmp_path / "default", SPLITS_DIR)
    padded_name = next(name for name, info in written.items() if info["seconds"] == 7.0)
    row = (
        datasets.load_dataset(str(tmp_path / "default"), split="train")
        .with_format("numpy")
        .filter(lambda r: r["id"] == padded_name)[0]
    )
    expected = quantized(_signal(written[padded_name]["index"], 7.0))
    assert row["ecg"].shape == (12, 5000) and row["num_samples"] == 3500
    np.testing.assert_allclose(stored_mv(row)[:, :3500], expected, atol=1e-6)
    assert not row["ecg"][:, 3500:].any()
    assert row["age"] == 71 and row["sex"] == "Male"

    merl_summary = build_cinc("cpsc2018", root, tmp_path / "merl", SPLITS_DIR, window=MERL_CPSC_WINDOW)
    merl = datasets.load_dataset(str(tmp_path / "merl"), split="test").with_format("numpy")
    name = merl[0]["id"]
    assert merl[0]["ecg"].shape == (12, 2500) and merl[0]["num_samples"] == 1250
    np.testing.assert_allclose(stored_mv(merl[0])[:, :1250], quantized(_signal(written[name]["index"], 2.5)), atol=1e-6)
    assert not merl[0]["ecg"][:, 1250:].any()
    assert "too short" not in merl_summary.rejected_by_reason  # the 4 s record is long enough for 2.5 s


# ----------------------------------------------------------------------------------------------------------
# Chapman-Shaoxing-Ningbo
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def csn_build(tmp_path_factory):
    """Records at the tables' ecg_path (WFDBRecords/NN/NNN/JSxxxxx) with the codes of their `diagnose` acronyms."""
    root = tmp_path_factory.mktemp("csn")
    tables = _tables("chapman")
    code_of = csn_acronyms()
    written: dict[str, pd.Series] = {}
    for split, rows in CSN_ROWS.items():
        for row_index in rows:
            row = tables[split].iloc[row_index]
            codes = [code_of[acronym] for acronym in row["diagnose"].split(",")]
            path = root / Path(row["ecg_path"]).relative_to("/chapman").with_suffix("")
            write_cinc_record(path, _signal(len(written)), PTBXL_ORDER, 500, codes)
            written[path.name] = row
    out = tmp_path_factory.mktemp("csn-out")
    summary = build_cinc("csn", root, out, SPLITS_DIR / "chapman", settings=BuildSettings(num_proc=2, chunk_size=3))
    return written, out, summary


def test_csn_labels_match_codes_exactly_not_by_substring(csn_build):
    written, out, summary = csn_build
    loaded = datasets.load_dataset(str(out))
    names = list(load_label_columns("csn").names)
    assert names == list(_tables("chapman")["train"].columns[3:])
    differences = {}
    for split in loaded:
        for row, labels in zip(loaded[split], multi_hot_matrix(loaded[split], "labels"), strict=True):
            table_row = written[row["id"]]
            acronyms = set(table_row["diagnose"].split(","))
            exact = np.array([name in acronyms for name in names], dtype=np.float32)
            np.testing.assert_array_equal(labels, exact, err_msg=row["id"])
            published = table_row[names].to_numpy(dtype=np.float32)
            for name, ours, theirs in zip(names, labels, published, strict=True):
                if ours != theirs:
                    differences.setdefault(name, set()).add((ours, theirs))
    # The only disagreements with the published tables are their substring artefacts: label set there, not here.
    assert differences and all(pairs == {(0.0, 1.0)} for pairs in differences.values())
    assert {"AF", "ST"} <= set(differences)
    afib_rows = [row for row in loaded["validation"] if "AFIB" in written[row["id"]]["diagnose"].split(",")]
    assert afib_rows and all(names.index("AF") not in row["labels"] for row in afib_rows)
    assert summary.rejected_by_reason == {"listed record missing": 120 - len(written)}


def test_csn_splits_signals_and_reports(csn_build):
    written, out, _ = csn_build
    loaded = datasets.load_dataset(str(out))
    tables = _tables("chapman")
    for split, table in tables.items():
        expected = [Path(path).stem for path in table["ecg_path"] if Path(path).stem in written]
        assert loaded[split]["id"] == expected
    row = loaded["train"].with_format("numpy")[0]
    np.testing.assert_allclose(stored_mv(row), quantized(_signal(0)), atol=1e-6)
    first = written[row["id"]]
    assert list(row["snomed_codes"]) == [csn_acronyms()[a] for a in first["diagnose"].split(",")]
    assert row["report"] == "sinus bradycardia; T wave abnormal"  # diagnose "SB,TWC"


def test_csn_code_table_holds_the_documented_codes():
    codes = csn_acronyms()
    assert {a: codes[a] for a in ("AFIB", "AF", "SB", "SR", "ST")} == {
        "AFIB": "164889003",
        "AF": "164890007",
        "SB": "426177001",
        "SR": "426783006",
        "ST": "427084000",
    }
    cpsc = load_label_columns("cpsc2018")
    for column, code in CPSC_CODES.items():
        assert code in cpsc.codes[column]
    assert len({code for codes in cpsc.codes.values() for code in codes}) == sum(len(c) for c in cpsc.codes.values())


def test_cinc_header_reads_codes_age_and_sex_and_refuses_no_code():
    header = cinc_header({"dx": "426783006, 164889003,", "age": "NaN"}, "A0001.hea")
    assert header.codes == ("426783006", "164889003") and np.isnan(header.age) and header.sex == "Unknown"
    assert cinc_header({"dx": "59118001", "age": "n/a", "sex": "Male"}, "x").age != cinc_header({"dx": "1"}, "x").age
    with pytest.raises(ValueError, match=r"A0002\.hea: no SNOMED CT code"):
        cinc_header({"dx": " , "}, "A0002.hea")


def test_cinc_record_without_a_readable_header_is_rejected_as_unreadable(tmp_path):
    write_cinc_record(tmp_path / "A0001", ptbxl_signal(1, 500)[:2], ["I", "II"], 500, [])
    (tmp_path / "A0002.hea").mkdir()  # a folder where the header should be
    columns = load_label_columns("cpsc2018")
    no_code, unreadable = _record_item("A0001", tmp_path / "A0001", columns), _record_item("A0002", tmp_path / "A0002",
                                                                                           columns)
    assert (no_code.category, unreadable.category) == ("no diagnosis codes", "unreadable record")
    assert "A0002.hea" in unreadable.reason and "not a regular file" in unreadable.reason
