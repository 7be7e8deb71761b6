"""Resuming and accounting: the progress manifest (`progress.json`) and the rejects file (`rejects.jsonl`)."""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .shards import ShardInfo
from .tasks import Rejection

PROGRESS_FILE = "progress.json"
REJECTS_FILE = "rejects.jsonl"


def _write_json_atomically(path: Path, payload: Any) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(payload, indent=1))
    os.replace(temporary, path)


@dataclasses.dataclass
class SplitProgress:
    """Finished shards of a split; `consumed` = stream items (tasks and rejections) covered by them."""

    shards: list[ShardInfo] = dataclasses.field(default_factory=list)
    consumed: int = 0
    complete: bool = False

    @property
    def rows(self) -> int:
        return sum(shard.rows for shard in self.shards)

    @property
    def num_bytes(self) -> int:
        return sum(shard.num_bytes for shard in self.shards)


class ProgressManifest:
    """`progress.json`: the build's settings and, per split, the finished shards and how far they reach."""

    def __init__(self, folder: Path, signature: Mapping[str, Any]):
        self.path = folder / PROGRESS_FILE
        self.signature = json.loads(json.dumps(signature))  # normalised as it is stored
        self.splits: dict[str, SplitProgress] = {}

    @classmethod
    def load_or_create(cls, folder: Path, signature: Mapping[str, Any], overwrite: bool) -> ProgressManifest:
        """Resume the build recorded in `folder`, or start a new one.

        Raises:
            FileExistsError: `folder` holds files of another build (different settings, or no manifest),
                and `overwrite` is False.
        """
        manifest = cls(folder, signature)
        if overwrite or not folder.exists() or not any(folder.iterdir()):
            return manifest
        if not manifest.path.exists():
            raise FileExistsError(
                f"{folder} is not empty and holds no {PROGRESS_FILE}: choose another output folder or pass overwrite"
            )
        stored = json.loads(manifest.path.read_text())
        if stored["signature"] != manifest.signature:
            raise FileExistsError(
                f"{folder} holds a build with other settings ({stored['signature']} != {manifest.signature}); "
                "choose another output folder or pass overwrite to start again"
            )
        for split, progress in stored["splits"].items():
            shards = [ShardInfo(**shard) for shard in progress["shards"]]
            manifest.splits[split] = SplitProgress(shards, progress["consumed"], progress["complete"])
        return manifest

    def split(self, name: str) -> SplitProgress:
        return self.splits.setdefault(name, SplitProgress())

    def save(self) -> None:
        splits = {
            name: {"shards": [dataclasses.asdict(s) for s in p.shards], "consumed": p.consumed, "complete": p.complete}
            for name, p in self.splits.items()
        }
        _write_json_atomically(self.path, {"signature": self.signature, "splits": splits})


class RejectLog:
    """`rejects.jsonl`: one JSON line {split, position, id, path, reason, category} per record left out."""

    def __init__(self, folder: Path):
        self.path = folder / REJECTS_FILE

    def keep_finished(self, consumed: Mapping[str, int]) -> None:
        """Drop the lines a previous, interrupted run wrote after its last finished shard (they are redone)."""
        if not self.path.exists():
            return
        entries = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        kept = [json.dumps(entry) for entry in entries if entry["position"] < consumed.get(entry["split"], 0)]
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_text("".join(line + "\n" for line in kept))
        os.replace(temporary, self.path)

    def add(self, split: str, position: int, rejection: Rejection) -> None:
        entry = {
            "split": split,
            "position": position,
            "id": rejection.record_id,
            "path": rejection.path,
            "reason": rejection.reason,
            "category": rejection.category,
        }
        with self.path.open("a") as file:
            file.write(json.dumps(entry) + "\n")

    def categories(self) -> collections.Counter[str]:
        """Number of rejected records per category."""
        counts: collections.Counter[str] = collections.Counter()
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    counts[json.loads(line)["category"]] += 1
        return counts
