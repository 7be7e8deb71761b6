"""The training state of a checkpoint without pickle: JSON for structure and numbers, safetensors for tensors.

`accelerator.save_state` writes `custom_checkpoint_*.pkl`, `random_states_*.pkl`, `optimizer.bin` and
`sampler.bin`, which `load_state` unpickles: resuming from a downloaded checkpoint could run its code. Here every
file of a checkpoint is JSON or safetensors, and loading never unpickles anything:

- `model.safetensors`: the model's full state dict (gathered from every process for sharded models);
- `optimizer.json` + `optimizer.safetensors`: the optimizer's state dict (keyed by parameter name);
- `loop_state.json` (+ `loop_state.safetensors` when an entry holds tensors): the state dicts of the loop's
  stateful objects (LR scheduler, gradient scaler, whatever the trainer registers: see `Stateful`);
- `rng_state_<rank>.json` + `.safetensors`: the random states (Python, NumPy, torch, CUDA) of every process.

A nested state dict is stored as a JSON tree in which each tensor or array is replaced by a reference
`{"__tensor__": key}` into the safetensors file, and each mapping with non-string keys by `{"__items__": [[k, v]...]}`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

MODEL_FILE = "model.safetensors"
OPTIMIZER_STEM = "optimizer"
LOOP_STATE_STEM = "loop_state"
RNG_STEM = "rng_state_{rank}"

_TENSOR = "__tensor__"
_ARRAY = "__ndarray__"
_ITEMS = "__items__"
_TUPLE = "__tuple__"

# What a checkpoint file that cannot be read raises (truncated, garbage, missing, not the expected content).
CHECKPOINT_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError)


class Stateful(Protocol):
    """What the loop state holds: an object with a JSON-able `state_dict()` (tensors and arrays allowed inside)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# -- JSON trees with tensors on the side ---------------------------------------------------------------------------


def to_json_tree(value: Any, tensors: dict[str, torch.Tensor], path: str = "") -> Any:
    """`value` as a JSON-able tree; tensors and numpy arrays move into `tensors` (keyed by their path).

    Raises:
        TypeError: a value that is neither JSON-able, a tensor nor an array (names its path).
    """
    if isinstance(value, torch.Tensor):
        tensors[path] = value.detach().cpu().contiguous().clone()
        return {_TENSOR: path}
    if isinstance(value, np.ndarray):
        tensors[path] = torch.from_numpy(np.ascontiguousarray(value).copy())
        return {_ARRAY: path}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        if all(isinstance(key, str) for key in value):
            return {key: to_json_tree(item, tensors, f"{path}.{key}") for key, item in value.items()}
        return {_ITEMS: [[key, to_json_tree(item, tensors, f"{path}.{key}")] for key, item in value.items()]}
    if isinstance(value, tuple):
        return {_TUPLE: [to_json_tree(item, tensors, f"{path}.{index}") for index, item in enumerate(value)]}
    if isinstance(value, list):
        return [to_json_tree(item, tensors, f"{path}.{index}") for index, item in enumerate(value)]
    raise TypeError(f"state entry {path or '(root)'}: {type(value).__name__} cannot be saved without pickle")


def from_json_tree(tree: Any, tensors: Mapping[str, torch.Tensor], source: str) -> Any:
    """The inverse of `to_json_tree`; KeyError naming `source` for a reference to a tensor it lacks."""
    if isinstance(tree, list):
        return [from_json_tree(item, tensors, source) for item in tree]
    if not isinstance(tree, dict):
        return tree
    if _TENSOR in tree or _ARRAY in tree:
        key = tree.get(_TENSOR, tree.get(_ARRAY))
        if key not in tensors:
            raise KeyError(f"{source}: tensor {key!r} is missing")
        return tensors[key] if _TENSOR in tree else tensors[key].numpy()
    if _ITEMS in tree:
        return {_json_key(key): from_json_tree(item, tensors, source) for key, item in tree[_ITEMS]}
    if _TUPLE in tree:
        return tuple(from_json_tree(item, tensors, source) for item in tree[_TUPLE])
    return {key: from_json_tree(item, tensors, source) for key, item in tree.items()}


def _json_key(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def write_tree(folder: Path, stem: str, value: Any) -> None:
    """`<stem>.json` and, when `value` holds tensors, `<stem>.safetensors` in `folder`."""
    tensors: dict[str, torch.Tensor] = {}
    tree = to_json_tree(value, tensors)
    if tensors:
        save_file(tensors, str(folder / f"{stem}.safetensors"))
    (folder / f"{stem}.json").write_text(json.dumps(tree, indent=1) + "\n", encoding="utf-8")


def read_tree(folder: Path, stem: str) -> Any:
    """What `write_tree` wrote. Raises ValueError naming the file that cannot be read."""
    json_path, tensor_path = folder / f"{stem}.json", folder / f"{stem}.safetensors"
    try:
        tree = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{json_path}: unreadable ({error})") from error
    tensors = read_safetensors(tensor_path) if tensor_path.exists() else {}
    return from_json_tree(tree, tensors, str(tensor_path))


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """`load_file`, with an error that names the file (safetensors' own names none)."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from error


# -- random states ---------------------------------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """The random states of this process: Python, NumPy, torch CPU and (when present) every CUDA device."""
    state: dict[str, Any] = {
        "python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what `rng_state` returned (read back through `read_tree`)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


__all__ = [
    "CHECKPOINT_ERRORS",
    "LOOP_STATE_STEM",
    "MODEL_FILE",
    "OPTIMIZER_STEM",
    "RNG_STEM",
    "Stateful",
    "from_json_tree",
    "read_safetensors",
    "read_tree",
    "rng_state",
    "set_rng_state",
    "to_json_tree",
    "write_tree",
]
