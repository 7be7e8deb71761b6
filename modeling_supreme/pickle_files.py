"""Finding pickle files, which run code when they are loaded: nothing this package publishes may hold one.

A file counts as a pickle when its name says so (`.pkl`, `.pt`, `.bin`...) or when its bytes do: a pickle of
protocol 2-5, or a zip archive holding one (the format of `torch.save`). Formats this package writes and reads
(safetensors, JSON, Parquet, text) are recognised by name and not sniffed: a safetensors header length can begin
with the same bytes as a pickle.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill"})
SAFE_SUFFIXES = frozenset({".safetensors", ".json", ".jsonl", ".parquet", ".arrow", ".md", ".txt", ".yaml", ".yml",
                           ".py", ".csv", ".png", ".model"})
_PICKLE_PROTOCOLS = range(2, 6)


def is_pickle_file(path: Path) -> bool:
    """Whether `path` is (or holds) a pickle, by name or by content (see the module docstring)."""
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return True
    if suffix in SAFE_SUFFIXES:
        return False
    with open(path, "rb") as handle:
        head = handle.read(2)
    if len(head) == 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return True
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith((".pkl", ".pickle")) for name in archive.namelist())
    return False


def find_pickle_files(folder: str | Path) -> list[Path]:
    """Every pickle file under `folder` (recursively), sorted."""
    return sorted(path for path in Path(folder).rglob("*") if path.is_file() and is_pickle_file(path))


def refuse_pickle_files(folder: str | Path, what: str) -> None:
    """Raise if `folder` holds a pickle file.

    Args:
        folder: the folder about to be published or loaded.
        what: what is done with it ("publish"), for the message.

    Raises:
        ValueError: naming the folder and up to ten of its pickle files.
    """
    found = find_pickle_files(folder)
    if found:
        names = [str(path.relative_to(folder)) for path in found[:10]]
        raise ValueError(
            f"refusing to {what} {folder}: it holds {len(found)} pickle file(s) {names}, which run code when loaded; "
            "remove them (weights belong in .safetensors, state in JSON)"
        )


__all__ = ["find_pickle_files", "is_pickle_file", "refuse_pickle_files"]
