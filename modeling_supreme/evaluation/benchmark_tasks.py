"""The zero-shot ECG benchmark of MERL / SuPreME: six label tables (PTB-XL super-class, sub-class, form, rhythm;
CPSC2018; Chapman-Shaoxing-Ningbo), 106 label columns, each with train / val / test splits.

`TASKS` describes where each table lies in a benchmark-splits folder and which of its columns are labels;
`load_task_table` reads one split into targets (N, L) and record keys. The tables are used as published, with
their known defects (`TaskSpec.notes`), which every report built from them repeats.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")
SOURCES = ("ptbxl", "cpsc2018", "csn")

_PTBXL_METADATA = ("ecg_id", "patient_id", "strat_fold", "filename_lr", "filename_hr")
_PTBXL_NOTE = "PTB-XL strat_fold 10 is the test split (fold 9 validation), as recommended by Wagner et al. (2020)."


def _ptbxl_key(value: object) -> str:
    return str(int(value))


def _cpsc2018_key(value: object) -> str:
    return str(value)


def _csn_key(value: object) -> str:
    # "/chapman/WFDBRecords/44/448/JS44279.mat" -> "JS44279"
    return PurePosixPath(str(value)).stem


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One benchmark task.

    Attributes:
        name: task name (`ptbxl_super`...).
        title: human-readable name for tables and cards.
        source: which dataset holds the signals ("ptbxl", "cpsc2018", "csn").
        tables: split ("train", "val", "test") -> table path relative to a benchmark-splits folder.
        id_column: column identifying a record.
        metadata_columns: the columns that are not labels; every other column of a table is a label.
        record_key: value of `id_column` -> the record's id as built datasets store it (their `id` column).
        crop_seconds: keep only the first seconds of each record (the published protocol), None for all.
        benchmark_test_rows: rows of the published test table, so that reports can tell a full evaluation from
            one on reduced tables or partial data.
        notes: known properties / defects of the tables, repeated in every report.
        relabel: (table rows, label names) -> targets (N, L) replacing the table's label columns (corrected
            variants only; the benchmark's own tasks use the tables as published).
        descriptions_from: the task whose label descriptions this task uses (default its own name).
    """

    name: str
    title: str
    source: str
    tables: Mapping[str, str]
    id_column: str
    metadata_columns: tuple[str, ...]
    record_key: Callable[[object], str]
    crop_seconds: float | None = None
    benchmark_test_rows: int = 0
    notes: tuple[str, ...] = ()
    relabel: Callable[[pd.DataFrame, Sequence[str]], np.ndarray] | None = None
    descriptions_from: str | None = None

    @property
    def descriptions_key(self) -> str:
        """The task name under which the label descriptions of this task are found."""
        return self.descriptions_from or self.name

    def table_path(self, splits_dir: str | Path, split: str) -> Path:
        """Path of the table of `split` ("train", "val" or "test") under a benchmark-splits folder."""
        if split not in self.tables:
            raise ValueError(f"Task {self.name} has no split {split!r}; it has {sorted(self.tables)}.")
        return Path(splits_dir) / self.tables[split]

    def label_columns(self, splits_dir: str | Path, split: str = "test") -> list[str]:
        """Label columns of a split's table, in the table's order (read from its header)."""
        path = self.table_path(splits_dir, split)
        if not path.is_file():
            raise FileNotFoundError(f"Benchmark table of task {self.name}, split {split} not found: {path}")
        header = pd.read_csv(path, nrows=0).columns
        missing = [column for column in (self.id_column,) if column not in header]
        if missing:
            raise ValueError(f"{path}: expected the id column {self.id_column!r}; the header is {list(header)}")
        return [column for column in header if column not in self.metadata_columns]


def _ptbxl_task(name: str, folder: str, title: str, benchmark_test_rows: int) -> TaskSpec:
    return _task(name, title, "ptbxl", f"ptbxl/{folder}/ptbxl_{folder}_{{split}}.csv", "ecg_id",
                 (*_PTBXL_METADATA, folder), _ptbxl_key, benchmark_test_rows, (_PTBXL_NOTE,))


def _task(
    name: str,
    title: str,
    source: str,
    table: str,
    id_column: str,
    metadata_columns: tuple[str, ...],
    record_key: Callable[[object], str],
    benchmark_test_rows: int,
    notes: tuple[str, ...],
    crop_seconds: float | None = None,
) -> TaskSpec:
    """A benchmark task with one table per split: `table` with `{split}` in it, e.g. "icbeb/icbeb_{split}.csv"."""
    tables = {split: table.format(split=split) for split in SPLITS}
    # In TaskSpec's field order.
    return TaskSpec(name, title, source, tables, id_column, metadata_columns, record_key, crop_seconds,
                    benchmark_test_rows, notes)


CSN_TABLE_DEFECTS = (
    "Chapman table defects, reported as-is: the multi-hot columns were built by substring matching on `diagnose`, "
    "so a column is 1 whenever its code occurs inside another code: AF (atrial flutter) on every AFIB row, ST "
    "(sinus tachycardia) on STTC / STE / STDD / STTU rows, AVB on 1AVB / 2AVB / 3AVB rows, 2AVB on 2AVB1 rows, VB "
    "(ventricular bigeminy) on all atrioventricular-block rows, SA (sinus arrhythmia) on LVQRSAL rows and CR "
    "(clockwise rotation) on CCR rows. Task `csn_exact` re-derives the columns by exact code match.",
    "Chapman table defects, reported as-is: sinus bradycardia (SB) has no label column although it is frequent, "
    "and the `age` column holds the lead count (12), not the age.",
)


def exact_code_targets(rows: pd.DataFrame, label_names: Sequence[str]) -> np.ndarray:
    """Chapman targets (N, L) re-derived from the comma-separated codes of `diagnose` by exact match."""
    codes = rows["diagnose"].fillna("").map(lambda text: {code.strip() for code in str(text).split(",")})
    return np.array([[name in record_codes for name in label_names] for record_codes in codes], dtype=np.int8)


TASKS: dict[str, TaskSpec] = {
    "ptbxl_super": _ptbxl_task("ptbxl_super", "super_class", "PTB-XL super-class", 2158),
    "ptbxl_sub": _ptbxl_task("ptbxl_sub", "sub_class", "PTB-XL sub-class", 2158),
    "ptbxl_form": _ptbxl_task("ptbxl_form", "form", "PTB-XL form", 880),
    "ptbxl_rhythm": _ptbxl_task("ptbxl_rhythm", "rhythm", "PTB-XL rhythm", 2098),
    "cpsc2018": _task(
        "cpsc2018",
        "CPSC2018",
        "cpsc2018",
        "icbeb/icbeb_{split}.csv",
        "filename",
        ("patient_id", "ecg_id", "filename", "validation", "age", "sex", "scp_codes"),
        _cpsc2018_key,
        1376,
        notes=(
            "CPSC2018 records are cut to their first 2.5 s and zero-padded (published MERL protocol); "
            "scores are therefore not comparable with full-length CPSC2018 results.",
        ),
        crop_seconds=2.5,
    ),
    "csn": _task(
        "csn", "Chapman-Shaoxing-Ningbo", "csn", "chapman/chapman_{split}.csv", "ecg_path",
        ("ecg_path", "age", "diagnose"), _csn_key, 4620, notes=CSN_TABLE_DEFECTS,
    ),
}

ALL_TASKS: tuple[str, ...] = tuple(TASKS)

# Clearly named corrected variants; never part of the benchmark's mean unless asked for by name.
VARIANT_TASKS: dict[str, TaskSpec] = {
    "csn_exact": dataclasses.replace(
        TASKS["csn"],
        name="csn_exact",
        title="Chapman-Shaoxing-Ningbo, exact-match labels (corrected variant, not the published benchmark)",
        relabel=exact_code_targets,
        descriptions_from="csn",
        notes=(
            "Corrected variant of the Chapman task: label columns re-derived from `diagnose` by exact code match "
            "(the published tables match substrings); not comparable with published CSN numbers.",
            CSN_TABLE_DEFECTS[1],
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class TaskTable:
    """One split of a task's table.

    Attributes:
        spec: the task.
        split: "train", "val" or "test".
        path: the table file.
        label_names: label columns (L,), in the table's order.
        targets: (N, L) int8 multi-hot targets, rows in table order.
        keys: (N,) record ids (`spec.record_key` of the id column), as built datasets store them.
        rows: the table itself (N rows), for source-specific columns such as file names.
    """

    spec: TaskSpec
    split: str
    path: Path
    label_names: list[str]
    targets: np.ndarray
    keys: list[str]
    rows: pd.DataFrame


def load_task_table(
    task: str | TaskSpec, splits_dir: str | Path, split: str = "test", label_names: Sequence[str] | None = None
) -> TaskTable:
    """Read one split of a benchmark task.

    Args:
        task: a name of `TASKS` / `VARIANT_TASKS` or a `TaskSpec`.
        splits_dir: the benchmark-splits folder.
        split: "train", "val" or "test".
        label_names: put the label columns in this order (tables of one task list them in different orders,
            e.g. PTB-XL sub-class train vs test); default: the table's order.

    Raises:
        FileNotFoundError: the table is missing. ValueError: unknown task, duplicate record ids, missing label
            columns or targets that are not 0/1 (each naming the table).
    """
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    path = spec.table_path(splits_dir, split)
    own_labels = spec.label_columns(splits_dir, split)
    names = list(label_names) if label_names is not None else own_labels
    missing = sorted(set(names) - set(own_labels))
    if missing:
        raise ValueError(f"{path}: label columns {missing} are missing (it has {own_labels})")
    rows = pd.read_csv(path)
    values = spec.relabel(rows, names) if spec.relabel is not None else rows[names].to_numpy()
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{path}: label columns must hold 0/1 only")
    keys = [spec.record_key(value) for value in rows[spec.id_column]]
    duplicates = sorted(set(pd.Series(keys)[pd.Series(keys).duplicated()]))
    if duplicates:
        raise ValueError(f"{path}: record ids occur more than once: {duplicates[:10]}")
    return TaskTable(spec, split, path, names, values.astype(np.int8), keys, rows)


def get_task(name: str) -> TaskSpec:
    """The `TaskSpec` called `name`; ValueError naming the known tasks otherwise."""
    known = {**TASKS, **VARIANT_TASKS}
    if name not in known:
        raise ValueError(f"Unknown benchmark task {name!r}; the tasks are {list(known)}.")
    return known[name]


__all__ = [
    "ALL_TASKS",
    "SOURCES",
    "SPLITS",
    "TASKS",
    "VARIANT_TASKS",
    "TaskSpec",
    "TaskTable",
    "exact_code_targets",
    "get_task",
    "load_task_table",
]
