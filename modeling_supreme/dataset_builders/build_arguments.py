"""Command-line options shared by the `datasets_scripts/build_*.py` scripts (which stay thin)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..data_sources import BENCHMARK_SPLITS, MERL_FILES, DataSourceError, benchmark_splits_folder
from ..storage_supreme import DEFAULT_SIGNAL_DTYPE, SIGNAL_DTYPES
from .card import DatasetDescription
from .dataset_push import push_dataset_folder
from .parts import merge_parts
from .signals import SignalWindow
from .streaming import BuildSettings, BuildSummary


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """--out, --num-proc, --shard-size, --overwrite, --push-to-hub, --private, --log-level."""
    parser.add_argument("--out", required=True, help="output folder (Parquet shards + README.md)")
    parser.add_argument("--num-proc", type=int, default=1, help="processes reading records (default 1)")
    parser.add_argument("--shard-size", type=int, default=1000, help="records per Parquet shard (default 1000)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="discard what the output folder holds and start again (default: resume an unfinished build)",
    )
    parser.add_argument("--push-to-hub", metavar="REPO", help="push the built dataset to this Hub dataset repository")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repository private")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.add_argument(
        "--signal-dtype",
        choices=SIGNAL_DTYPES,
        default=DEFAULT_SIGNAL_DTYPE,
        help=f"storage of `ecg`: int16 with per-lead gain (exact for whole-µV recordings), float16 or float32 mV "
        f"(default {DEFAULT_SIGNAL_DTYPE})",
    )


def add_part_arguments(parser: argparse.ArgumentParser) -> None:
    """--num-shards, --shard-index (build one part of the record list, e.g. one per machine) and --merge-parts."""
    group = parser.add_argument_group(
        "several machines",
        "each machine builds one contiguous part of the record list into its own --out folder; then one command "
        "merges the finished parts into the dataset a single build would have written",
    )
    group.add_argument("--num-shards", type=int, default=1, help="parts the record list is cut into (default 1)")
    group.add_argument("--shard-index", type=int, default=0, help="the part this run builds, 0..K-1 (default 0)")
    group.add_argument(
        "--merge-parts", nargs="+", metavar="PART", help="merge these finished part folders (part 0 first) into --out; "
        "no --root needed"
    )


def add_window_arguments(parser: argparse.ArgumentParser, default: SignalWindow) -> None:
    """--seconds, --crop-seconds, --min-seconds (see `SignalWindow`)."""
    parser.add_argument(
        "--seconds", type=float, default=default.seconds, help=f"stored length in seconds (default {default.seconds:g})"
    )
    parser.add_argument(
        "--crop-seconds",
        type=float,
        default=default.crop_seconds,
        help=f"keep the first CROP seconds, zero-padded to --seconds (default {default.crop_seconds or 'the length'})",
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=default.min_seconds,
        help=f"reject records shorter than this (default {default.min_seconds or 'the crop length'})",
    )


# `--splits` given without a folder: MERL's tables, from the data resolver.
MERL_SPLITS = "<MERL's tables>"


def add_splits_argument(parser: argparse.ArgumentParser, folder: str) -> None:
    """--splits [FOLDER] of a benchmark dataset whose tables sit in `folder/` of a benchmark-splits folder."""
    parser.add_argument(
        "--splits", nargs="?", const=MERL_SPLITS, metavar="FOLDER",
        help=f"benchmark-splits folder (or its {folder}/ folder) whose tables define the splits; without FOLDER, "
        "MERL's tables from SUPREME_DATA_DIR, the cache or a download (docs/data.md)",
    )


def splits_from_args(args: argparse.Namespace, folder: str) -> str | Path | None:
    """--splits as a folder (None when not given); SystemExit with the resolver's message when MERL's tables
    cannot be found or fetched."""
    if args.splits != MERL_SPLITS:
        return args.splits
    tables = [name for name in MERL_FILES[BENCHMARK_SPLITS] if name.startswith(f"{folder}/")]
    try:
        return benchmark_splits_folder(tables, progress=not getattr(args, "no_progress", False)) / folder
    except DataSourceError as error:
        raise SystemExit(f"error: {error}") from None


def builder_parser(
    description: str,
    root_help: str,
    default_window: SignalWindow | None = None,
    root_required: bool = True,
    parts: bool = False,
    several_roots: bool = False,
) -> argparse.ArgumentParser:
    """The parser every build script starts from: --root (optional where the script has a default source; given
    more than once, a list, when `several_roots`), the window options (for sources whose records vary in length,
    given their `default_window`) and the build options; the script adds its own. With `parts`, the options of a
    build split across machines (`add_part_arguments`; parse with `parse_builder_args`, which requires --root unless
    --merge-parts is given)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    if several_roots:
        parser.add_argument("--root", required=root_required, action="append", help=f"{root_help}; give it more "
                            "than once to build one dataset of several folders")
    elif parts:
        parser.add_argument("--root", help=f"{root_help} (required, except with --merge-parts)")
    else:
        parser.add_argument("--root", required=root_required, help=root_help)
    if default_window is not None:
        add_window_arguments(parser, default_window)
    add_build_arguments(parser)
    if parts:
        add_part_arguments(parser)
    return parser


def parse_builder_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The parsed options; exits with a usage error when neither --root nor --merge-parts is given, or the part
    options are impossible."""
    args = parser.parse_args()
    if not args.root and not args.merge_parts:
        parser.error("--root is required (except with --merge-parts)")
    if args.num_shards < 1 or not 0 <= args.shard_index < args.num_shards:
        parser.error(f"--shard-index must be in 0..{args.num_shards - 1} and --num-shards >= 1")
    return args


def merge_from_args(args: argparse.Namespace, description: DatasetDescription) -> BuildSummary:
    """`merge_parts` of --merge-parts into --out (the builder's `description` for the card)."""
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    return merge_parts(args.out, args.merge_parts, description, overwrite=args.overwrite)


def window_from_args(args: argparse.Namespace) -> SignalWindow:
    return SignalWindow(seconds=args.seconds, crop_seconds=args.crop_seconds, min_seconds=args.min_seconds)


def settings_from_args(args: argparse.Namespace) -> BuildSettings:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    return BuildSettings(
        shard_size=args.shard_size, num_proc=args.num_proc, overwrite=args.overwrite, signal_dtype=args.signal_dtype,
        num_parts=getattr(args, "num_shards", 1), part_index=getattr(args, "shard_index", 0),
    )


def finish(summary: BuildSummary, args: argparse.Namespace) -> None:
    """Print the summary; push to the Hub when asked."""
    print(summary.format())
    if args.push_to_hub:
        url = push_dataset_folder(summary.folder, args.push_to_hub, private=args.private or None)
        print(f"Pushed to {url}")


__all__ = [
    "MERL_SPLITS",
    "add_build_arguments",
    "add_part_arguments",
    "add_splits_argument",
    "add_window_arguments",
    "builder_parser",
    "finish",
    "merge_from_args",
    "parse_builder_args",
    "settings_from_args",
    "splits_from_args",
    "window_from_args",
]
