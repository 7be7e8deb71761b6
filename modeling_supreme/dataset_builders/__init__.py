"""Builders of Hub-ready ECG datasets: Parquet shards + dataset card, streamed record by record, resumable.

Shared machinery: `build_dataset` (streaming build), `ShardWriter` (Parquet shards), `write_dataset_card`
(README with the `configs:` block), `SignalReader` / `SignalWindow` (what is stored of each record),
`RecordTask` / `Rejection` (what a source hands to the build), `push_dataset_folder` (Hub upload).
One module per source: `ptbxl`, `mimic_iv_ecg`, `physionet_cinc` (CPSC2018, Chapman-Shaoxing-Ningbo),
`wfdb_folder` (users' own records).
"""

from ..extras import require_extra

require_extra("train", "modeling_supreme.dataset_builders", ["datasets", "pandas"])

from .card import DatasetDescription, data_files_pattern, shard_file_name, write_dataset_card
from .progress import PROGRESS_FILE, REJECTS_FILE
from .shards import ShardInfo, ShardWriter
from .signals import SignalArrays, SignalReader, SignalWindow, signal_features
from .streaming import BuildSettings, BuildSummary, build_dataset, read_records
from .tasks import RecordRejected, RecordTask, Rejection

__all__ = [
    "PROGRESS_FILE",
    "REJECTS_FILE",
    "BuildSettings",
    "BuildSummary",
    "DatasetDescription",
    "RecordRejected",
    "RecordTask",
    "Rejection",
    "ShardInfo",
    "ShardWriter",
    "SignalArrays",
    "SignalReader",
    "SignalWindow",
    "build_dataset",
    "data_files_pattern",
    "read_records",
    "shard_file_name",
    "signal_features",
    "write_dataset_card",
]
