"""`batched`, the package's one chunking helper: slices of sequences, tensors and arrays; lazy lists of streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling_supreme.batching_supreme import batched


def test_a_list_comes_in_slices_with_a_short_last_one():
    assert list(batched([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(batched([], 3)) == []
    assert list(batched(range(4), 4)) == [range(0, 4)]


def test_tensors_and_arrays_come_as_views_of_themselves():
    values = torch.arange(10).reshape(5, 2)
    chunks = list(batched(values, 2))
    assert [tuple(chunk.shape) for chunk in chunks] == [(2, 2), (2, 2), (1, 2)]
    assert chunks[0].data_ptr() == values.data_ptr()  # a view, not a copy
    array_chunks = list(batched(np.arange(7), 3))
    assert [chunk.tolist() for chunk in array_chunks] == [[0, 1, 2], [3, 4, 5], [6]]


def test_a_stream_is_read_lazily():
    consumed = []

    def stream():
        for item in range(7):
            consumed.append(item)
            yield item

    chunks = batched(stream(), 3)
    assert next(chunks) == [0, 1, 2] and consumed == [0, 1, 2]
    assert list(chunks) == [[3, 4, 5], [6]]


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "2"])
def test_a_size_that_is_no_positive_integer_is_refused(size):
    with pytest.raises(ValueError, match="size must be a positive integer"):
        batched([1, 2], size)
