"""Dataset build throughput and memory: the PTB-XL builder against a bare `wfdb.rdsamp` loop on the same records.

Prints, measured side by side in one run:
1. records/s of a bare loop of `wfdb.rdsamp` over the records, of a loop of the package's `read_ecg` (what the
   builder reads with), and of the PTB-XL builder (read, standardise, write Parquet shards, card) with 1 and
   N processes, as ratios to the bare loop;
2. the builder's peak memory (RSS above the interpreter's RSS before the build, and tracemalloc peak) for
   100 and for 400 records, each in a fresh process, and their ratio (it should stay near 1: memory must not
   grow with the number of records).

    python bench/build_throughput.py [--root PTBXL_FOLDER] [--num-proc 2] [--shard-size 50]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import wfdb

from modeling_supreme.data_sources import ptbxl_folder
from modeling_supreme.dataset_builders import BuildSettings
from modeling_supreme.dataset_builders.ptbxl import build_ptbxl
from modeling_supreme.reading_supreme import read_ecg

SAMPLING_RATE = 100


def record_paths(root: Path, count: int | None = None) -> list[str]:
    """The 100 Hz records of the first `count` rows of ptbxl_database.csv."""
    database = pd.read_csv(root / "ptbxl_database.csv").sort_values("ecg_id")
    return [str(root / name) for name in database["filename_lr"][:count]]


def bare_rdsamp_rate(paths: list[str]) -> float:
    started = time.perf_counter()
    for path in paths:
        wfdb.rdsamp(path)
    return len(paths) / (time.perf_counter() - started)


def read_ecg_rate(paths: list[str]) -> float:
    started = time.perf_counter()
    for path in paths:
        read_ecg(path)
    return len(paths) / (time.perf_counter() - started)


def builder_rate(root: Path, count: int, num_proc: int, shard_size: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary = build_ptbxl(
            root, out, SAMPLING_RATE, BuildSettings(shard_size=shard_size, num_proc=num_proc, progress=False)
        )
        elapsed = time.perf_counter() - started
    assert summary.built == count, summary.format()
    return count / elapsed


def subset_root(root: Path, count: int, folder: Path) -> Path:
    """A PTB-XL root with the first `count` records (database rows filtered, record files symlinked)."""
    folder.mkdir(parents=True)
    database = pd.read_csv(root / "ptbxl_database.csv").sort_values("ecg_id").head(count)
    database.to_csv(folder / "ptbxl_database.csv", index=False)
    (folder / "scp_statements.csv").symlink_to((root / "scp_statements.csv").resolve())
    for name in database["filename_lr"]:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".hea", ".dat"):
            target.with_name(target.name + suffix).symlink_to((root / (name + suffix)).resolve())
    return folder


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (this measurement needs Linux)")


def measure_memory(root: Path, count: int, shard_size: int) -> dict[str, float]:
    """Build `count` records in this process (1 process) and report its memory (call in a fresh process)."""
    with tempfile.TemporaryDirectory() as scratch:
        subset = subset_root(root, count, Path(scratch) / "root")
        before = current_rss_mb()
        tracemalloc.start()
        build_ptbxl(
            subset,
            Path(scratch) / "out",
            SAMPLING_RATE,
            BuildSettings(shard_size=shard_size, num_proc=1, progress=False),
        )
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"records": count, "rss_before_mb": before, "rss_peak_mb": peak, "tracemalloc_peak_mb": traced_peak / 2**20}


def memory_in_fresh_process(root: Path, count: int, shard_size: int) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--root",
        str(root),
        "--shard-size",
        str(shard_size),
        "--measure-memory",
        str(count),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="raw PTB-XL folder (default: the 400-record sample, docs/data.md)")
    parser.add_argument("--num-proc", type=int, default=2, help="processes of the parallel build (default 2)")
    parser.add_argument("--shard-size", type=int, default=50)
    parser.add_argument("--measure-memory", type=int, metavar="N", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    args.root = args.root or ptbxl_folder()
    if args.measure_memory:
        print(json.dumps(measure_memory(args.root, args.measure_memory, args.shard_size)))
        return

    paths = record_paths(args.root)
    bare_rdsamp_rate(paths)  # warm the page cache so every timed pass reads from memory
    bare = bare_rdsamp_rate(paths)
    reader = read_ecg_rate(paths)
    serial = builder_rate(args.root, len(paths), 1, args.shard_size)
    parallel = builder_rate(args.root, len(paths), args.num_proc, args.shard_size)
    print(f"PTB-XL {SAMPLING_RATE} Hz, {len(paths)} records, {os.cpu_count()} CPUs")
    print(f"  bare wfdb.rdsamp loop            {bare:8.1f} records/s  (reference)")
    print(f"  read_ecg loop (builder's reader) {reader:8.1f} records/s  ratio {reader / bare:.2f}")
    print(f"  builder, 1 process               {serial:8.1f} records/s  ratio {serial / bare:.2f}")
    print(f"  builder, {args.num_proc} processes             {parallel:8.1f} records/s  ratio {parallel / bare:.2f}")

    small, large = (memory_in_fresh_process(args.root, count, args.shard_size) for count in (100, 400))
    print(f"Peak memory of a build (1 process, shards of {args.shard_size}), each in a fresh interpreter:")
    growth = {count: m["rss_peak_mb"] - m["rss_before_mb"] for count, m in ((100, small), (400, large))}
    for count, measured in ((100, small), (400, large)):
        print(
            f"  {count:4d} records: RSS +{growth[count]:6.1f} MB above {measured['rss_before_mb']:.0f} MB before the "
            f"build; tracemalloc peak {measured['tracemalloc_peak_mb']:6.1f} MB"
        )
    rss_ratio = growth[400] / max(growth[100], 1e-9)
    traced_ratio = large["tracemalloc_peak_mb"] / small["tracemalloc_peak_mb"]
    print(
        f"  400 / 100 records: RSS growth ratio {rss_ratio:.2f}, tracemalloc peak ratio {traced_ratio:.2f} (records x4)"
    )


if __name__ == "__main__":
    main()
