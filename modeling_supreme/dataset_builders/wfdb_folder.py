"""Users' own data: a folder of WFDB records plus a CSV that gives each record's report.

The CSV has the columns `record` (path of the record relative to the folder, with or without `.hea`, e.g.
`ward3/0001` or `ward3/0001.hea`) and `report`, and optionally `split` (a split name per record; default
`train`). Rows are built in CSV order. A listed record that does not exist or has an empty report is rejected
into `rejects.jsonl`; records in the folder that the CSV does not list are recorded there too (as
"not listed in the CSV"), so nothing disappears unnoticed. All records must share one sampling rate (the
dataset stores signals at the source rate); the rate defaults to that of the first listed record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from .card import DatasetDescription
from .signals import SignalReader, SignalWindow
from .streaming import BuildSettings, BuildSummary, build_dataset
from .tasks import RecordTask, Rejection, StreamItem

DEFAULT_SPLIT = "train"
_SPLIT_NAME = re.compile(r"^\w+$")


def _record_key(value: str) -> str:
    """`ward3/0001.hea` or `./ward3/0001` -> `ward3/0001` (the record's id)."""
    key = Path(str(value).strip()).as_posix().removeprefix("./")
    for suffix in (".hea", ".dat", ".mat"):
        key = key.removesuffix(suffix)
    return key


def read_report_table(csv_path: str | Path) -> pd.DataFrame:
    """The CSV as a frame with columns record (normalised key), report, split.

    Raises:
        ValueError: a required column is missing, a record is listed twice, or a split name is not a word.
    """
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    missing = {"record", "report"} - set(table.columns)
    if missing:
        raise ValueError(f"{csv_path}: missing column(s) {sorted(missing)} (need record, report; optional split)")
    if "split" not in table.columns:
        table["split"] = DEFAULT_SPLIT
    table["record"] = table["record"].map(_record_key)
    table["split"] = table["split"].str.strip().replace("", DEFAULT_SPLIT)
    duplicated = table["record"][table["record"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"{csv_path}: records listed more than once: {duplicated[:10]}")
    invalid = sorted(name for name in table["split"].unique() if not _SPLIT_NAME.match(name))
    if invalid:
        raise ValueError(f"{csv_path}: split names must be letters, digits or '_', got {invalid}")
    return table[["record", "report", "split"]]


def header_sampling_rate(record_path: Path) -> int:
    """Sampling rate from the record line of a `.hea` file (third field; WFDB's default 250 Hz if absent)."""
    header = record_path.with_name(record_path.name + ".hea")
    for line in header.read_text(errors="replace").splitlines():
        if line.strip() and not line.startswith("#"):
            fields = line.split()
            return round(float(fields[2].split("/")[0])) if len(fields) > 2 else 250
    raise ValueError(f"{header}: no record line")


def _first_record_rate(root: Path, records: pd.Series) -> int:
    for record in records:
        path = root / record
        if path.with_name(path.name + ".hea").is_file():
            return header_sampling_rate(path)
    raise ValueError(f"none of the {len(records)} records listed in the CSV exists under {root}")


def _split_stream(root: Path, rows: pd.DataFrame, csv_name: str) -> Iterator[StreamItem]:
    for record, report in rows[["record", "report"]].itertuples(index=False):
        path = root / record
        if not path.with_name(path.name + ".hea").is_file():
            yield Rejection(
                record, str(path), f"{record} is listed in {csv_name} but {path}.hea does not exist", "missing file"
            )
        elif not report.strip():
            yield Rejection(record, str(path), f"{record}: empty report in {csv_name}", "empty report")
        else:
            yield RecordTask(record, str(path), {"report": " ".join(report.split())})


def wfdb_folder_tasks(
    root: str | Path, csv_path: str | Path
) -> tuple[dict[str, Iterator[StreamItem]], list[Rejection]]:
    """Streams per split (in order of first appearance in the CSV) and the unlisted records of the folder."""
    root = Path(root)
    table = read_report_table(csv_path)
    csv_name = Path(csv_path).name
    streams = {
        split: _split_stream(root, table[table["split"] == split], csv_name) for split in dict.fromkeys(table["split"])
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
