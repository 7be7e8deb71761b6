"""Step timing of the training loop: wall-clock seconds per optimisation step and the part of it spent waiting for
batches (`train/data_time`, `train/step_time`, as open_clip and timm log them).

On a GPU the step's kernels run asynchronously, so one step's wall time is not its compute time; averaged over a
logging window (whose loss `.item()` synchronises) the mean is. The time spent in validation and checkpoints between
steps is left out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

Batch = TypeVar("Batch")


class StepTimer:
    """Accumulates data-wait and step seconds over a logging window.

    Usage::

        timer.restart()                       # a window of steps begins (after set-up, validation, checkpoints)
        for batch in timer.timed(loader):     # time spent in the loader's __next__ counts as data time
            if step_completed(batch):
                timer.step_done()             # the step's wall time since the last mark
        timer.means()                         # {"train/data_time", "train/step_time"} per step, then reset
    """

    def __init__(self) -> None:
        self._data_seconds = 0.0
        self._step_seconds = 0.0
        self._steps = 0
        self._mark: float | None = None

    def restart(self) -> None:
        """Start timing from now (time before this is not part of any step)."""
        self._mark = time.perf_counter()

    def timed(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        """`batches`, with the time each `next()` takes added to the data time."""
        iterator = iter(batches)
        while True:
            started = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                self._data_seconds += time.perf_counter() - started  # an epoch's end can wait for workers too
                return
            self._data_seconds += time.perf_counter() - started
            yield batch

    def step_done(self) -> None:
        """An optimisation step ended: its wall time since the previous mark counts as step time."""
        now = time.perf_counter()
        if self._mark is not None:
            self._step_seconds += now - self._mark
            self._steps += 1
        self._mark = now

    def means(self) -> dict[str, float]:
        """Mean data and step seconds per step since the last call ({} when no step was timed); resets."""
        if not self._steps:
            return {}
        means = {"train/data_time": self._data_seconds / self._steps,
                 "train/step_time": self._step_seconds / self._steps}
        self._data_seconds, self._step_seconds, self._steps = 0.0, 0.0, 0
        return means


def data_bound_message(means: dict[str, float], fraction: float) -> str | None:
    """A warning when waiting for data exceeds `fraction` of the step time (None otherwise, or when fraction is 0)."""
    if fraction <= 0 or not means:
        return None
    data, step = means["train/data_time"], means["train/step_time"]
    if data <= fraction * step:
        return None
    return (
        f"waiting for batches took {data:.3f} s of each {step:.3f} s step ({100 * data / step:.0f} %, above "
        f"--data-time-warning {fraction:g}): the input pipeline limits training; raise --num-workers"
    )


__all__ = ["StepTimer", "data_bound_message"]
