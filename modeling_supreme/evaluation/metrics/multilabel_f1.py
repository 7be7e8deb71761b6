"""Multi-label F1 at per-label decision thresholds, and the choice of those thresholds on a validation split.

Protocol: `choose_f1_thresholds(validation_references, validation_scores)` picks, for each label, the threshold that
maximises F1 on the validation split; the test F1 is then computed at those thresholds (never tuned on test).
Self-contained (numpy; plus `multilabel_inputs.py` beside it) so that
`evaluate.load("<path of this file>")` works offline; the package imports the functions.
"""

import evaluate
import numpy as np

from .multilabel_inputs import check_multilabel_inputs, mean_of_defined, multilabel_metric_info, none_for_nan

# Threshold of a label that has no positive on the validation split (nothing to tune it on).
DEFAULT_THRESHOLD = 0.5

_DESCRIPTION = """
F1 of each label of a multi-label problem, predicting positive where score >= threshold (one threshold per label or
one for all), and the mean over labels. A label with no positive reference and no positive prediction has no F1:
it is reported as None and left out of the mean. Choose the thresholds on validation data with
`choose_f1_thresholds` (in this script), then pass them here for the test split.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: (N, L) scores.
    references: (N, L) 0/1 targets.
    thresholds: one float, or L floats (one per label); default 0.5.
Returns:
    f1: mean F1 over the labels where it is defined, in [0, 1] (None if nowhere).
    per_label: list of L F1 values, None where undefined.
Example:
    >>> metric = evaluate.load("path/to/multilabel_f1.py")
    >>> metric.compute(predictions=[[0.9, 0.1], [0.2, 0.8], [0.7, 0.05]], references=[[1, 0], [0, 1], [0, 1]],
    ...                thresholds=[0.5, 0.5])
    {'f1': 0.6666666666666666, 'per_label': [0.6666666666666666, 0.6666666666666666]}
"""

_CITATION = """
@book{vanrijsbergen1979,
  title={Information Retrieval}, author={van Rijsbergen, C. J.}, publisher={Butterworths}, year={1979}
}
"""


def f1_per_label(references, scores, thresholds=DEFAULT_THRESHOLD):
    """references (N, L) 0/1, scores (N, L), thresholds scalar or (L,) -> F1 per label (L,), NaN where undefined."""
    references, scores = check_multilabel_inputs(references, scores)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (references.shape[1],))
    predicted = scores >= thresholds
    true_positives = (predicted & (references == 1)).sum(axis=0)
    denominator = predicted.sum(axis=0) + references.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, 2 * true_positives / denominator, np.nan)


def choose_f1_thresholds(references, scores):
    """Per label, the threshold in the observed scores that maximises F1 on these (validation) data.

    references (N, L) 0/1, scores (N, L) -> thresholds (L,); `DEFAULT_THRESHOLD` for labels without positives.
    """
    references, scores = check_multilabel_inputs(references, scores)
    thresholds = np.full(references.shape[1], DEFAULT_THRESHOLD)
    for label in np.flatnonzero(references.sum(axis=0) > 0):
        order = np.argsort(-scores[:, label], kind="stable")
        sorted_scores, sorted_targets = scores[order, label], references[order, label]
        true_positives = np.cumsum(sorted_targets)
        predicted = np.arange(1, len(order) + 1)
        # A threshold can only sit at the last of a run of tied scores: everything tied is predicted together.
        run_ends = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
        f1 = 2 * true_positives / (predicted + true_positives[-1])
        best = np.flatnonzero(run_ends)[np.argmax(f1[run_ends])]
        thresholds[label] = sorted_scores[best]
    return thresholds


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultilabelF1(evaluate.Metric):
    def _info(self):
        return multilabel_metric_info(
            _DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION, ["https://en.wikipedia.org/wiki/F-score"]
        )

    def _compute(self, predictions, references, thresholds=DEFAULT_THRESHOLD):
        per_label = f1_per_label(references, predictions, thresholds)
        return {"f1": mean_of_defined(per_label), "per_label": none_for_nan(per_label)}
