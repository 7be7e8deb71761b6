"""Input checks and output conventions shared by the multi-label metric modules of this folder (imported
relatively, which `evaluate.load` supports for files beside the metric script)."""

import numpy as np


def check_multilabel_inputs(references, scores):
    """-> references (N, L) float64 of 0/1, scores (N, L) float64; ValueError on wrong shapes, NaN or non-binary."""
    references = np.asarray(references, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if references.ndim != 2 or references.shape != scores.shape:
        raise ValueError(
            f"references and predictions must both have shape (N, L); got {references.shape} and {scores.shape}"
        )
    if not np.isfinite(scores).all():
        raise ValueError(f"predictions hold {int((~np.isfinite(scores)).sum())} NaN or infinite values")
    if not np.isin(references, (0.0, 1.0)).all():
        raise ValueError("references must be 0/1 multi-hot targets")
    return references, scores


def none_for_nan(values):
    """(L,) floats with NaN for undefined entries -> list of floats with None (JSON-friendly)."""
    return [None if np.isnan(value) else float(value) for value in values]
