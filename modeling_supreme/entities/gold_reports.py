"""The gold side of extraction scoring: the reports, cardiologists' SCP codes and folds of PTB-XL databases
(`ptbxl_database.csv`), with every row that cannot be scored recorded with its reason, and the `--folds` syntax."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence


@dataclass(frozen=True)
class RejectedRow:
    """A database row that cannot be scored: its source file, `ecg_id` and the reason."""

    source: str
    ecg_id: str
    reason: str


@dataclass
class GoldReports:
    """The scored rows of one or more PTB-XL databases, in file order (one entry per row in every list)."""

    ecg_ids: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    gold: list[set[str]] = field(default_factory=list)
    folds: list[int] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


def read_ptbxl_reports(folders: Sequence["str | Path"], folds: Optional[Iterable[int]] = None) -> GoldReports:
    """Reports, gold SCP codes and folds of the `ptbxl_database.csv` of each folder, optionally of some folds only.

    A row whose `scp_codes` cannot be read, whose `strat_fold` is not a number, or whose `ecg_id` was already
    read from an earlier file is rejected with its id and reason (in `GoldReports.rejected`); the others are kept.

    Raises:
        FileNotFoundError: a folder without `ptbxl_database.csv`.
        ValueError: a database without the `ecg_id`, `report`, `scp_codes` or `strat_fold` column.
    """
    import pandas as pd

    wanted = None if folds is None else set(folds)
    read = GoldReports()
    seen: dict[int, str] = {}
    for folder in folders:
        path = Path(folder) / "ptbxl_database.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no PTB-XL database (ptbxl_database.csv) in {folder}")
        database = pd.read_csv(path)
        missing = {"ecg_id", "report", "scp_codes", "strat_fold"} - set(database.columns)
        if missing:
            raise ValueError(f"{path}: lacks the column(s) {sorted(missing)}")
        for row in database.itertuples(index=False):
            _read_row(row, str(path), wanted, seen, read)
    return read


def _read_row(row: Any, source: str, wanted: Optional[set[int]], seen: dict[int, str], read: GoldReports) -> None:
    """Append one database row to `read`, or record why it is rejected; rows outside `wanted` folds are skipped."""
    from ..dataset_builders.ptbxl import parse_scp_codes

    def reject(reason: str) -> None:
        read.rejected.append(RejectedRow(source, str(row.ecg_id), reason))

    try:
        fold = int(row.strat_fold)
    except (TypeError, ValueError):
        return reject(f"strat_fold {row.strat_fold!r} is not a fold number")
    if wanted is not None and fold not in wanted:
        return None
    if not isinstance(row.scp_codes, str):
        return reject(f"scp_codes is missing ({row.scp_codes!r})")
    try:
        gold = set(parse_scp_codes(row.scp_codes, f"{source} (ecg_id {row.ecg_id})"))
    except ValueError as error:
        return reject(str(error))
    except TypeError as error:  # a likelihood that is not a number: {'NORM': [100]}
        return reject(
            f"{source} (ecg_id {row.ecg_id}): scp_codes {row.scp_codes!r} has a non-numeric likelihood ({error})"
        )
    try:
        ecg_id = int(row.ecg_id)
    except (TypeError, ValueError):
        return reject(f"ecg_id {row.ecg_id!r} is not a number")
    if ecg_id in seen:
        return reject(f"ecg_id already read from {seen[ecg_id]}")
    seen[ecg_id] = source
    report = row.report if isinstance(row.report, str) else ""
    read.ecg_ids.append(ecg_id)
    read.sources.append(source)
    read.reports.append(report)
    read.gold.append(gold)
    read.folds.append(fold)
    return None


def parse_folds(text: str) -> set[int]:
    """`"8,9,10"` or `"1-7"` (or both: `"1-3,8"`) -> a set of `strat_fold` numbers; ValueError names the bad part."""
    folds: set[int] = set()
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        first, _, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"--folds {text!r}: {part!r} is not a fold number or a range such as 1-7") from None
        if low > high:
            raise ValueError(f"--folds {text!r}: the range {part!r} is empty")
        folds.update(range(low, high + 1))
    if not folds:
        raise ValueError(f"--folds {text!r}: no fold given")
    return folds


__all__ = ["GoldReports", "RejectedRow", "parse_folds", "read_ptbxl_reports"]
