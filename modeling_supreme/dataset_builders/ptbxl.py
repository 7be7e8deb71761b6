"""PTB-XL (Wagner et al., 2020): 21,799 10 s 12-lead ECGs at 100 and 500 Hz with cardiologists' SCP-ECG codes.

Splits follow the recommended stratified folds: train = `strat_fold` 1-8, validation = 9, test = 10.
Label columns are multi-label `Sequence(ClassLabel)` columns (the present labels' indices; names in `ds.features`;
`dataset_builders.labels.multi_hot_matrix` gives the (N, L) matrix) derived from `scp_statements.csv`, as in the PTB-XL
benchmark (Strodthoff et al., 2021) and the zero-shot tables of MERL / SuPreME: every statement listed in a record's
`scp_codes` counts, whatever its likelihood;

- `super_class`: `diagnostic_class` of the diagnostic statements (NORM, MI, STTC, CD, HYP);
- `sub_class`: `diagnostic_subclass` of the diagnostic statements (23 classes);
- `form`: the form statements themselves (19); `rhythm`: the rhythm statements (12).

Label names drop PTB-XL's leading / trailing underscores (`_AVB` -> `AVB`, `NST_` -> `NST`) as the benchmark
tables do; the order of each column's names is the order of first appearance in `scp_statements.csv`, as returned by
`PtbxlLabelSpace.names`.
"""

from __future__ import annotations

import ast
import dataclasses
import decimal
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datasets import Value

from .card import DatasetDescription
from .labels import label_indices, multi_label_feature
from .signals import SignalReader, SignalWindow
from .streaming import BuildSettings, BuildSummary, build_dataset
from .tables import (
    DUPLICATE_ID,
    EMPTY_REPORT,
    MALFORMED_ROW,
    OUTSIDE_ROOT,
    read_csv_table,
    record_path_under,
    table_lines,
)
from .tasks import RecordTask, Rejection, StreamItem

PTBXL_TASKS = ("super_class", "sub_class", "form", "rhythm")
SPLIT_FOLDS: Mapping[str, tuple[int, ...]] = {"train": (1, 2, 3, 4, 5, 6, 7, 8), "validation": (9,), "test": (10,)}
SAMPLING_RATES = {100: "filename_lr", 500: "filename_hr"}
RECORD_SECONDS = 10.0
DATABASE_FILE = "ptbxl_database.csv"
STATEMENT_COLUMNS = ("diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass")
# The largest ids the dataset's columns hold (`ecg_id` int32, `patient_id` int64).
MAX_ECG_ID = 2**31 - 1
MAX_PATIENT_ID = 2**63 - 1
DATABASE_COLUMNS = ("ecg_id", "patient_id", "strat_fold", "scp_codes", "report", *SAMPLING_RATES.values())

CITATION = """Wagner, P., Strodthoff, N., Bousseljot, R.-D., Kreiseler, D., Lunze, F. I., Samek, W., Schaeffter, T.
PTB-XL, a large publicly available electrocardiography dataset. Scientific Data 7, 154 (2020).
Goldberger, A. et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23), e215-e220 (2000)."""


def _label_name(code: str) -> str:
    return code.strip("_")


@dataclasses.dataclass(frozen=True)
class PtbxlLabelSpace:
    """The four PTB-XL label sets and how SCP codes map onto them.

    Attributes:
        names: task -> label names, in the order of the multi-hot vectors.
        labels_of_code: task -> SCP code -> the labels of that task the code stands for.
    """

    names: Mapping[str, tuple[str, ...]]
    labels_of_code: Mapping[str, Mapping[str, tuple[str, ...]]]

    @classmethod
    def from_scp_statements(cls, path: str | Path) -> PtbxlLabelSpace:
        """Read `scp_statements.csv` (index = SCP code; columns diagnostic, form, rhythm, diagnostic_class,
        diagnostic_subclass)."""
        statements = read_csv_table(path, required=STATEMENT_COLUMNS, index_col=0)
        diagnostic = statements[statements["diagnostic"] == 1]
        form = statements[statements["form"] == 1]
        rhythm = statements[statements["rhythm"] == 1]
        labels_of_code = {
            "super_class": {code: (row.diagnostic_class,) for code, row in diagnostic.iterrows()},
            "sub_class": {code: (_label_name(row.diagnostic_subclass),) for code, row in diagnostic.iterrows()},
            "form": {code: (_label_name(code),) for code in form.index},
            "rhythm": {code: (_label_name(code),) for code in rhythm.index},
        }
        names = {
            task: tuple(dict.fromkeys(label for labels in mapping.values() for label in labels))
            for task, mapping in labels_of_code.items()
        }
        return cls(names=names, labels_of_code=labels_of_code)

    def labels(self, task: str, codes: Iterable[str]) -> list[str]:
        """Label names of `task` stated by `codes` (SCP codes of one record), in vector order."""
        stated = {label for code in codes for label in self.labels_of_code[task].get(code, ())}
        return [name for name in self.names[task] if name in stated]

    def multi_hot(self, task: str, codes: Iterable[str]) -> np.ndarray:
        """(n_labels of task,) float32: 1.0 where a code of the record maps to the label."""
        stated = set(self.labels(task, codes))
        return np.array([name in stated for name in self.names[task]], dtype=np.float32)


def parse_scp_codes(text: str, source: str) -> dict[str, float]:
    """`"{'NORM': 100.0, 'SR': 0.0}"` (the database's Python-literal format) -> {code: likelihood}.

    Raises:
        ValueError: not a Python literal, not a mapping, or a likelihood that is not a number (names `source`).
    """
    try:
        codes = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as error:
        raise ValueError(f"{source}: unreadable scp_codes {text!r}") from error
    if not isinstance(codes, dict):
        raise ValueError(f"{source}: scp_codes {text!r} is not a mapping")
    try:
        return {str(code): float(likelihood) for code, likelihood in codes.items()}
    except (ValueError, TypeError) as error:
        raise ValueError(f"{source}: scp_codes {text!r} has a likelihood that is not a number") from error


def ptbxl_features(label_space: PtbxlLabelSpace) -> dict[str, Any]:
    """Source-specific columns: ids, fold, SCP codes (JSON {code: likelihood}) and the four label vectors."""
    return {
        "ecg_id": Value("int32"),
        "patient_id": Value("int64"),
        "strat_fold": Value("int32"),
        "scp_codes": Value("string"),
        **{task: multi_label_feature(label_space.names[task]) for task in PTBXL_TASKS},
    }


def ptbxl_tasks(
    root: str | Path, sampling_rate: int, label_space: PtbxlLabelSpace
) -> tuple[dict[str, Iterator[StreamItem]], list[Rejection]]:
    """Split -> lazy stream of the rows of `ptbxl_database.csv` in that split, sorted by ecg_id; and the rows that
    belong to no split (a `strat_fold` outside 1-10, or an ecg_id that is not an integer from 1 to `MAX_ECG_ID`), as
    rejections.

    Each row comes out as a `RecordTask`, or as a `Rejection` when it repeats an ecg_id (the first row is built),
    its record path leaves `root`, its report is empty, or a value is malformed (`scp_codes`, ids).

    Raises:
        ValueError: unknown sampling rate, or a database that cannot be read or lacks a column (names the file).
    """
    if sampling_rate not in SAMPLING_RATES:
        raise ValueError(f"PTB-XL has records at {sorted(SAMPLING_RATES)} Hz, not {sampling_rate}")
    root = Path(root)
    csv_path = root / DATABASE_FILE
    database = read_csv_table(csv_path, required=DATABASE_COLUMNS, dtype=str, keep_default_na=False)
    database["line"] = table_lines(csv_path, len(database))
    database["ecg_id_text"] = database["ecg_id"]
    database["ecg_id"] = pd.to_numeric(database["ecg_id"], errors="coerce")
    database["strat_fold"] = pd.to_numeric(database["strat_fold"], errors="coerce")
    database = database.sort_values("ecg_id", kind="stable")
    known_folds = [fold for folds in SPLIT_FOLDS.values() for fold in folds]
    assigned = database["strat_fold"].isin(known_folds) & _valid_ecg_ids(database["ecg_id"])
    unassigned = [_unassigned_rejection(root, row) for row in database[~assigned].itertuples(index=False)]
    database = database[assigned]
    first_line = database.groupby("ecg_id")["line"].transform("min")
    database = database.assign(first_line=first_line.where(first_line != database["line"]))
    splits = {
        split: _split_records(root, database[database["strat_fold"].isin(folds)], sampling_rate, label_space)
        for split, folds in SPLIT_FOLDS.items()
    }
    return splits, unassigned


def _valid_ecg_ids(values: pd.Series) -> pd.Series:
    """Whole numbers from 1 to `MAX_ECG_ID` (the `ecg_id` column is int32); NaN, inf and fractions are not."""
    return values.notna() & (values == values.round()) & (values >= 1) & (values <= MAX_ECG_ID)


def _unassigned_rejection(root: Path, row: Any) -> Rejection:
    where = f"{root / DATABASE_FILE} line {row.line}"
    if not _valid_ecg_ids(pd.Series([row.ecg_id], dtype=float)).iloc[0]:
        return Rejection(f"line {row.line}", str(root / DATABASE_FILE),
                         f"{where}: ecg_id {row.ecg_id_text!r} is not an integer from 1 to {MAX_ECG_ID}",
                         MALFORMED_ROW)
    ecg_id = int(row.ecg_id)
    return Rejection(str(ecg_id), str(root / DATABASE_FILE),
                     f"{where} (ecg_id {ecg_id}): strat_fold {row.strat_fold!r} is not one of 1-10", MALFORMED_ROW)


def _split_records(
    root: Path, rows: pd.DataFrame, sampling_rate: int, label_space: PtbxlLabelSpace
) -> Iterator[StreamItem]:
    for row in rows.itertuples(index=False):
        yield _row_item(root, row, sampling_rate, label_space)


def _row_item(root: Path, row: Any, sampling_rate: int, label_space: PtbxlLabelSpace) -> StreamItem:
    """One database row as a task, or its rejection (duplicate, path outside the root, empty report, malformed)."""
    ecg_id = int(row.ecg_id)
    where = f"{root / DATABASE_FILE} line {row.line} (ecg_id {ecg_id})"
    listed = getattr(row, SAMPLING_RATES[sampling_rate])
    if not pd.isna(row.first_line):
        return Rejection(str(ecg_id), listed, f"{where}: ecg_id {ecg_id} is listed already on line "
                         f"{int(row.first_line)}", DUPLICATE_ID)
    try:
        path = record_path_under(root, listed)
    except ValueError as error:
        return Rejection(str(ecg_id), listed, f"{where}: {error}", OUTSIDE_ROOT)
    report = str(row.report).strip()
    if not report:
        return Rejection(str(ecg_id), str(path), f"{where}: empty report", EMPTY_REPORT)
    try:
        codes = parse_scp_codes(row.scp_codes, where)
        columns = {
            "report": report,
            "ecg_id": ecg_id,
            "patient_id": _integer(row.patient_id, "patient_id", where, 0, MAX_PATIENT_ID),
            "strat_fold": int(row.strat_fold),
            "scp_codes": json.dumps(codes),
            **{task: label_indices(label_space.multi_hot(task, codes)) for task in PTBXL_TASKS},
        }
    except ValueError as error:
        return Rejection(str(ecg_id), str(path), str(error), MALFORMED_ROW)
    return RecordTask(str(ecg_id), str(path), columns)


def _integer(value: str, column: str, where: str, lowest: int, highest: int) -> int:
    """`"15709.0"` -> 15709 (the database writes ids as floats), read exactly (no float rounding of long ids);
    ValueError naming the row for anything else than a whole number from `lowest` to `highest`."""
    try:
        number = decimal.Decimal(value.strip())
    except decimal.InvalidOperation:
        number = decimal.Decimal("NaN")
    if not (number.is_finite() and number == number.to_integral_value() and lowest <= number <= highest):
        raise ValueError(f"{where}: {column} {value!r} is not an integer from {lowest} to {highest}")
    return int(number)


def ptbxl_description(label_space: PtbxlLabelSpace, sampling_rate: int) -> DatasetDescription:
    label_lines = "\n".join(f"- `{task}`: {', '.join(label_space.names[task])}" for task in PTBXL_TASKS)
    body = f"""ECGs of [PTB-XL](https://physionet.org/content/ptb-xl/) at {sampling_rate} Hz, 10 s, 12 leads in mV,
with the free-text `report` and the cardiologists' SCP-ECG statements (`scp_codes`, JSON {{code: likelihood}}).

Splits follow the recommended stratified folds: `train` = `strat_fold` 1-8, `validation` = 9, `test` = 10.

Multi-label columns (`Sequence(ClassLabel)`, label names in `ds.features`), derived from `scp_statements.csv` as in
the PTB-XL benchmark (every statement listed in `scp_codes` counts, whatever its likelihood); label order:

{label_lines}"""
    return DatasetDescription(
        pretty_name=f"PTB-XL ({sampling_rate} Hz)",
        body=body,
        license="cc-by-4.0",
        citation=CITATION,
    )


def build_ptbxl(
    root: str | Path,
    out: str | Path,
    sampling_rate: int = 100,
    settings: BuildSettings = BuildSettings(),
) -> BuildSummary:
    """Build the PTB-XL dataset folder (Parquet shards + card) from a PTB-XL directory.

    Args:
        root: folder with `ptbxl_database.csv`, `scp_statements.csv` and `records100/` / `records500/`.
        out: output folder.
        sampling_rate: 100 or 500 (Hz); `ecg` is (12, 1000) or (12, 5000).
        settings: shard size, processes, overwrite.
    """
    root = Path(root)
    label_space = PtbxlLabelSpace.from_scp_statements(root / "scp_statements.csv")
    splits, unassigned = ptbxl_tasks(root, sampling_rate, label_space)
    return build_dataset(
        out,
        splits,
        SignalReader(sampling_rate, SignalWindow(RECORD_SECONDS)),
        ptbxl_features(label_space),
        ptbxl_description(label_space, sampling_rate),
        settings,
        signature={"source": "ptb-xl"},
        unassigned=unassigned,
    )
