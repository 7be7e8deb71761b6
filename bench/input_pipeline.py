"""Throughput of the training input pipeline against a bare batched read of the same signals from an int16 memmap.

The loader is the one `train_accelerate.py` trains on, built by the trainer itself (dataset, seedable shuffling
sampler after `accelerator.prepare`, collator with feature extraction and multi-hot targets, DataLoader workers), with
no model. The reference reads the same ECGs, converted to int16 (1 µV) into a numpy memmap made here, in slices of
the batch size in shuffled order, and converts them to float32 mV tensors: the least any loader must do. Both are
timed in the same run, alternately, over whole epochs (persistent workers started before timing), best of
`--repeats`, one loader at a time (its workers are the only ones alive: a dozen idle workers of other loaders cut the
rate of a 1-worker loader by a third on the 2-core machine), each row with its own reference; ECGs per second and
their ratio are printed, and written to `--json`. A third column times a DataLoader
of the same batch size, workers and ring of shared buffers whose batches are constant copies of a training batch's
entries: what moving batches from the workers to the main process costs by itself, a ceiling for any loader with
workers.

By default training hands batches that need only normalisation to the accelerator as stored int16 values
(`--normalize-on-device`, `training/device_inputs.py`); the loader then delivers int16, and the normalisation runs on
the GPU. The bench times that loader, the same loader with host normalisation (`--no-normalize-on-device`, rows
"host"), and, apart, the device stage itself run on this CPU by the main process (column "device stage on this CPU"):
what the normalisation costs where there is no GPU to run it.

With a small split an epoch is a few batches, and the persistent workers' restart at every epoch (a new iteration,
a refilled prefetch queue), which the reference does not pay, weighs on the loader's rate; `--repeat-rows K` times
the split's rows repeated K times, loader and reference alike, for epochs as long as a larger dataset's.

    python bench/input_pipeline.py --dataset outputs/ptbxl-500-entities [--workers 1 2] [--batch-size 32] [--json FILE]
        [--repeat-rows 10]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modeling_supreme.batching_supreme import batched
from modeling_supreme.storage_supreme import row_signals
from modeling_supreme.training import TrainingOptions
from modeling_supreme.training.batch_ring import WorkerBatchRing, ring_slots
from modeling_supreme.training.data import (
    LENGTH_COLUMN,
    PREFETCH_FACTOR,
    ArrowRows,
    load_splits,
)
from modeling_supreme.training.device_inputs import normalized_on_device
from modeling_supreme.training.trainer import SupremeTrainer

MEMMAP_GAIN = 1000.0  # int16 units per mV of the reference: 1 µV


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="built dataset with an `entities` column")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="DataLoader workers, one row each")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="model input length (default 10 s)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per timed repetition")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (best kept)")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="shortest timing of the reference")
    parser.add_argument("--normalized-on", nargs="+", choices=["device", "host"], default=["device", "host"],
                        help="where the loader leaves normalisation: device (the default of training), host")
    parser.add_argument("--repeat-rows", type=int, default=1,
                        help="time on the split's rows repeated this many times (loader and reference alike), so "
                             "that an epoch has as many batches as a larger dataset's: with a few batches per "
                             "epoch, restarting the workers' iteration at every epoch weighs on the loader alone")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.repeat_rows < 1:
        parser.error(f"--repeat-rows must be at least 1, got {args.repeat_rows}")
    return args


def repeated_split(dataset: str, split: str, times: int, folder: Path) -> str:
    """A dataset folder under `folder` whose `split` is the dataset's, its rows repeated `times` times in order."""
    import datasets

    rows = load_splits(dataset)[split]
    (folder / "data").mkdir(parents=True)
    datasets.concatenate_datasets([rows] * times).to_parquet(str(folder / "data" / f"{split}-00000.parquet"))
    return str(folder)


def dataset_rate(dataset: str, split: str) -> int:
    """The sampling rate of the split's first row (builders store one rate per dataset)."""
    return int(load_splits(dataset)[split][0]["sampling_rate"])


def training_loader(args: argparse.Namespace, workers: int, on_device: bool, output_dir: Path) -> tuple[Any, Any]:
    """The trainer's own DataLoader for these options, prepared by its accelerator as in training, and its feature
    extractor."""
    rate = dataset_rate(args.dataset, args.train_split)
    options = TrainingOptions(
        dataset=args.dataset, output_dir=str(output_dir), train_split=args.train_split,
        model_config={"sampling_rate": rate, "num_samples": round(args.seconds * rate)},
        batch_size=args.batch_size, num_workers=workers, validation_split=None, log_with="none",
        normalize_on_device=on_device,
    )
    trainer = SupremeTrainer(options)
    trainer._prepare_data()  # the data half of `train()`: splits, vocabulary, processor, collator, DataLoader
    return trainer.accelerator.prepare(trainer.train_loader), trainer.processor.feature_extractor


def signal_of(batch: dict[str, Any]) -> torch.Tensor:
    """The ECG entry of a training batch: stored values for the device (B, 12, n) or normalised ones."""
    return batch["ecg_stored"] if "ecg_stored" in batch else batch["ecg_values"]


def int16_memmap(dataset: str, split: str, folder: Path) -> np.memmap:
    """The split's signals (N, 12, T) as int16 at `MEMMAP_GAIN` in a memmap file under `folder` (NaN -> 0)."""
    rows = ArrowRows(load_splits(dataset)[split], ["ecg", "ecg_gain", LENGTH_COLUMN])
    first = rows.__getitems__([0]).columns["ecg"]
    memmap = np.lib.format.open_memmap(folder / "signals.npy", mode="w+", dtype=np.int16,
                                       shape=(len(rows), *first.shape[1:]))
    for chunk in batched(range(len(rows)), 256):
        batch = rows.__getitems__(chunk).columns
        signals = np.stack(row_signals(batch["ecg"], None, batch.get("ecg_gain")))
        memmap[chunk.start : chunk.stop] = np.round(np.nan_to_num(signals) * MEMMAP_GAIN).astype(np.int16)
    memmap.flush()
    return np.load(folder / "signals.npy", mmap_mode="r")


def time_memmap(memmap: np.memmap, batch_size: int, epochs: int, seed: int, min_seconds: float) -> tuple[int, float]:
    """(ECGs, seconds) of at least `epochs` passes over full batches (shuffled slices -> float32 mV tensors), and at
    least `min_seconds`: a reference timed within one scheduler slice would be favoured on a shared machine."""
    starts = np.arange(0, len(memmap) - batch_size + 1, batch_size)
    rng = np.random.default_rng(seed)
    count, started, passes = 0, time.perf_counter(), 0
    while passes < epochs or time.perf_counter() - started < min_seconds:
        passes += 1
        for start in rng.permutation(starts):
            batch = torch.from_numpy(np.asarray(memmap[start : start + batch_size], dtype=np.float32) / MEMMAP_GAIN)
            count += batch.shape[0]
    return count, time.perf_counter() - started


class _ConstantBatches(torch.utils.data.Dataset):
    """As many rows as the split; every batch holds the same tensors (zeros of the shapes and dtypes of a training
    batch's entries) and its other entries, so a DataLoader over it, through the training loader's ring of shared
    buffers, measures what moving batches from workers to the main process alone costs."""

    def __init__(self, rows: int, like: dict[str, Any]) -> None:
        self.rows = rows
        self.like = {key: torch.zeros_like(value) if isinstance(value, torch.Tensor) else value
                     for key, value in like.items()}

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, index: int) -> int:
        return index

    def __getitems__(self, indices: list[int]) -> list[int]:
        return indices

    def collate(self, indices: list[int]) -> dict[str, Any]:
        return {key: value.clone() if isinstance(value, torch.Tensor) else value for key, value in self.like.items()}


def transfer_loader(rows: int, like: dict[str, Any], workers: int) -> Any:
    """A DataLoader like the training one (batch size, ring of shared buffers, workers, persistence, prefetch) over
    `_ConstantBatches` of `like`'s entries."""
    dataset = _ConstantBatches(rows, like)
    return torch.utils.data.DataLoader(
        dataset, batch_size=len(signal_of(like)), drop_last=True,
        collate_fn=WorkerBatchRing(dataset.collate, ring_slots(PREFETCH_FACTOR)) if workers > 0 else dataset.collate,
        num_workers=workers, persistent_workers=workers > 0,
        prefetch_factor=PREFETCH_FACTOR if workers > 0 else None,
    )


def time_loader(loader: Any, first_epoch: int, epochs: int) -> tuple[int, float]:
    """(ECGs, seconds) of `epochs` epochs of collated training batches."""
    count, started = 0, time.perf_counter()
    for epoch in range(first_epoch, first_epoch + epochs):
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        for batch in loader:
            count += signal_of(batch).shape[0]
    return count, time.perf_counter() - started


def time_device_stage(batches: list[dict[str, Any]], feature_extractor: Any, min_seconds: float) -> float:
    """ECGs per second of `normalized_on_device` over stored batches, run here on the CPU (at least `min_seconds`)."""
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < min_seconds:
        for batch in batches:
            count += normalized_on_device(batch, feature_extractor)["ecg_values"].shape[0]
    return count / (time.perf_counter() - started)


def time_kind(args: argparse.Namespace, memmap: np.memmap, workers: int, where: str, output_dir: Path) -> dict:
    """One row of the table: the training loader with `workers` normalising on `where`, the memmap reference and
    the moved-alone ceiling, timed alternately (best of `--repeats`); and the device stage once, for the first
    loader normalising on the device."""
    loader, feature_extractor = training_loader(args, workers, where == "device", output_dir)
    transfer = transfer_loader(len(memmap), next(iter(loader)), workers)
    for warmed in (loader, transfer):
        time_loader(warmed, 0, 1)  # starts the persistent workers, warms the page cache
    time_memmap(memmap, args.batch_size, 1, seed=0, min_seconds=0.0)
    best = {"loader": 0.0, "memmap": 0.0, "transfer": 0.0}
    for repeat in range(args.repeats):
        count, seconds = time_memmap(memmap, args.batch_size, args.epochs, repeat, args.min_seconds)
        best["memmap"] = max(best["memmap"], count / seconds)
        count, seconds = time_loader(loader, 1 + repeat * args.epochs, args.epochs)
        best["loader"] = max(best["loader"], count / seconds)
        count, seconds = time_loader(transfer, 0, args.epochs)
        best["transfer"] = max(best["transfer"], count / seconds)
    row = {"workers": workers, "normalized_on": where, "loader_ecg_per_s": best["loader"],
           "memmap_int16_ecg_per_s": best["memmap"], "ratio_to_int16_memmap": best["loader"] / best["memmap"],
           "transfer_only_ecg_per_s": best["transfer"]}
    if where == "device" and workers == args.workers[0]:
        row["device_stage"] = time_device_stage(stored_batches(loader, 8), feature_extractor, args.min_seconds)
    return row


def stored_batches(loader: Any, count: int) -> list[dict[str, Any]]:
    """The first `count` batches of a loader, copied (a worker's ring buffers are written again later)."""
    batches = []
    for batch in loader:
        batches.append({key: value.clone() if isinstance(value, torch.Tensor) else value
                        for key, value in batch.items()})
        if len(batches) == count:
            break
    return batches


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)  # one core for the reference and the main process, as a DataLoader worker has
    rate = dataset_rate(args.dataset, args.train_split)
    kinds = [(workers, where) for where in args.normalized_on for workers in args.workers]
    rows, device_stage = [], None
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        source, args.dataset = args.dataset, (
            repeated_split(args.dataset, args.train_split, args.repeat_rows, folder / "repeated")
            if args.repeat_rows > 1 else args.dataset
        )
        memmap = int16_memmap(args.dataset, args.train_split, folder)
        for workers, where in kinds:  # one loader's workers alive at a time, each timed beside its own reference
            row = time_kind(args, memmap, workers, where, folder / f"run-{workers}-{where}")
            device_stage = row.pop("device_stage", None) or device_stage
            rows.append(row)
            gc.collect()  # the loader's persistent workers stop with it
    repeated = f" (its {len(memmap) // args.repeat_rows} rows {args.repeat_rows} times)" if args.repeat_rows > 1 else ""
    print(f"{source}: {len(memmap)} ECGs{repeated} of {memmap.shape[1]} x {memmap.shape[2]} at {rate} Hz, "
          f"batch {args.batch_size} ({len(memmap) // args.batch_size} per epoch), best of {args.repeats} x "
          f"{args.epochs} epochs")
    print("| workers | normalised on | sampling rate | training loader ECG/s | int16 memmap ECG/s | ratio "
          "| batches moved alone ECG/s |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['workers']} | {row['normalized_on']} | {rate} Hz | {row['loader_ecg_per_s']:,.0f} "
              f"| {row['memmap_int16_ecg_per_s']:,.0f} | {row['ratio_to_int16_memmap']:.2f} "
              f"| {row['transfer_only_ecg_per_s']:,.0f} |")
    by_kind = {(row["workers"], row["normalized_on"]): row["loader_ecg_per_s"] for row in rows}
    for workers in args.workers:
        if (workers, "device") in by_kind and (workers, "host") in by_kind:
            print(f"{workers} workers: loader normalising on the device / on the host: "
                  f"{by_kind[(workers, 'device')] / by_kind[(workers, 'host')]:.2f}x")
    if device_stage is not None:
        print(f"device stage (decode + normalise) run on this CPU, one thread: {device_stage:,.0f} ECG/s "
              f"({device_stage / rows[0]['memmap_int16_ecg_per_s']:.2f}x the first row's memmap read)")
    if args.json:
        result = {**rows[0], "dataset": source, "repeat_rows": args.repeat_rows, "sampling_rate": rate,
                  "batch_size": args.batch_size, "num_ecgs": len(memmap), "rows": rows,
                  "device_stage_cpu_ecg_per_s": device_stage}
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
