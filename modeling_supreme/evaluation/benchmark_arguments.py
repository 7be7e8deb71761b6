"""Command-line arguments shared by the evaluation scripts in `eval/` (model, tasks, splits, data sources), and how
they end (the table and the files written, on stdout)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..data_sources import DataSourceError, benchmark_splits_folder
from .benchmark_tasks import ALL_TASKS, SOURCES, VARIANT_TASKS, get_task
from .records import PTBXL_RATES, RecordSource, open_source
from .scoring import load_model_and_processor


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --tasks, --splits, --data, --ptbxl-root, --ptbxl-rate, --out, --batch-size, --device, bootstrap,
    --trust-remote-code, --no-progress."""
    parser.add_argument("--model", required=True, help="checkpoint folder or Hub id")
    parser.add_argument(
        "--tasks",
        default=",".join(ALL_TASKS),
        help=f"comma-separated, from {','.join(ALL_TASKS)}; corrected variants: {','.join(VARIANT_TASKS)}",
    )
    parser.add_argument(
        "--splits",
        help="benchmark-splits folder (default: MERL's tables from SUPREME_DATA_DIR, the cache or a download; "
        "see docs/data.md)",
    )
    parser.add_argument(
        "--data",
        nargs="*",
        default=[],
        metavar="[SOURCE=]PATH",
        help=f"dataset folders built by datasets_scripts/build_*.py, Hub dataset ids or raw WFDB folders; SOURCE in "
        f"{SOURCES} (default: told from the record names)",
    )
    parser.add_argument("--ptbxl-root", help="raw PTB-XL folder (ptbxl_database.csv, records100/, records500/)")
    parser.add_argument(
        "--ptbxl-rate",
        default="auto",
        choices=["auto", *map(str, PTBXL_RATES)],
        help="which files of a raw PTB-XL folder to read; auto: 100 Hz for models at <= 100 Hz, else 500 Hz",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (and of training subsets)")
    parser.add_argument("--trust-remote-code", action="store_true", help="load a Hub model's own code")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def tasks_from_args(args: argparse.Namespace) -> list[str]:
    """The --tasks list; SystemExit naming unknown tasks."""
    tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    unknown = sorted(set(tasks) - set(ALL_TASKS) - set(VARIANT_TASKS))
    if unknown:
        raise SystemExit(f"error: unknown tasks {unknown}; choose from {list(ALL_TASKS) + list(VARIANT_TASKS)}")
    return tasks


def splits_from_args(args: argparse.Namespace, tasks: list[str]) -> Path:
    """--splits, or (when it is not given) the folder of MERL's tables that `tasks` read, from the data resolver;
    SystemExit with the resolver's message when they cannot be found or fetched."""
    if args.splits:
        return Path(args.splits)
    tables = sorted({path for name in tasks for path in get_task(name).tables.values()})
    try:
        return benchmark_splits_folder(tables, progress=not args.no_progress)
    except DataSourceError as error:
        raise SystemExit(f"error: {error}") from None


def ptbxl_rate_from_args(args: argparse.Namespace, model_sampling_rate: float) -> int:
    """--ptbxl-rate, with "auto" resolved from the model's sampling rate (its feature extractor's)."""
    if args.ptbxl_rate != "auto":
        return int(args.ptbxl_rate)
    return 100 if model_sampling_rate <= 100 else 500


def sources_from_args(args: argparse.Namespace, model_sampling_rate: float) -> dict[str, RecordSource]:
    """`--data` entries ([SOURCE=]PATH) and `--ptbxl-root` -> {source name: record source}; `model_sampling_rate` is
    the processor's `feature_extractor.sampling_rate`, which owns the input format."""
    entries: list[tuple[str | None, str]] = [
        (entry.split("=", 1)[0], entry.split("=", 1)[1]) if "=" in entry else (None, entry) for entry in args.data
    ]
    if args.ptbxl_root:
        entries.append(("ptbxl", args.ptbxl_root))
    rate = ptbxl_rate_from_args(args, model_sampling_rate)
    sources: dict[str, RecordSource] = {}
    for source, path in entries:
        name, opened = open_source(path, source, rate)
        if name in sources:
            raise SystemExit(
                f"error: two record sources for {name}: {sources[name].description} and {opened.description}"
            )
        sources[name] = opened
    return sources


def benchmark_inputs(args: argparse.Namespace) -> tuple[Any, Any, list[str], Path, dict[str, RecordSource]]:
    """(model, processor, tasks, splits folder, record sources) of the parsed arguments, what every benchmark runner
    (`run_zero_shot_benchmark`, `run_linear_probe`) takes first; the tasks are checked before the model is loaded."""
    tasks = tasks_from_args(args)
    splits = splits_from_args(args, tasks)
    model, processor = load_model_and_processor(args.model, args.device, args.trust_remote_code)
    sources = sources_from_args(args, processor.feature_extractor.sampling_rate)
    return model, processor, tasks, splits, sources


def print_written(table: str, paths: Mapping[str, Path]) -> int:
    """The end of an evaluation script: its Markdown table and the files it wrote, on stdout; -> exit status 0."""
    print(table)
    print("Wrote " + ", ".join(str(path) for path in paths.values()))
    return 0


__all__ = [
    "add_benchmark_arguments",
    "benchmark_inputs",
    "print_written",
    "ptbxl_rate_from_args",
    "sources_from_args",
    "tasks_from_args",
]
