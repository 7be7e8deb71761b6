"""PTB-XL (Wagner et al., 2020): 21,799 10 s 12-lead ECGs at 100 and 500 Hz with cardiologists' SCP-ECG codes.

Splits follow the recommended stratified folds: train = `strat_fold` 1-8, validation = 9, test = 10 (another
assignment can be given, e.g. train = 1-7, validation = 8, test = 9-10 to choose a recipe without reading 9-10).
Several PTB-XL folders (roots) build one dataset, each ecg_id once: a record listed in two roots is built from the
first root that lists it; the later listing is rejected (recorded), as a duplicate when its signal file is the same,
as a conflict naming both roots when it differs. A record whose report is empty is kept, with an empty `report`
(entity extraction gives it no entities; training skips it; evaluation keeps it).
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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datasets import Value

from .card import DatasetDescription
from .labels import label_indices, multi_label_feature
from .signals import SignalReader, SignalWindow
from .streaming import BuildSettings, BuildSummary, build_dataset
from .tables import DUPLICATE_ID, MALFORMED_ROW, OUTSIDE_ROOT, read_csv_table, record_path_under, table_lines
from .tasks import RecordTask, Rejection, StreamItem

PTBXL_TASKS = ("super_class", "sub_class", "form", "rhythm")
SPLIT_FOLDS: Mapping[str, tuple[int, ...]] = {"train": (1, 2, 3, 4, 5, 6, 7, 8), "validation": (9,), "test": (10,)}
SAMPLING_RATES = {100: "filename_lr", 500: "filename_hr"}
RECORD_SECONDS = 10.0
DATABASE_FILE = "ptbxl_database.csv"
STATEMENTS_FILE = "scp_statements.csv"
# A later root listing an ecg_id an earlier root built, with another signal: which one is right cannot be told.
CONFLICTING_DUPLICATE = "conflicting duplicate"
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


def check_ptbxl_root(root: str | Path) -> Path:
    """`root` as a Path when it is a PTB-XL folder (holds `ptbxl_database.csv` and `scp_statements.csv`).

    Raises:
        ValueError: not a folder, or a folder without those tables (names the root and what is missing).
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a PTB-XL folder: no such directory")
    missing = [name for name in (DATABASE_FILE, STATEMENTS_FILE) if not (root / name).is_file()]
    if missing:
        raise ValueError(f"{root} is not a PTB-XL folder: it has no {' and no '.join(missing)}")
    return root


def parse_split_folds(text: str) -> dict[str, tuple[int, ...]]:
    """`"train=1-7,validation=8,test=9-10"` -> {"train": (1, ..., 7), "validation": (8,), "test": (9, 10)}.

    Raises:
        ValueError: a malformed part, a fold outside 1-10, or a fold given to two splits.
    """
    splits: dict[str, tuple[int, ...]] = {}
    for part in text.split(","):
        name, _, folds = part.partition("=")
        numbers: list[int] = []
        try:
            for piece in folds.split("+"):
                first, _, last = piece.partition("-")
                numbers.extend(range(int(first), int(last or first) + 1))
        except ValueError as error:
            raise ValueError(f"split folds {text!r}: {part!r} is not NAME=FOLDS (e.g. train=1-7)") from error
        if not name.strip() or not numbers or not all(1 <= fold <= 10 for fold in numbers):
            raise ValueError(f"split folds {text!r}: {part!r} needs a name and folds within 1-10")
        splits[name.strip()] = tuple(numbers)
    given = [fold for folds in splits.values() for fold in folds]
    if len(given) != len(set(given)):
        raise ValueError(f"split folds {text!r}: a fold is given to more than one split")
    return splits


def ptbxl_tasks(
    roots: str | Path | Sequence[str | Path],
    sampling_rate: int,
    label_space: PtbxlLabelSpace,
    split_folds: Mapping[str, Sequence[int]] = SPLIT_FOLDS,
) -> tuple[dict[str, Iterator[StreamItem]], list[Rejection]]:
    """Split -> lazy stream of the rows of the roots' `ptbxl_database.csv` in that split, sorted by ecg_id; and the
    rows that belong to no split (a `strat_fold` in no split, or an ecg_id that is not an integer from 1 to
    `MAX_ECG_ID`), as rejections.

    Each row comes out as a `RecordTask`, or as a `Rejection` when it repeats an ecg_id (the first root's first row
    is built; a later root's row with a different signal file is a `CONFLICTING_DUPLICATE`), its record path leaves
    its root, or a value is malformed (`scp_codes`, ids). An empty report is kept as "".

    Raises:
        ValueError: unknown sampling rate, a root that is not a PTB-XL folder, or a database that cannot be read or
            lacks a column (names the file).
    """
    if sampling_rate not in SAMPLING_RATES:
        raise ValueError(f"PTB-XL has records at {sorted(SAMPLING_RATES)} Hz, not {sampling_rate}")
    roots = [check_ptbxl_root(root) for root in ([roots] if isinstance(roots, (str, Path)) else roots)]
    database = pd.concat([_read_database(root, order) for order, root in enumerate(roots)], ignore_index=True)
    database = database.sort_values(["ecg_id", "root_order", "line"], kind="stable")
    known_folds = [fold for folds in split_folds.values() for fold in folds]
    assigned = database["strat_fold"].isin(known_folds) & _valid_ecg_ids(database["ecg_id"])
    unassigned = [
        _unassigned_rejection(roots[row.root_order], row) for row in database[~assigned].itertuples(index=False)
    ]
    database = _mark_repeats(database[assigned])
    splits = {
        split: _split_records(roots, database[database["strat_fold"].isin(folds)], sampling_rate, label_space)
        for split, folds in split_folds.items()
    }
    return splits, unassigned


def _read_database(root: Path, order: int) -> pd.DataFrame:
    csv_path = root / DATABASE_FILE
    database = read_csv_table(csv_path, required=DATABASE_COLUMNS, dtype=str, keep_default_na=False)
    database["line"] = table_lines(csv_path, len(database))
    database["root_order"] = order
    database["ecg_id_text"] = database["ecg_id"]
    database["ecg_id"] = pd.to_numeric(database["ecg_id"], errors="coerce")
    database["strat_fold"] = pd.to_numeric(database["strat_fold"], errors="coerce")
    return database


def _mark_repeats(database: pd.DataFrame) -> pd.DataFrame:
    """Each row with where its ecg_id was listed first (sorted by ecg_id, root, line): `first_line` (a repeat in
    the same root) or `first_root` (a repeat of an earlier root, with that listing's `first_listed` path)."""
    first = database.groupby("ecg_id").head(1).set_index("ecg_id")
    first_root = database["ecg_id"].map(first["root_order"])
    first_line = database["ecg_id"].map(first["line"])
    is_first = (first_root == database["root_order"]) & (first_line == database["line"])
    same_root = first_root == database["root_order"]
    return database.assign(
        first_line=first_line.where(~is_first & same_root),
        first_root=first_root.where(~same_root),
        first_listed=database["ecg_id"].map(first[SAMPLING_RATES[100]]),
        first_listed_hr=database["ecg_id"].map(first[SAMPLING_RATES[500]]),
    )


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
                     f"{where} (ecg_id {ecg_id}): strat_fold {row.strat_fold!r} is in no split", MALFORMED_ROW)


def _split_records(
    roots: Sequence[Path], rows: pd.DataFrame, sampling_rate: int, label_space: PtbxlLabelSpace
) -> Iterator[StreamItem]:
    for row in rows.itertuples(index=False):
        yield _row_item(roots, row, sampling_rate, label_space)


def _signal_file(root: Path, listed: str) -> bytes | None:
    """The bytes of a record's WFDB signal file (`.dat`), None when it cannot be read."""
    try:
        return Path(f"{record_path_under(root, listed)}.dat").read_bytes()
    except (OSError, ValueError):
        return None


def _repeat_rejection(roots: Sequence[Path], row: Any, listed: str, sampling_rate: int, where: str) -> Rejection:
    """The rejection of a row whose ecg_id an earlier root lists: a duplicate when both signal files hold the same
    bytes, a conflict (naming both roots) when they differ or one cannot be read."""
    ecg_id = int(row.ecg_id)
    first_root = roots[int(row.first_root)]
    first_listed = row.first_listed if sampling_rate == 100 else row.first_listed_hr
    ours, theirs = _signal_file(roots[row.root_order], listed), _signal_file(first_root, first_listed)
    if ours is not None and ours == theirs:
        return Rejection(str(ecg_id), listed, f"{where}: ecg_id {ecg_id} is built from {first_root} already (the "
                         "same signal)", DUPLICATE_ID)
    return Rejection(str(ecg_id), listed, f"{where}: ecg_id {ecg_id} is listed in {first_root} (built from there) "
                     f"and in {roots[row.root_order]} with a different or unreadable signal file",
                     CONFLICTING_DUPLICATE)


def _row_item(roots: Sequence[Path], row: Any, sampling_rate: int, label_space: PtbxlLabelSpace) -> StreamItem:
    """One database row as a task, or its rejection (duplicate, conflict, path outside the root, malformed)."""
    root = roots[row.root_order]
    ecg_id = int(row.ecg_id)
    where = f"{root / DATABASE_FILE} line {row.line} (ecg_id {ecg_id})"
    listed = getattr(row, SAMPLING_RATES[sampling_rate])
    if not pd.isna(row.first_line):
        return Rejection(str(ecg_id), listed, f"{where}: ecg_id {ecg_id} is listed already on line "
                         f"{int(row.first_line)}", DUPLICATE_ID)
    if not pd.isna(row.first_root):
        return _repeat_rejection(roots, row, listed, sampling_rate, where)
    try:
        path = record_path_under(root, listed)
    except ValueError as error:
        return Rejection(str(ecg_id), listed, f"{where}: {error}", OUTSIDE_ROOT)
    try:
        codes = parse_scp_codes(row.scp_codes, where)
        columns = {
            "report": str(row.report).strip(),
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
    root: str | Path | Sequence[str | Path],
    out: str | Path,
    sampling_rate: int = 100,
    settings: BuildSettings = BuildSettings(),
    split_folds: Mapping[str, Sequence[int]] = SPLIT_FOLDS,
) -> BuildSummary:
    """Build the PTB-XL dataset folder (Parquet shards + card) from one PTB-XL directory or several.

    Args:
        root: folder (or folders) with `ptbxl_database.csv`, `scp_statements.csv` and `records100/` /
            `records500/`; each ecg_id is built once, from the first root that lists it.
        out: output folder.
        sampling_rate: 100 or 500 (Hz); `ecg` is (12, 1000) or (12, 5000).
        settings: shard size, processes, overwrite.
        split_folds: split name -> the `strat_fold`s it holds (default train 1-8, validation 9, test 10).

    Raises:
        ValueError: a root that is not a PTB-XL folder, or roots whose `scp_statements.csv` define different labels.
    """
    roots = [check_ptbxl_root(path) for path in ([root] if isinstance(root, (str, Path)) else root)]
    if not roots:
        raise ValueError("build_ptbxl needs at least one PTB-XL root")
    label_space = _shared_label_space(roots)
    splits, unassigned = ptbxl_tasks(roots, sampling_rate, label_space, split_folds)
    return build_dataset(
        out,
        splits,
        SignalReader(sampling_rate, SignalWindow(RECORD_SECONDS)),
        ptbxl_features(label_space),
        ptbxl_description(label_space, sampling_rate),
        settings,
        signature={"source": "ptb-xl", "roots": [str(path.resolve()) for path in roots],
                   "split_folds": {name: list(folds) for name, folds in split_folds.items()}},
        unassigned=unassigned,
    )


def _shared_label_space(roots: Sequence[Path]) -> PtbxlLabelSpace:
    """The label space of the first root's `scp_statements.csv`; ValueError when another root's differs."""
    spaces = [PtbxlLabelSpace.from_scp_statements(path / STATEMENTS_FILE) for path in roots]
    for path, space in zip(roots[1:], spaces[1:]):
        if space != spaces[0]:
            raise ValueError(f"{path / STATEMENTS_FILE} defines other labels than {roots[0] / STATEMENTS_FILE}: "
                             "build these roots apart")
    return spaces[0]
