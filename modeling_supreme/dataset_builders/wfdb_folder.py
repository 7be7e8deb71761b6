"""Users' own data: a folder of WFDB records plus a CSV that gives each record's report.

The CSV has the columns `record` (path of the record relative to the folder, with or without `.hea`, e.g.
`ward3/0001` or `ward3/0001.hea`) and `report`, and optionally `split` (a split name per record; default
`train`). Rows are built in CSV order. A listed record that does not exist, lies outside the folder (absolute path
or `..`), is listed again (the first row is built) or has an empty report is rejected into `rejects.jsonl`; records
in the folder that the CSV does not list are recorded there too (as "not listed in the CSV"), so nothing disappears
unnoticed. All records must share one sampling rate (the
dataset stores signals at the source rate); the rate defaults to that of the first listed record.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ..reading_supreme import read_header
from .card import DatasetDescription
from .signals import SignalReader, SignalWindow
from .streaming import BuildSettings, BuildSummary, build_dataset
from .tables import DUPLICATE_ID, EMPTY_REPORT, OUTSIDE_ROOT, read_csv_table, record_path_under, table_lines
from .tasks import RecordTask, Rejection, StreamItem

DEFAULT_SPLIT = "train"
_SPLIT_NAME = re.compile(r"^\w+$")


def _record_key(value: str) -> str:
    """`ward3/0001.hea`, `./ward3//0001` or `ward3/../ward3/0001` -> `ward3/0001` (the record's id).

    The path is normalised lexically (as `record_path_under` resolves it), so that two spellings of one record
    are one key and the second is rejected as a duplicate, never built twice (possibly into two splits). A key
    that leaves the folder keeps its leading `..` and is rejected when its row is built.
    """
    text = str(value).strip()
    key = posixpath.normpath(text) if text else text
    for suffix in (".hea", ".dat", ".mat"):
        key = key.removesuffix(suffix)
    return key


def read_report_table(csv_path: str | Path) -> pd.DataFrame:
    """The CSV as a frame with columns record (normalised key), report, split, line (its line in the file).

    Raises:
        FileNotFoundError: no such CSV.
        ValueError: the CSV is empty, not UTF-8 or unparsable, a required column is missing, or a split name is
            not a word (each names the file).
    """
    table = read_csv_table(csv_path, required=("record", "report"), dtype=str, keep_default_na=False)
    if "split" not in table.columns:
        table["split"] = DEFAULT_SPLIT
    table["line"] = table_lines(csv_path, len(table))
    table["record"] = table["record"].map(_record_key)
    table["split"] = table["split"].str.strip().replace("", DEFAULT_SPLIT)
    invalid = sorted(name for name in table["split"].unique() if not _SPLIT_NAME.match(name))
    if invalid:
        raise ValueError(f"{csv_path}: split names must be letters, digits or '_', got {invalid}")
    return table[["record", "report", "split", "line"]]


def _first_record_rate(root: Path, records: pd.Series) -> int:
    for record in records:
        try:
            path = record_path_under(root, record)
        except ValueError:
            continue  # rejected when its row is built
        if path.with_name(path.name + ".hea").is_file():
            try:
                return round(read_header(path).sampling_rate)
            except ValueError:
                continue  # a broken header: its record is rejected when read, the next one gives the rate
    raise ValueError(f"none of the {len(records)} records listed in the CSV exists under {root}")


def _row_item(root: Path, record: str, report: str, first_line: int | None, line: int, csv_name: str) -> StreamItem:
    """The row at `line` of the CSV as a task, or its rejection (duplicate, outside the root, missing, no report)."""
    where = f"{csv_name} line {line}"
    if first_line is not None:
        return Rejection(record, str(root / record), f"{record} ({where}) is listed already on line {first_line}",
                         DUPLICATE_ID)
    try:
        path = record_path_under(root, record)
    except ValueError as error:
        return Rejection(record, record, f"{where}: {error}", OUTSIDE_ROOT)
    if not path.with_name(path.name + ".hea").is_file():
        return Rejection(record, str(path), f"{record} is listed in {where} but {path}.hea does not exist",
                         "missing file")
    if not report.strip():
        return Rejection(record, str(path), f"{record}: empty report in {where}", EMPTY_REPORT)
    return RecordTask(record, str(path), {"report": " ".join(report.split())})


def _split_stream(root: Path, rows: pd.DataFrame, first_lines: dict[str, int], csv_name: str) -> Iterator[StreamItem]:
    for record, report, line in rows[["record", "report", "line"]].itertuples(index=False):
        first_line = first_lines[record]
        yield _row_item(root, record, report, first_line if first_line != line else None, line, csv_name)


def wfdb_folder_tasks(
    root: str | Path, csv_path: str | Path
) -> tuple[dict[str, Iterator[StreamItem]], list[Rejection]]:
    """Streams per split (in order of first appearance in the CSV) and the unlisted records of the folder."""
    root = Path(root)
    table = read_report_table(csv_path)
    csv_name = Path(csv_path).name
    # Each record is built from its first row; a later row with the same record is rejected (whatever its split).
    first_lines = table.groupby("record", sort=False)["line"].min().to_dict()
    streams = {
        split: _split_stream(root, table[table["split"] == split], first_lines, csv_name)
        for split in dict.fromkeys(table["split"])
    }
    listed = set(table["record"])
    unlisted = [
        Rejection(key, str(root / key), f"{key} is under {root} but not listed in {csv_name}", "not listed in the CSV")
        for key in sorted(header.relative_to(root).with_suffix("").as_posix() for header in root.rglob("*.hea"))
        if key not in listed
    ]
    return streams, unlisted


def build_wfdb_folder(
    root: str | Path,
    csv_path: str | Path,
    out: str | Path,
    window: SignalWindow = SignalWindow(seconds=10.0),
    sampling_rate: int | None = None,
    name: str = "ECG dataset",
    settings: BuildSettings = BuildSettings(),
) -> BuildSummary:
    """Build a dataset folder from WFDB records and a `record, report[, split]` CSV (see module docstring).

    Args:
        root: folder of the records.
        csv_path: the CSV of reports.
        out: output folder.
        window: stored part of each record (default: first 10 s, shorter records rejected).
        sampling_rate: rate of the dataset in Hz; default: the rate of the first listed record.
        name: title of the dataset card.
        settings: shard size, processes, overwrite.
    """
    root = Path(root)
    streams, unlisted = wfdb_folder_tasks(root, csv_path)
    if sampling_rate is None:
        sampling_rate = _first_record_rate(root, read_report_table(csv_path)["record"])
    crop = window.crop_seconds if window.crop_seconds is not None else window.seconds
    body = f"""ECGs from WFDB records under `{root.name}` with reports from `{Path(csv_path).name}`,
at {sampling_rate} Hz, 12 leads in mV in standard order (missing leads zero with `lead_mask` False), first
{crop:g} s of each record zero-padded to {window.seconds:g} s."""
    return build_dataset(
        out,
        streams,
        SignalReader(sampling_rate, window),
        {},
        DatasetDescription(pretty_name=name, body=body),
        settings,
        signature={"source": "wfdb-folder", "csv": Path(csv_path).name},
        unassigned=unlisted,
    )
