"""CPSC2018 and Chapman-Shaoxing-Ningbo (CSN) in the PhysioNet/CinC layout: `.hea` + `.mat` records whose header
carries the diagnoses as SNOMED CT codes (`#Dx: 164889003,59118001`), plus `#Age:` and `#Sex:`.

Labels: a multi-label `Sequence(ClassLabel)` column `labels` (names in `ds.features`) over the label columns of the
zero-shot benchmark tables (`icbeb` for CPSC2018: 9 columns; `chapman` for CSN: 38 columns), set by exact SNOMED CT
code match (`snomed_labels.yaml`), never by substring of acronyms. `report` lists the names of the record's codes.

Splits: with `splits_dir` (the benchmark's `benchmark-splits` folder, or its `icbeb/` / `chapman/` folder),
train / validation / test hold exactly the records of the `*_train.csv` / `*_val.csv` / `*_test.csv` tables
(CPSC2018 rows are named by `filename`, CSN rows by `ecg_path`), in table order; records of the source that no
table lists, and listed records missing from the source, are written to `rejects.jsonl`. Without it, every
record goes to a single `train` split.

Length: CSN records are 10 s. CPSC2018 records last 6-144 s: by default the first 10 s are kept and shorter
records zero-padded (`num_samples` tells the recorded length). `MERL_CPSC_WINDOW` is MERL's protocol for the
zero-shot benchmark: the first 2.5 s, zero-padded to 5 s.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from datasets import List, Value

from ..reading_supreme import read_header_comments
from .card import DatasetDescription
from .labels import label_indices, multi_label_feature
from .signals import SignalReader, SignalWindow
from .streaming import BuildSettings, BuildSummary, build_dataset
from .tables import read_csv_table
from .tasks import RecordTask, Rejection, StreamItem

CincDataset = Literal["cpsc2018", "csn"]
SAMPLING_RATE = 500
SPLIT_TABLE_NAMES = {"train": "train", "validation": "val", "test": "test"}
DEFAULT_WINDOWS: Mapping[str, SignalWindow] = {
    "cpsc2018": SignalWindow(seconds=10.0, min_seconds=5.0),
    "csn": SignalWindow(seconds=10.0),
}
MERL_CPSC_WINDOW = SignalWindow(seconds=5.0, crop_seconds=2.5)


@dataclasses.dataclass(frozen=True)
class BenchmarkTable:
    """How a benchmark table names its records: folder and file prefix, id column, id -> record name."""

    folder: str
    id_column: str

    def record_name(self, value: str) -> str:
        # CSN rows carry a path (/chapman/WFDBRecords/18/186/JS18048.mat), CPSC rows a name (A6729).
        return Path(str(value)).stem


BENCHMARK_TABLES: Mapping[str, BenchmarkTable] = {
    "cpsc2018": BenchmarkTable(folder="icbeb", id_column="filename"),
    "csn": BenchmarkTable(folder="chapman", id_column="ecg_path"),
}

DESCRIPTIONS: Mapping[str, dict[str, str]] = {
    "cpsc2018": {
        "pretty_name": "CPSC2018 (PhysioNet/CinC 2020 release)",
        "source": "[CPSC 2018](http://2018.icbeb.org/Challenge.html) from the PhysioNet/CinC Challenge 2020",
        "citation": "Liu, F. et al. An open access database for evaluating the algorithms of electrocardiogram "
        "rhythm and morphology abnormality detection. J. Med. Imaging Health Inform. 8(7), 1368-1373 (2018).\n"
        "Perez Alday, E. A. et al. Classification of 12-lead ECGs: the PhysioNet/Computing in Cardiology Challenge "
        "2020. Physiol. Meas. 41(12), 124003 (2020).",
    },
    "csn": {
        "pretty_name": "Chapman-Shaoxing-Ningbo 12-lead ECG database",
        "source": "the [Chapman-Shaoxing-Ningbo database](https://physionet.org/content/ecg-arrhythmia/)",
        "citation": "Zheng, J. et al. A 12-lead electrocardiogram database for arrhythmia research covering more than "
        "10,000 patients. Scientific Data 7, 48 (2020).\nZheng, J. et al. Optimal multi-stage arrhythmia "
        "classification approach. Scientific Reports 10, 2898 (2020).",
    },
}


@dataclasses.dataclass(frozen=True)
class LabelColumns:
    """The benchmark's label columns of one dataset and the SNOMED CT codes that set each of them.

    Attributes:
        names: label columns, in the order of the `labels` vector.
        codes: column -> the codes that set it (exact match).
        code_names: code -> readable name (used to write `report`).
    """

    names: tuple[str, ...]
    codes: Mapping[str, frozenset[str]]
    code_names: Mapping[str, str]

    def multi_hot(self, record_codes: Iterable[str]) -> np.ndarray:
        """(n_columns,) float32: 1.0 for each column one of whose codes is among `record_codes`."""
        present = set(record_codes)
        return np.array([bool(self.codes[name] & present) for name in self.names], dtype=np.float32)

    def describe(self, record_codes: Iterable[str]) -> str:
        """The report text of a record: the names of its codes, "; "-separated, unknown codes kept as numbers."""
        names = [self.code_names.get(code, f"SNOMED CT {code}") for code in dict.fromkeys(record_codes)]
        return "; ".join(names)


@functools.cache
def _snomed_tables() -> dict[str, Any]:
    text = importlib.resources.files(__package__).joinpath("snomed_labels.yaml").read_text()
    return yaml.safe_load(text)


def load_label_columns(dataset: CincDataset) -> LabelColumns:
    """The label columns of `dataset` ("cpsc2018" or "csn") from `snomed_labels.yaml`."""
    table = _snomed_tables()[dataset]
    if dataset == "cpsc2018":
        names = tuple(entry["column"] for entry in table["columns"])
        codes = {entry["column"]: frozenset(str(code) for code in entry["codes"]) for entry in table["columns"]}
        code_names = {str(code): entry["name"] for entry in table["columns"] for code in entry["codes"]}
        return LabelColumns(names, codes, code_names)
    conditions = table["conditions"]
    code_of = {entry["acronym"]: str(entry["code"]) for entry in conditions}
    missing = [name for name in table["columns"] if name not in code_of]
    if missing:
        raise ValueError(f"snomed_labels.yaml: CSN columns without a condition: {missing}")
    code_names: dict[str, str] = {}
    for entry in conditions:  # the first acronym of a code names it, as in the benchmark tables
        code_names.setdefault(str(entry["code"]), entry["name"])
    names = tuple(table["columns"])
    return LabelColumns(names, {name: frozenset({code_of[name]}) for name in names}, code_names)


def csn_acronyms() -> dict[str, str]:
    """CSN acronym -> SNOMED CT code, as in the database's ConditionNames_SNOMED-CT.csv."""
    return {entry["acronym"]: str(entry["code"]) for entry in _snomed_tables()["csn"]["conditions"]}


# ----------------------------------------------------------------------------------------------------------
# Headers and record index
# ----------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CincHeader:
    """What a PhysioNet/CinC header states besides the signal layout."""

    codes: tuple[str, ...]
    age: float
    sex: str


def cinc_header(comments: Mapping[str, str], where: str) -> CincHeader:
    """The diagnosis codes, age and sex of a header's comment fields (`read_header_comments`: `#Dx:`, `#Age:`,
    `#Sex:`); an age that is not a number is NaN, a missing sex "Unknown".

    Raises:
        ValueError: no `#Dx:` line or no code in it (the message names `where`, the header).
    """
    codes = tuple(code.strip() for code in comments.get("dx", "").split(",") if code.strip())
    if not codes:
        raise ValueError(f"{where}: no SNOMED CT code on a '#Dx:' line")
    try:
        age = float(comments.get("age", "nan"))
    except ValueError:
        age = float("nan")
    return CincHeader(codes=codes, age=age, sex=comments.get("sex", "Unknown") or "Unknown")


def index_records(root: str | Path) -> dict[str, Path]:
    """Record name -> record path (without extension) of every `.hea` under `root`, sorted by name.

    Raises:
        ValueError: two records have the same name.
    """
    index: dict[str, Path] = {}
    for header in sorted(Path(root).rglob("*.hea")):
        name = header.stem
        if name in index:
            raise ValueError(f"two records named {name} under {root}: {index[name]} and {header.with_suffix('')}")
        index[name] = header.with_suffix("")
    return dict(sorted(index.items()))


def read_split_tables(splits_dir: str | Path, dataset: CincDataset) -> dict[str, list[str]]:
    """Split -> record names, in table order, from the benchmark tables of `dataset`.

    `splits_dir` is the `benchmark-splits` folder or its `icbeb/` / `chapman/` subfolder.

    Raises:
        FileNotFoundError: a table is missing. ValueError: a record is listed in two splits.
    """
    table = BENCHMARK_TABLES[dataset]
    folder = Path(splits_dir)
    if (folder / table.folder).is_dir():
        folder = folder / table.folder
    splits: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for split, suffix in SPLIT_TABLE_NAMES.items():
        path = folder / f"{table.folder}_{suffix}.csv"
        if not path.is_file():
            raise FileNotFoundError(
                f"benchmark table {path} does not exist (expected {table.folder}_{{train,val,test}}.csv)"
            )
        names = [
            table.record_name(value)
            for value in read_csv_table(path, required=(table.id_column,), dtype=str)[table.id_column]
        ]
        for name in names:
            if name in seen:
                raise ValueError(f"record {name} is listed in both the {seen[name]} and the {split} table ({folder})")
            seen[name] = split
        splits[split] = names
    return splits


# ----------------------------------------------------------------------------------------------------------
# Tasks and build
# ----------------------------------------------------------------------------------------------------------


def _record_item(name: str, path: Path, label_columns: LabelColumns) -> StreamItem:
    header_path = path.with_name(path.name + ".hea")
    try:
        comments = read_header_comments(path)
    except (OSError, ValueError) as error:  # missing, not a regular file, too large to be a header
        return Rejection(name, str(path), f"{header_path}: unreadable header ({error})", "unreadable record")
    try:
        header = cinc_header(comments, str(header_path))
    except ValueError as error:
        return Rejection(name, str(path), str(error), "no diagnosis codes")
    columns = {
        "report": label_columns.describe(header.codes),
        "snomed_codes": list(header.codes),
        "age": header.age,
        "sex": header.sex,
        "labels": label_indices(label_columns.multi_hot(header.codes)),
    }
    return RecordTask(name, str(path), columns)


def _listed_records(
    names: list[str], index: Mapping[str, Path], label_columns: LabelColumns, table: str, root: Path
) -> Iterator[StreamItem]:
    for name in names:
        if name in index:
            yield _record_item(name, index[name], label_columns)
        else:
            yield Rejection(
                name,
                "",
                f"{name} is listed in {table} but there is no record {name}.hea under {root}",
                "listed record missing",
            )


def cinc_tasks(
    root: str | Path, dataset: CincDataset, splits_dir: str | Path | None
) -> tuple[dict[str, Iterator[StreamItem]], list[Rejection]]:
    """Streams per split and the records that belong to no split (see the module docstring)."""
    root = Path(root)
    label_columns = load_label_columns(dataset)
    index = index_records(root)
    if splits_dir is None:
        return {"train": (_record_item(name, path, label_columns) for name, path in index.items())}, []
    tables = read_split_tables(splits_dir, dataset)
    table_folder = BENCHMARK_TABLES[dataset].folder
    streams = {
        split: _listed_records(names, index, label_columns, f"{table_folder}_{SPLIT_TABLE_NAMES[split]}.csv", root)
        for split, names in tables.items()
    }
    listed = {name for names in tables.values() for name in names}
    unassigned = [
        Rejection(name, str(path), f"{name} is in none of the {table_folder} split tables", "not in split tables")
        for name, path in index.items()
        if name not in listed
    ]
    return streams, unassigned


def cinc_features(label_columns: LabelColumns) -> dict[str, Any]:
    """Source-specific columns: header codes, age, sex and the benchmark's labels (Sequence(ClassLabel))."""
    return {
        "snomed_codes": List(Value("string")),
        "age": Value("float32"),
        "sex": Value("string"),
        "labels": multi_label_feature(label_columns.names),
    }


def cinc_description(
    dataset: CincDataset, label_columns: LabelColumns, window: SignalWindow, with_splits: bool
) -> DatasetDescription:
    info = DESCRIPTIONS[dataset]
    table = BENCHMARK_TABLES[dataset].folder
    splits = (
        f"`train` / `validation` / `test` hold exactly the records of the benchmark tables `{table}_train.csv` / "
        f"`{table}_val.csv` / `{table}_test.csv`."
        if with_splits
        else "A single `train` split with every record."
    )
    crop = window.crop_seconds if window.crop_seconds is not None else window.seconds
    body = f"""ECGs of {info["source"]} (500 Hz, 12 leads in mV, standard lead order).
Each row keeps the first {crop:g} s of its record, zero-padded to {window.seconds:g} s (`num_samples` = recorded
samples kept). `snomed_codes` are the `#Dx:` codes of the header; `report` lists their names.

`labels` lists the record's label columns (`Sequence(ClassLabel)`: names in `ds.features["labels"]`) among, in order:
{", ".join(label_columns.names)}. A column is 1 exactly when one of its SNOMED CT codes (card key `label_codes`)
is among the record's codes; there is no substring matching of acronyms (the published Chapman tables set AF on
every AFIB row, this dataset does not).

{splits}"""
    return DatasetDescription(
        pretty_name=info["pretty_name"],
        body=body,
        license="cc-by-4.0",
        citation=info["citation"],
        extra_metadata={
            "label_codes": {name: sorted(label_columns.codes[name]) for name in label_columns.names},
        },
    )


def build_cinc(
    dataset: CincDataset,
    root: str | Path,
    out: str | Path,
    splits_dir: str | Path | None = None,
    window: SignalWindow | None = None,
    settings: BuildSettings = BuildSettings(),
) -> BuildSummary:
    """Build a CPSC2018 or CSN dataset folder.

    Args:
        dataset: "cpsc2018" or "csn".
        root: folder holding the records (searched recursively for `.hea` files).
        out: output folder.
        splits_dir: benchmark tables to reproduce the train/validation/test membership of; None = one split.
        window: stored part of each record (default `DEFAULT_WINDOWS[dataset]`; `MERL_CPSC_WINDOW` for MERL's
            CPSC2018 protocol).
        settings: shard size, processes, overwrite.
    """
    window = window or DEFAULT_WINDOWS[dataset]
    label_columns = load_label_columns(dataset)
    streams, unassigned = cinc_tasks(root, dataset, splits_dir)
    return build_dataset(
        out,
        streams,
        SignalReader(SAMPLING_RATE, window),
        cinc_features(label_columns),
        cinc_description(dataset, label_columns, window, splits_dir is not None),
        settings,
        signature={"source": dataset, "benchmark_splits": splits_dir is not None},
        unassigned=unassigned,
    )
