"""Training rows whose entity extraction failed: their entities are unknown, not absent, so they are left out."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..entities.annotate import FAILED_COLUMN as FAILED_EXTRACTION_COLUMN

logger = logging.getLogger(__name__)


def without_failed_extractions(split: Any, where: str) -> Any:
    """The rows of `split` whose entity extraction did not fail.

    A row marked in `FAILED_EXTRACTION_COLUMN` has no entities because the extractor gave none, not because its
    report states none: trained on, it would teach every label as absent. Such rows are left out (with a warning
    that counts them); a split without the column is returned as it is.

    Raises:
        ValueError: every row of the split is marked (names `where`).
    """
    if FAILED_EXTRACTION_COLUMN not in split.column_names:
        return split
    failed = np.asarray(split.with_format("numpy", columns=[FAILED_EXTRACTION_COLUMN])[FAILED_EXTRACTION_COLUMN], bool)
    if not failed.any():
        return split
    if failed.all():
        raise ValueError(
            f"{where}: the entity extraction failed for all {len(failed)} rows ({FAILED_EXTRACTION_COLUMN}); "
            "run the extraction again"
        )
    logger.warning(
        "%s: skipping %d of %d rows whose entity extraction failed (%s)", where, failed.sum(), len(failed),
        FAILED_EXTRACTION_COLUMN,
    )
    return split.select(np.flatnonzero(~failed))


__all__ = ["FAILED_EXTRACTION_COLUMN", "without_failed_extractions"]
