"""Builds split across machines: each machine builds one part of the record list (`BuildSettings.num_parts`,
`part_index`; a SLURM array or any scheduler runs them side by side), and `merge_parts` joins the finished part
folders into the one dataset folder a single build of the whole list would have written: the parts' Parquet shards,
renumbered in part order, listed by one card; one `rejects.jsonl`; one `progress.json`.

    python datasets_scripts/build_mimic_iv_ecg.py --root R --out parts/0 --num-shards 3 --shard-index 0   # machine 0
    ...
    python datasets_scripts/build_mimic_iv_ecg.py --out merged --merge-parts parts/0 parts/1 parts/2

Shards are hard-linked into the merged folder where the file system allows it (no copy of the signals), else copied.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Features, SplitInfo

from ..storage_supreme import storage_note
from .card import DEFAULT_CONFIG, DatasetDescription, shard_file_name, write_dataset_card
from .progress import PROGRESS_FILE, REJECTS_FILE, ProgressManifest, SplitProgress
from .shards import ShardInfo
from .streaming import BuildSummary, build_notes

logger = logging.getLogger(__name__)

PART_KEY = "part"  # the signature entry of a part build: [part_index, num_parts]


def link_or_copy(source: Path, target: Path) -> None:
    """`target` becomes a hard link to `source`, or a copy where the file system has no hard links across them."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _read_part(folder: Path) -> dict[str, Any]:
    """The progress manifest of a finished part build.

    Raises:
        ValueError: no manifest, not a part build, or a split left unfinished (names the folder).
    """
    path = folder / PROGRESS_FILE
    if not path.is_file():
        raise ValueError(f"{folder}: no {PROGRESS_FILE}; not a dataset folder written by a build")
    stored = json.loads(path.read_text())
    if PART_KEY not in stored["signature"]:
        raise ValueError(f"{folder}: a build of the whole record list, not of a part (--num-shards / --shard-index)")
    unfinished = [name for name, progress in stored["splits"].items() if not progress["complete"]]
    if unfinished:
        raise ValueError(f"{folder}: split(s) {unfinished} unfinished; re-run that part's command to complete it")
    return stored


def _check_parts(folders: Sequence[Path], manifests: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The signature common to all parts (without the part entry), after checking that they are parts 0..K-1 of
    one build, each once, in that order.

    Raises:
        ValueError: parts of different builds, missing, repeated or out of order (names the folders).
    """
    indexes = [manifest["signature"][PART_KEY] for manifest in manifests]
    expected = [[index, len(folders)] for index in range(len(folders))]
    if indexes != expected:
        listed = ", ".join(f"{folder} = part {index[0]} of {index[1]}" for folder, index in zip(folders, indexes))
        raise ValueError(f"give every part once, in part order 0..K-1 ({listed})")
    common = [{key: value for key, value in m["signature"].items() if key != PART_KEY} for m in manifests]
    for folder, signature in zip(folders[1:], common[1:]):
        if signature != common[0]:
            raise ValueError(f"{folder} was built with other settings than {folders[0]}: {signature} != {common[0]}")
    return common[0]


def merge_parts(
    folder: str | Path,
    parts: Sequence[str | Path],
    description: DatasetDescription,
    config_name: str = DEFAULT_CONFIG,
    overwrite: bool = False,
) -> BuildSummary:
    """Join the part folders (parts 0..K-1 of one build, finished, in order) into the dataset folder `folder`.

    Args:
        folder: the merged dataset folder (new or empty, unless `overwrite`).
        parts: the part folders, part 0 first.
        description: the card's description (the builder's own, so the card is the whole build's).
        config_name: configuration name in the card.
        overwrite: replace what `folder` holds.

    Returns:
        The `BuildSummary` of the merged dataset (`records_read` 0: nothing was read again).

    Raises:
        ValueError: see `_read_part` and `_check_parts`.
        FileExistsError: `folder` holds files and `overwrite` is False.
    """
    started = time.perf_counter()
    folder, folders = Path(folder), [Path(part) for part in parts]
    manifests = [_read_part(part) for part in folders]
    signature = _check_parts(folders, manifests)
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{folder} is not empty: merge into a new folder or pass overwrite")
        shutil.rmtree(folder)
    manifest = ProgressManifest(folder, signature)
    split_names = list(dict.fromkeys(name for m in manifests for name in m["splits"]))
    for split in split_names:
        merged = manifest.split(split)
        for part, stored in zip(folders, manifests):
            progress = stored["splits"].get(split)
            if progress is None:
                continue
            for shard in progress["shards"]:
                name = shard_file_name(split, len(merged.shards))
                link_or_copy(part / shard["file"], folder / name)
                merged.shards.append(ShardInfo(name, shard["rows"], shard["num_bytes"]))
            merged.consumed = max(merged.consumed, progress["consumed"])
        merged.complete = True
    rejects = _merge_rejects(folders, split_names, folder / REJECTS_FILE)
    manifest.save()
    return _write_card(folder, manifest, signature, rejects, description, config_name, started)


def _merge_rejects(folders: Sequence[Path], split_names: Sequence[str], path: Path) -> dict[str, int]:
    """One `rejects.jsonl` of the parts' lines, ordered by split then position (as one build writes them);
    -> rejected records per category."""
    entries = []
    for part in folders:
        source = part / REJECTS_FILE
        if source.exists():
            entries += [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    order = {name: index for index, name in enumerate(split_names)}
    entries.sort(key=lambda entry: (order.get(entry["split"], len(order)), entry["position"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["category"]] = counts.get(entry["category"], 0) + 1
    return counts


def _write_card(
    folder: Path, manifest: ProgressManifest, signature: dict[str, Any], rejects: dict[str, int],
    description: DatasetDescription, config_name: str, started: float,
) -> BuildSummary:
    features = Features.from_dict(signature["features"])
    splits: dict[str, SplitProgress] = {name: p for name, p in manifest.splits.items() if p.rows > 0}
    infos = [SplitInfo(name=name, num_bytes=p.num_bytes, num_examples=p.rows) for name, p in splits.items()]
    summary = BuildSummary(folder, {info.name: info.num_examples for info in infos}, sum(rejects.values()), rejects,
                           0, time.perf_counter() - started, 0)
    notes = f"{build_notes(summary)}\n\n{storage_note(features['ecg'].dtype)}"
    write_dataset_card(folder, description, features, infos, config_name, notes)
    logger.info("%s: merged %d parts, %d rows", folder, len(manifest.splits), summary.built)
    return summary


__all__ = ["PART_KEY", "link_or_copy", "merge_parts"]
