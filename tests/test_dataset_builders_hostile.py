"""Builders given hostile metadata and killed mid-read: paths outside the root, repeated ids, empty reports,
malformed rows, broken CSVs; and the reader workers of a killed build end with it (no orphans)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import datasets
import pandas as pd
import pytest

from modeling_supreme.dataset_builders import REJECTS_FILE, BuildSettings
from modeling_supreme.dataset_builders.mimic_iv_ecg import load_reports, mimic_tasks
from modeling_supreme.dataset_builders.ptbxl import build_ptbxl
from modeling_supreme.dataset_builders.tables import read_csv_table, record_path_under, row_lines
from modeling_supreme.dataset_builders.tasks import RecordTask, Rejection
from modeling_supreme.dataset_builders.wfdb_folder import build_wfdb_folder
from tests.dataset_builders_helpers import PTBXL_ORDER, copy_ptbxl_subset, ptbxl_signal, write_wfdb_record
from tests.process_helpers import descendants, survivors
from tests.sample_data import REPO_ROOT, ptbxl_record


def _rejects(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / REJECTS_FILE).read_text().splitlines()]


# -- record paths ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("listed", ["../outside/0001", "/etc/passwd", "a/../../outside/0001", "./..", "."])
def test_record_paths_that_leave_the_root_are_refused(tmp_path, listed):
    with pytest.raises(ValueError, match="absolute|leaves the root") as raised:
        record_path_under(tmp_path / "root", listed)
    assert listed in str(raised.value)


def test_record_paths_inside_the_root_stay_relative_to_it(tmp_path):
    assert record_path_under(tmp_path, "a/./b/../c/0001") == tmp_path / "a" / "c" / "0001"


def _folder_with_outside_record(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    write_wfdb_record(root / "in" / "0001", ptbxl_signal(11, 100), PTBXL_ORDER, 100)
    write_wfdb_record(outside / "0002", ptbxl_signal(12, 100), PTBXL_ORDER, 100)
    rows = [
        ("in/0001", "Sinus rhythm"),
        ("../outside/0002", "Read from outside the root"),
        (str(outside / "0002"), "Absolute path"),
        ("in/0001.hea", "The same record again"),
    ]
    pd.DataFrame(rows, columns=["record", "report"]).to_csv(root / "reports.csv", index=False)
    return root


def test_folder_build_rejects_paths_outside_the_root_and_repeated_records(tmp_path):
    root = _folder_with_outside_record(tmp_path)
    summary = build_wfdb_folder(root, root / "reports.csv", tmp_path / "out", settings=BuildSettings())
    assert summary.rows == {"train": 1}
    assert summary.rejected_by_reason == {"outside root": 2, "duplicate id": 1}
    reasons = [entry["reason"] for entry in _rejects(tmp_path / "out")]
    assert any("'../outside/0002' leaves the root" in reason and "reports.csv line 3" in reason for reason in reasons)
    assert any("is absolute" in reason and "reports.csv line 4" in reason for reason in reasons)
    assert any("in/0001 (reports.csv line 5) is listed already on line 2" in reason for reason in reasons)
    built = datasets.load_dataset(str(tmp_path / "out"))["train"]
    assert built["report"] == ["Sinus rhythm"]  # the first row of the repeated record


# -- PTB-XL database rows -------------------------------------------------------------------------------------


def _hostile_ptbxl_root(tmp_path):
    root = copy_ptbxl_subset(tmp_path / "root", [1, 2, 3, 4, 5, 6, 7], rate=100)
    database = pd.read_csv(root / "ptbxl_database.csv", dtype={"patient_id": str})
    database.loc[database.ecg_id == 2, "filename_lr"] = "../../etc/records100/00000/00002_lr"
    database.loc[database.ecg_id == 3, "report"] = "   "
    database.loc[database.ecg_id == 4, "scp_codes"] = "{'NORM': 100.0"  # cut short
    database.loc[database.ecg_id == 5, "strat_fold"] = 11
    database.loc[database.ecg_id == 6, "patient_id"] = "unknown"
    repeated = database[database.ecg_id == 1].assign(report="a second row for ecg_id 1")
    pd.concat([database, repeated]).to_csv(root / "ptbxl_database.csv", index=False)
    return root


def test_ptbxl_rejects_bad_rows_and_builds_the_rest(tmp_path):
    root = _hostile_ptbxl_root(tmp_path)
    summary = build_ptbxl(root, tmp_path / "out", 100, BuildSettings())
    assert summary.built == 2  # ecg_id 1 (first row) and 7
    assert summary.rejected_by_reason == {
        "outside root": 1, "empty report": 1, "malformed row": 3, "duplicate id": 1
    }
    rejects = _rejects(tmp_path / "out")
    by_id = {entry["id"]: entry["reason"] for entry in rejects}
    assert "leaves the root" in by_id["2"] and "line 3 (ecg_id 2)" in by_id["2"]
    assert "empty report" in by_id["3"]
    assert "unreadable scp_codes" in by_id["4"] and "ecg_id 4" in by_id["4"]
    assert "strat_fold 11" in by_id["5"]
    assert "patient_id 'unknown' is not an integer" in by_id["6"]
    duplicate = [entry["reason"] for entry in rejects if entry["category"] == "duplicate id"]
    assert duplicate == [f"{root / 'ptbxl_database.csv'} line 9 (ecg_id 1): ecg_id 1 is listed already on line 2"]
    built = datasets.load_dataset(str(tmp_path / "out"))
    reports = {row["ecg_id"]: row["report"] for split in built.values() for row in split}
    assert set(reports) == {1, 7} and reports[1] != "a second row for ecg_id 1"


# -- CSV problems name the file -------------------------------------------------------------------------------


def _write_bytes(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        ("record,report\nward/1,Sinusrhythmus, \xfcberdreht\n".encode("latin-1"), "not UTF-8"),
        (b'record,report\nward/1,"never closed\n', "unreadable CSV"),
        (b"record,text\nward/1,Sinus rhythm\n", r"missing column\(s\) \['report'\]"),
    ],
    ids=["empty", "latin-1", "unclosed-quote", "no-report-column"],
)
def test_folder_build_csv_problems_name_the_file(tmp_path, content, message):
    csv_path = _write_bytes(tmp_path / "root" / "reports.csv", content)
    with pytest.raises(ValueError, match=message) as raised:
        build_wfdb_folder(tmp_path / "root", csv_path, tmp_path / "out")
    assert str(csv_path) in str(raised.value)


def test_a_missing_table_is_a_file_not_found_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="table not found") as raised:
        read_csv_table(tmp_path / "nothing.csv")
    assert str(tmp_path / "nothing.csv") in str(raised.value)


def test_ptbxl_database_without_a_report_column_names_the_file(tmp_path):
    root = copy_ptbxl_subset(tmp_path / "root", [1], rate=100)
    pd.read_csv(root / "ptbxl_database.csv").drop(columns="report").to_csv(root / "ptbxl_database.csv", index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['report'\]") as raised:
        build_ptbxl(root, tmp_path / "out")
    assert str(root / "ptbxl_database.csv") in str(raised.value)


def test_mimic_latin1_machine_measurements_name_the_file(tmp_path):
    path = _write_bytes(tmp_path / "machine_measurements.csv", "study_id,report_0\n1,\xc4nderung\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8") as raised:
        load_reports(path)
    assert str(path) in str(raised.value)


def test_mimic_rows_outside_the_root_repeated_or_malformed_are_rejected(tmp_path):
    rows = [
        {"subject_id": "1", "study_id": "11", "path": "files/p1/s11/11", "ecg_time": "t"},
        {"subject_id": "1", "study_id": "12", "path": "../../secret/12", "ecg_time": "t"},
        {"subject_id": "1", "study_id": "11", "path": "files/p1/s11/11", "ecg_time": "t"},
        {"subject_id": "x", "study_id": "13", "path": "files/p1/s13/13", "ecg_time": "t"},
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "record_list.csv", index=False)
    reports = {11: "Sinus rhythm normal ECG", 12: "Sinus rhythm normal ECG", 13: "Sinus rhythm normal ECG"}
    items = list(mimic_tasks(tmp_path, reports))
    assert isinstance(items[0], RecordTask) and items[0].path == str(tmp_path / "files/p1/s11/11")
    assert [item.category for item in items[1:]] == ["outside root", "duplicate id", "malformed row"]
    assert all(isinstance(item, Rejection) and "record_list.csv line" in item.reason for item in items[1:])
    assert "line 4: study 11 is listed already on line 2" in items[2].reason


# -- worker processes end with their parent -------------------------------------------------------------------

_READER_SCRIPT = textwrap.dedent(
    """
    import sys
    from modeling_supreme.dataset_builders import RecordTask, SignalReader, SignalWindow, read_records

    reader = SignalReader(100, SignalWindow(10.0))
    items = (RecordTask(str(index), sys.argv[1], {}) for index in range(10**6))
    for index, _ in enumerate(read_records(items, reader, num_proc=2, chunk_size=4)):
        if index == 0:
            print("reading", flush=True)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_reader_workers_end_when_the_build_is_killed(sig):
    environment = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(
        [sys.executable, "-c", _READER_SCRIPT, str(ptbxl_record(1, 100))],
        stdout=subprocess.PIPE, env=environment, cwd=REPO_ROOT,
    )
    workers: set[int] = set()
    try:
        assert process.stdout.readline().strip() == b"reading"
        workers = descendants(process.pid)
        assert len(workers) >= 2  # the pool's readers
        process.send_signal(sig)
        process.wait(timeout=30)
        left = survivors(workers, timeout=10)
        assert not left, f"reader workers {sorted(left)} outlived their parent killed by {sig.name}"
    finally:
        for pid in survivors(workers | descendants(process.pid), timeout=0):
            os.kill(pid, signal.SIGKILL)
        process.kill()
        process.wait()


def test_a_benchmark_table_without_its_id_column_names_the_file(tmp_path):
    from modeling_supreme.dataset_builders.physionet_cinc import build_cinc

    (tmp_path / "root").mkdir()
    splits = tmp_path / "icbeb"
    splits.mkdir()
    for suffix in ("train", "val", "test"):
        (splits / f"icbeb_{suffix}.csv").write_text("name,AF\nA0001,1\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['filename'\]") as raised:
        build_cinc("cpsc2018", tmp_path / "root", tmp_path / "out", splits_dir=splits)
    assert str(splits / "icbeb_train.csv") in str(raised.value)


# -- record keys, ids out of range, file names, line numbers ----------------------------------------------------


def test_one_record_listed_under_two_spellings_is_built_once(tmp_path):
    root = tmp_path / "root"
    write_wfdb_record(root / "sub" / "r00004", ptbxl_signal(4, 100), PTBXL_ORDER, 100)
    rows = [("sub/r00004", "Sinus rhythm", "train"), ("sub/../sub/r00004", "Sinus rhythm again", "test"),
            ("./sub//r00004.hea", "A third spelling", "test")]
    pd.DataFrame(rows, columns=["record", "report", "split"]).to_csv(root / "reports.csv", index=False)
    summary = build_wfdb_folder(root, root / "reports.csv", tmp_path / "out", settings=BuildSettings())
    assert summary.rows == {"train": 1}
    assert summary.rejected_by_reason == {"duplicate id": 2}
    reasons = sorted(entry["reason"] for entry in _rejects(tmp_path / "out"))
    assert reasons == [
        "sub/r00004 (reports.csv line 3) is listed already on line 2",
        "sub/r00004 (reports.csv line 4) is listed already on line 2",
    ]



def _ptbxl_with_ids(tmp_path, changes: dict[int, dict[str, str]]):
    root = copy_ptbxl_subset(tmp_path / "root", [1, 2, 3, 4, 5, 7], rate=100)
    database = pd.read_csv(root / "ptbxl_database.csv", dtype=str, keep_default_na=False)
    for ecg_id, values in changes.items():
        for column, value in values.items():
            database.loc[database.ecg_id == str(ecg_id), column] = value
    database.to_csv(root / "ptbxl_database.csv", index=False)
    return root


def test_ptbxl_ids_out_of_range_are_rejected_with_their_line(tmp_path):
    root = _ptbxl_with_ids(tmp_path, {
        2: {"ecg_id": "inf"}, 3: {"ecg_id": "3000000000"}, 4: {"ecg_id": "-4"},
        5: {"patient_id": "12345678901234567890"},
    })
    summary = build_ptbxl(root, tmp_path / "out", 100, BuildSettings())
    assert summary.built == 2 and summary.rejected_by_reason == {"malformed row": 4}
    reasons = sorted(entry["reason"] for entry in _rejects(tmp_path / "out"))
    database = str(root / "ptbxl_database.csv")
    assert reasons == sorted([
        f"{database} line 3: ecg_id 'inf' is not an integer from 1 to 2147483647",
        f"{database} line 4: ecg_id '3000000000' is not an integer from 1 to 2147483647",
        f"{database} line 5: ecg_id '-4' is not an integer from 1 to 2147483647",
        f"{database} line 6 (ecg_id 5): patient_id '12345678901234567890' is not an integer from 0 to "
        "9223372036854775807",
    ])
    built = datasets.load_dataset(str(tmp_path / "out"))
    assert sorted(row["ecg_id"] for split in built.values() for row in split) == [1, 7]


def test_ptbxl_line_numbers_count_the_newlines_inside_quoted_reports(tmp_path):
    root = _ptbxl_with_ids(tmp_path, {1: {"report": "sinus rhythm\nsecond line\nthird line"}, 3: {"report": " "}})
    summary = build_ptbxl(root, tmp_path / "out", 100, BuildSettings())
    assert summary.rejected_by_reason == {"empty report": 1}
    (reason,) = [entry["reason"] for entry in _rejects(tmp_path / "out")]
    assert reason == f"{root / 'ptbxl_database.csv'} line 6 (ecg_id 3): empty report"  # rows on lines 2-4, 5, 6


def test_folder_line_numbers_count_the_newlines_inside_quoted_reports(tmp_path):
    root = tmp_path / "root"
    write_wfdb_record(root / "a" / "0001", ptbxl_signal(1, 100), PTBXL_ORDER, 100)
    (root / "reports.csv").write_text('record,report\na/0001,"Sinus rhythm.\n\nNormal ECG."\na/0001,again\n')
    build_wfdb_folder(root, root / "reports.csv", tmp_path / "out")
    (reason,) = [entry["reason"] for entry in _rejects(tmp_path / "out")]
    assert reason == "a/0001 (reports.csv line 5) is listed already on line 2"


def test_mimic_line_numbers_count_the_newlines_inside_quoted_fields(tmp_path):
    (tmp_path / "record_list.csv").write_text(
        'subject_id,study_id,path,ecg_time\n1,11,files/p1/s11/11,"2180-07-23\n15:44:00"\n1,11,files/p1/s11/11,t\n'
    )
    items = list(mimic_tasks(tmp_path, {11: "Sinus rhythm normal ECG"}))
    assert "line 4: study 11 is listed already on line 2" in items[1].reason



@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ('a,b\n1,"x\ny"\n\n   \n2,z\n', [2, 6]),
        ('a,b\r\n1,"say ""hi""\r\nthere",3\r\n2,z\r\n', [2, 4]),
        ('a,b\n1,mid"quote\n2,"closed"after\n3,""\n', [2, 3, 4]),
        ('\n\na,b\n1,"""\n"""\n2,x', [4, 6]),
    ],
    ids=["blank-lines", "escaped-quotes-crlf", "quotes-inside-fields", "leading-blank-lines"],
)
def test_row_lines_follow_the_rows_pandas_reads(tmp_path, text, lines):
    path = tmp_path / "table.csv"
    path.write_bytes(text.encode())
    assert list(row_lines(path)) == lines
    assert len(pd.read_csv(path, dtype=str, keep_default_na=False)) == len(lines)


def test_non_ascii_data_file_names_read_right_in_messages(tmp_path):
    from modeling_supreme.reading_supreme import read_ecg

    record = tmp_path / "données"
    write_wfdb_record(record, ptbxl_signal(1, 100), PTBXL_ORDER, 100)
    # wfdb reads headers as ASCII and would look for "donnes.dat": refused, the name spelled as the header has it.
    with pytest.raises(ValueError, match="header names the file 'données.dat', which is not ASCII") as raised:
        read_ecg(record)
    assert "Ã" not in str(raised.value)
    write_wfdb_record(tmp_path / "plain", ptbxl_signal(2, 100), PTBXL_ORDER, 100)
    summary = build_wfdb_folder(*_listed_folder(tmp_path, ["données", "plain"]), tmp_path / "out", sampling_rate=100)
    assert summary.rows == {"train": 1} and summary.rejected_by_reason == {"unreadable record": 1}
    (reason,) = [entry["reason"] for entry in _rejects(tmp_path / "out")]
    assert "'données.dat', which is not ASCII" in reason


def _listed_folder(root, records: list[str]):
    rows = [(record, "Sinus rhythm") for record in records]
    pd.DataFrame(rows, columns=["record", "report"]).to_csv(root / "reports.csv", index=False)
    return root, root / "reports.csv"
