"""PTB-XL (Wagner et al., 2020): 21,799 10 s 12-lead ECGs at 100 and 500 Hz with cardiologists' SCP-ECG codes.

Splits follow the recommended stratified folds: train = `strat_fold` 1-8, validation = 9, test = 10.
Label columns are multi-label `Sequence(ClassLabel)` columns (the present labels' indices; names in `ds.features`;
`dataset_builders.labels.multi_hot_matrix` gives the (N, L) matrix) derived from `scp_statements.csv`, as in the PTB-XL benchmark
(Strodthoff et al., 2021) and the zero-shot tables of MERL / SuPreME: every statement listed in a record's
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
from .tasks import RecordTask

PTBXL_TASKS = ("super_class", "sub_class", "form", "rhythm")
SPLIT_FOLDS: Mapping[str, tuple[int, ...]] = {"train": (1, 2, 3, 4, 5, 6, 7, 8), "validation": (9,), "test": (10,)}
SAMPLING_RATES = {100: "filename_lr", 500: "filename_hr"}
RECORD_SECONDS = 10.0

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
        statements = pd.read_csv(path, index_col=0)
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
    """`"{'NORM': 100.0, 'SR': 0.0}"` (the database's Python-literal format) -> {code: likelihood}."""
    try:
        codes = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"{source}: unreadable scp_codes {text!r}") from error
    if not isinstance(codes, dict):
        raise ValueError(f"{source}: scp_codes {text!r} is not a mapping")
    return {str(code): float(likelihood) for code, likelihood in codes.items()}


def ptbxl_features(label_space: PtbxlLabelSpace) -> dict[str, Any]:
    """Source-specific columns: ids, fold, SCP codes (JSON {code: likelihood}) and the four label vectors."""
    return {
        "ecg_id": Value("int32"),
        "patient_id": Value("int64"),
        "strat_fold": Value("int32"),
        "scp_codes": Value("string"),
        **{task: multi_label_feature(label_space.names[task]) for task in PTBXL_TASKS},
    }


def ptbxl_tasks(root: str | Path, sampling_rate: int, label_space: PtbxlLabelSpace) -> dict[str, Iterator[RecordTask]]:
    """Split -> lazy stream of the records of `ptbxl_database.csv` in that split, sorted by ecg_id.

    Raises:
        ValueError: unknown sampling rate, or a `strat_fold` outside 1-10 (names the rows); a malformed
            `scp_codes` raises when its row is reached.
    """
    if sampling_rate not in SAMPLING_RATES:
        raise ValueError(f"PTB-XL has records at {sorted(SAMPLING_RATES)} Hz, not {sampling_rate}")
    root = Path(root)
    database = pd.read_csv(root / "ptbxl_database.csv", index_col="ecg_id").sort_index()
    known_folds = [fold for folds in SPLIT_FOLDS.values() for fold in folds]
    unknown = database.index[~database["strat_fold"].isin(known_folds)].tolist()
    if unknown:
        raise ValueError(f"{root / 'ptbxl_database.csv'}: strat_fold outside 1-10 for ecg_id {unknown[:10]}")
    return {
        split: _split_records(root, database[database["strat_fold"].isin(folds)], sampling_rate, label_space)
        for split, folds in SPLIT_FOLDS.items()
    }


def _split_records(
    root: Path, rows: pd.DataFrame, sampling_rate: int, label_space: PtbxlLabelSpace
) -> Iterator[RecordTask]:
    for ecg_id, row in rows.iterrows():
        codes = parse_scp_codes(row["scp_codes"], f"{root / 'ptbxl_database.csv'} (ecg_id {ecg_id})")
        columns = {
            "report": "" if pd.isna(row["report"]) else str(row["report"]).strip(),
            "ecg_id": int(ecg_id),
            "patient_id": int(row["patient_id"]),
            "strat_fold": int(row["strat_fold"]),
            "scp_codes": json.dumps(codes),
            **{task: label_indices(label_space.multi_hot(task, codes)) for task in PTBXL_TASKS},
        }
        yield RecordTask(str(ecg_id), str(root / row[SAMPLING_RATES[sampling_rate]]), columns)


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
    splits = ptbxl_tasks(root, sampling_rate, label_space)
    return build_dataset(
        out,
        splits,
        SignalReader(sampling_rate, SignalWindow(RECORD_SECONDS)),
        ptbxl_features(label_space),
        ptbxl_description(label_space, sampling_rate),
        settings,
        signature={"source": "ptb-xl"},
    )
