"""`batched`: the package's one way to go through items in chunks of N (Python 3.11 has no `itertools.batched`).

It travels with every checkpoint (the zero-shot scoring chunks label texts with it), so it imports nothing of the
package.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any


def batched(items: Iterable[Any], size: int) -> Iterator[Any]:
    """Consecutive chunks of `size` items, the last one shorter when `len(items)` is no multiple of `size`.

    A sequence, tensor or array (anything with `len` and slicing) gives slices of itself: lists of a list, views
    (B, ...) of a tensor (N, ...) or array; any other iterable is read lazily and gives lists, so a stream is never
    held in memory.

    Raises:
        ValueError: `size` is not a positive integer.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"batched: size must be a positive integer, got {size!r}")
    if hasattr(items, "__len__") and hasattr(items, "__getitem__") and not isinstance(items, dict):
        return (items[start : start + size] for start in range(0, len(items), size))
    return _lazy_chunks(iter(items), size)


def _lazy_chunks(iterator: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


__all__ = ["batched"]
