"""MIMIC-IV-ECG (Gow et al., 2023): ~800k 10 s 12-lead ECGs at 500 Hz with machine-generated reports.

Layout of the PhysioNet release::

    record_list.csv              subject_id, study_id, file_name, ecg_time,
                                 path (files/pNNNN/pNNNNNNNN/sNNNNNNNN/NNNNNNNN)
    machine_measurements.csv     subject_id, study_id, ..., report_0 ... report_17, ...
    files/p1000/p10000032/s40689238/40689238.hea (+ .dat)

Records and reports are joined on `study_id` (never on row order). The report is the non-empty
`report_0..report_17` fragments, each with its whitespace collapsed and separator junk ("---", "***") removed,
joined into sentences ("Sinus rhythm. Normal ECG."). Records whose report has fewer than four words are left
out (the SuPreME / MERL protocol: 771,693 of ~800k kept); they and records without a report are listed in
`rejects.jsonl` and counted in the summary. MIMIC writes the limb leads as I, II, III, aVR, aVF, aVL: the
signals are reordered by lead name to the standard order (aVL before aVF). A `machine_measurements.csv` row for a
study that no record lists is a reject too (category "measurements without a record").

Memory: the report of every study is held in a dict, each distinct report text once (MIMIC's machine reports repeat
heavily); the study ids of `record_list.csv` are held as one int64 array (8 bytes per record) to find duplicates and
measurements without a record; signals are streamed record by record and never held together.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datasets import Value

from .card import DatasetDescription
from .signals import SignalReader, SignalWindow
from .streaming import BuildSettings, BuildSummary, build_dataset
from .tables import DUPLICATE_ID, MALFORMED_ROW, OUTSIDE_ROOT, read_csv_chunks, record_path_under, row_lines
from .tasks import RecordTask, Rejection, SizedStream, StreamItem

logger = logging.getLogger(__name__)

REPORT_COLUMNS = tuple(f"report_{index}" for index in range(18))
MIN_REPORT_WORDS = 4
SAMPLING_RATE = 500
RECORD_SECONDS = 10.0
CSV_CHUNK_ROWS = 100_000
RECORD_LIST_COLUMNS = ("subject_id", "study_id", "path", "ecg_time")
SHORT_REPORT = "report under 4 words"
NO_REPORT = "no machine report"
NO_RECORD = "measurements without a record"
MALFORMED_ID = -1  # a study_id that is not an integer, in the array of listed ids

# Runs of separator characters that machines print around statements ("--- Acute MI ---", "*** ... ***").
_SEPARATOR_RUNS = re.compile(r"(?:-{2,}|\*{2,}|={2,}|_{2,})")

CITATION = """Gow, B., Pollard, T., Nathanson, L. A., Johnson, A., Moody, B., Fernandes, C., Greenbaum, N., Waks, J. W.,
Eslami, P., Carbonati, T., Chaudhari, A., Herbst, E., Moukheiber, D., Berkowitz, S., Mark, R., Horng, S.
MIMIC-IV-ECG: Diagnostic Electrocardiogram Matched Subset (version 1.0). PhysioNet (2023)."""


def clean_fragment(fragment: Any) -> str:
    """One `report_k` cell -> text without separator junk, whitespace collapsed, no trailing punctuation."""
    if fragment is None or pd.isna(fragment):
        return ""
    text = _SEPARATOR_RUNS.sub(" ", str(fragment))
    return " ".join(text.split()).strip(" .;,:")


def clean_report(fragments: Iterable[Any]) -> str:
    """The report of one study: its non-empty fragments as sentences, e.g. "Sinus rhythm. Normal ECG."."""
    sentences = [text for text in (clean_fragment(fragment) for fragment in fragments) if text]
    return ". ".join(sentences) + "." if sentences else ""


def word_count(report: str) -> int:
    """Words of a report (runs of letters or digits; punctuation does not count)."""
    return len(re.findall(r"[A-Za-z0-9]+", report))


def load_reports(machine_measurements: str | Path) -> dict[int, str]:
    """study_id -> cleaned report, read in chunks (only the id and report columns).

    A study listed twice keeps its first report, and a row whose study_id is not an integer is skipped (both
    logged with their count: such rows cannot be matched to a record).

    Raises:
        ValueError: the table cannot be read, or has no study_id or report_k column (names the file).
    """
    reports: dict[int, str] = {}
    texts: dict[str, str] = {}  # each distinct report once: the dict's values share it
    duplicates = malformed = 0
    columns = ["study_id", *REPORT_COLUMNS]
    chunks = read_csv_chunks(
        machine_measurements, CSV_CHUNK_ROWS, ("study_id",), usecols=lambda name: name in columns, dtype=str
    )
    for chunk in chunks:
        present = [column for column in REPORT_COLUMNS if column in chunk.columns]
        if not present:
            raise ValueError(f"{machine_measurements}: no report_0..report_17 columns")
        for study_id, *fragments in chunk[["study_id", *present]].itertuples(index=False):
            key = _study_key(study_id)
            if key is None:
                malformed += 1
            elif key in reports:
                duplicates += 1
            else:
                report = clean_report(fragments)
                reports[key] = texts.setdefault(report, report)
    if duplicates:
        logger.warning(
            "%s: %d studies listed more than once; kept the first report of each", machine_measurements, duplicates
        )
    if malformed:
        logger.warning("%s: %d rows without an integer study_id were skipped", machine_measurements, malformed)
    return reports


def _study_key(value: Any) -> int | None:
    """`"40689238"` -> 40689238; None for anything that is not an integer."""
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def _id_or_malformed(value: Any) -> int:
    key = _study_key(value)
    return MALFORMED_ID if key is None else key


def listed_study_ids(record_list: str | Path) -> np.ndarray:
    """The study_id of every row of `record_list.csv`, in file order: (rows,) int64, `MALFORMED_ID` where the id is
    not an integer. Read in chunks, only that column."""
    chunks = [
        np.array([_id_or_malformed(value) for value in chunk["study_id"]], dtype=np.int64)
        for chunk in read_csv_chunks(record_list, CSV_CHUNK_ROWS, ("study_id",), usecols=["study_id"], dtype=str,
                                     keep_default_na=False)
    ]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)


def first_rows_of_repeated(study_ids: np.ndarray) -> dict[int, int]:
    """study_id -> index of its first row, for the studies listed more than once (the others are not held)."""
    valid = study_ids != MALFORMED_ID
    ids, first, counts = np.unique(study_ids[valid], return_index=True, return_counts=True)
    rows = np.flatnonzero(valid)[first]
    repeated = counts > 1
    return dict(zip(ids[repeated].tolist(), rows[repeated].tolist()))


def measurements_without_record(
    machine_measurements: Path, reports: dict[int, str], study_ids: np.ndarray
) -> list[Rejection]:
    """A rejection per study of `machine_measurements.csv` that no row of `record_list.csv` lists, in the table's
    order: its report can never be matched to a signal."""
    measured = np.fromiter(reports, dtype=np.int64, count=len(reports))
    orphans = measured[~np.isin(measured, study_ids)]
    return [
        Rejection(str(study_id), str(machine_measurements), f"study {study_id}: a row in {machine_measurements.name} "
                  "but no record in record_list.csv", NO_RECORD)
        for study_id in orphans.tolist()
    ]


def mimic_tasks(root: str | Path, reports: dict[int, str], study_ids: np.ndarray | None = None) -> Iterator[StreamItem]:
    """Records of `record_list.csv` in file order, joined with their report on study_id; records without a
    report or with a report under four words, rows with a malformed id, a path outside `root` or a study_id
    listed already come out as `Rejection`s. `study_ids`: `listed_study_ids` of the table, if already read."""
    root = Path(root)
    record_list = root / "record_list.csv"
    repeated = first_rows_of_repeated(listed_study_ids(record_list) if study_ids is None else study_ids)
    first_rows = set(repeated.values())
    first_lines: dict[int, int] = {}  # row index -> line, for the first rows of repeated studies only
    lines = row_lines(record_list)  # read alongside the chunks (a quoted field may span lines): bounded memory
    index, line = 0, 1
    for chunk in read_csv_chunks(record_list, CSV_CHUNK_ROWS, RECORD_LIST_COLUMNS, dtype=str, keep_default_na=False):
        for row in chunk.itertuples(index=False):
            line = next(lines, line + 1)
            if index in first_rows:
                first_lines[index] = line
            yield _record_item(root, row, reports, repeated, index, f"{record_list} line {line}", first_lines)
            index += 1


def _record_item(
    root: Path, row: Any, reports: dict[int, str], repeated: dict[int, int], index: int, where: str,
    first_lines: dict[int, int],
) -> StreamItem:
    """Row `index` (0 = the first after the header) of `record_list.csv`, found at `where`, as a task or its
    rejection; `first_lines` gives the line of the first row of each repeated study seen so far."""
    study_id, subject_id = _study_key(row.study_id), _study_key(row.subject_id)
    if study_id is None or subject_id is None:
        return Rejection(f"({where})", str(row.path), f"{where}: study_id {row.study_id!r} or subject_id "
                         f"{row.subject_id!r} is not an integer", MALFORMED_ROW)
    if repeated.get(study_id, index) != index:
        return Rejection(str(study_id), str(row.path), f"{where}: study {study_id} is listed already on line "
                         f"{first_lines[repeated[study_id]]}", DUPLICATE_ID)
    try:
        path = str(record_path_under(root, row.path))
    except ValueError as error:
        return Rejection(str(study_id), str(row.path), f"{where}: {error}", OUTSIDE_ROOT)
    report = reports.get(study_id)
    if report is None:
        return Rejection(str(study_id), path, f"study {study_id}: no row in machine_measurements.csv", NO_REPORT)
    if word_count(report) < MIN_REPORT_WORDS:
        reason = f"study {study_id}: report {report!r} has {word_count(report)} words (< {MIN_REPORT_WORDS})"
        return Rejection(str(study_id), path, reason, SHORT_REPORT)
    columns = {"report": report, "subject_id": subject_id, "study_id": study_id, "ecg_time": str(row.ecg_time)}
    return RecordTask(str(study_id), path, columns)


def mimic_features() -> dict[str, Any]:
    """Source-specific columns of MIMIC-IV-ECG."""
    return {"subject_id": Value("int64"), "study_id": Value("int64"), "ecg_time": Value("string")}


def mimic_description() -> DatasetDescription:
    body = f"""ECGs of [MIMIC-IV-ECG](https://physionet.org/content/mimic-iv-ecg/) (500 Hz, 10 s, 12 leads in mV, in
standard lead order) with their machine-generated reports.

`report` joins the non-empty `report_0`..`report_17` fragments of `machine_measurements.csv` (matched on
`study_id`) into sentences, whitespace collapsed and separator runs (`---`, `***`) removed. Records whose
report has fewer than {MIN_REPORT_WORDS} words are left out, as in SuPreME and MERL; see `rejects.jsonl`.
A single `train` split: MIMIC-IV-ECG is the pre-training corpus."""
    return DatasetDescription(
        pretty_name="MIMIC-IV-ECG with machine reports", body=body, license="odbl", citation=CITATION
    )


def build_mimic_iv_ecg(root: str | Path, out: str | Path, settings: BuildSettings = BuildSettings()) -> BuildSummary:
    """Build the MIMIC-IV-ECG dataset folder (single `train` split) from the PhysioNet release at `root`."""
    root = Path(root)
    measurements = root / "machine_measurements.csv"
    reports = load_reports(measurements)
    study_ids = listed_study_ids(root / "record_list.csv")
    return build_dataset(
        out,
        {"train": SizedStream(mimic_tasks(root, reports, study_ids), len(study_ids))},
        SignalReader(SAMPLING_RATE, SignalWindow(RECORD_SECONDS)),
        mimic_features(),
        mimic_description(),
        settings,
        signature={"source": "mimic-iv-ecg", "min_report_words": MIN_REPORT_WORDS},
        unassigned=measurements_without_record(measurements, reports, study_ids),
    )
