"""Checks of a local model folder's files around `from_pretrained`: a downloaded folder is untrusted input.

- `unreadable_weight_files`: the safetensors files whose header or extents cannot be read (truncated, garbage).
- `mismatched_weight_dtypes`: tensors whose stored dtype is of another kind (integer, float, bool) than the model's
  parameter of that name: a header that relabels float32 bytes as int32 would load as garbage and score `nan`.
- `check_json_nesting`: JSON files (tokenizer.json...) nested deeper than any real one, which every JSON reader of the
  stack answers with a raw RecursionError.

This file travels with checkpoints as remote code: it imports only installed libraries.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

logger = logging.getLogger(__name__)

# Real tokenizer and config files nest a handful of levels; Python's JSON reader recurses once per level.
MAX_JSON_DEPTH = 100
# The JSON files of a model folder that transformers reads with a recursive parser.
FOLDER_JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "processor_config.json",
                     "preprocessor_config.json")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def local_folder(path: Any) -> str | None:
    """`path` when it is a local folder (not a Hub id), else None."""
    return str(path) if isinstance(path, (str, os.PathLike)) and os.path.isdir(path) else None


def _safetensors_files(folder: str) -> list[str]:
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith(".safetensors")]


def unreadable_weight_files(folder: Any) -> list[str]:
    """The `*.safetensors` files of a local model folder whose header cannot be read or whose tensors' extents do not
    lie inside the file."""
    folder = local_folder(folder)
    broken = []
    for path in _safetensors_files(folder) if folder else []:
        try:
            with safe_open(path, framework="pt") as weights:
                for key in weights.keys():
                    weights.get_slice(key)
        except (SafetensorError, OSError) as error:
            logger.debug("%s: %s", path, error)
            broken.append(path)
    return broken


def _stored_kind(dtype: str) -> str:
    """A safetensors dtype ("F32", "BF16", "I64", "U8", "BOOL", "F8_E4M3"...) -> "float", "int" or "bool"."""
    if dtype == "BOOL":
        return "bool"
    return "float" if dtype.startswith(("F", "BF")) else "int"


def _parameter_kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "bool"
    return "float" if dtype.is_floating_point or dtype.is_complex else "int"


def mismatched_weight_dtypes(folder: Any, expected: Mapping[str, torch.dtype]) -> list[str]:
    """One description per tensor of a local folder's safetensors files that is stored as another kind of number than
    the parameter or buffer of the same name in `expected` (a model's state dict dtypes). Half precision for a float32
    parameter is fine (same kind); tensors the model does not have are left to `from_pretrained`'s own report."""
    folder = local_folder(folder)
    problems = []
    for path in _safetensors_files(folder) if folder else []:
        with safe_open(path, framework="pt") as weights:
            for key in weights.keys():
                stored = weights.get_slice(key).get_dtype()
                want = expected.get(key)
                if want is not None and _stored_kind(stored) != _parameter_kind(want):
                    problems.append(f"tensor {key!r} is stored as {stored} in {path}, the model's parameter is {want}")
    return problems


def json_depth(data: bytes) -> int:
    """The deepest nesting of objects and arrays in JSON text, found without recursion (strings skipped)."""
    structure = np.frombuffer(_JSON_STRING.sub(b'""', data), dtype=np.uint8)
    steps = np.isin(structure, (ord("["), ord("{"))).astype(np.int64) - np.isin(structure, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def check_json_nesting(folder: Any, names: Iterable[str] = FOLDER_JSON_FILES) -> None:
    """Refuse a JSON file of a local model folder nested deeper than `MAX_JSON_DEPTH`, before a recursive reader
    fails on it with a RecursionError that names no file.

    Raises:
        ValueError: naming the file and its depth.
    """
    folder = local_folder(folder)
    for name in names if folder else ():
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                depth = json_depth(handle.read())
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"{path}: JSON nested {depth} levels deep (at most {MAX_JSON_DEPTH} are read); the "
                                 "file is damaged or hostile, not a model folder's file")


__all__ = ["MAX_JSON_DEPTH", "check_json_nesting", "json_depth", "local_folder", "mismatched_weight_dtypes",
           "unreadable_weight_files"]
