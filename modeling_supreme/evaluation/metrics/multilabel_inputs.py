"""Input checks and output conventions shared by the multi-label metric modules of this folder (imported
relatively, which `evaluate.load` supports for files beside the metric script)."""

import datasets
import evaluate
import numpy as np


def multilabel_features():
    """Features of the metric inputs: one row of L scores (predictions) and of L 0/1 targets (references)."""
    return datasets.Features(
        {
            "predictions": datasets.List(datasets.Value("float64")),
            "references": datasets.List(datasets.Value("int32")),
        }
    )


def multilabel_metric_info(description, citation, inputs_description, reference_urls):
    """The `evaluate.MetricInfo` of a multi-label metric of this folder: its texts over `multilabel_features()`."""
    return evaluate.MetricInfo(
        description=description,
        citation=citation,
        inputs_description=inputs_description,
        features=multilabel_features(),
        reference_urls=list(reference_urls),
    )


def mean_of_defined(per_label):
    """Mean over the labels whose value is defined (not NaN); None when none is."""
    defined = per_label[~np.isnan(per_label)]
    return float(defined.mean()) if defined.size else None


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
