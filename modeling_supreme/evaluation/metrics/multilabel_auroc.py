"""Multi-label AUROC: the area under the ROC curve of every label column, and their mean.

Self-contained (numpy, scipy; plus `multilabel_inputs.py` beside it) so that
`evaluate.load("<path of this file>")` works offline; the package imports
`roc_auc_per_label` from here, so the benchmark and `evaluate` users compute the same numbers.
"""

import evaluate
import numpy as np
from scipy.stats import rankdata

from .multilabel_inputs import check_multilabel_inputs, mean_of_defined, multilabel_metric_info, none_for_nan

_DESCRIPTION = """
AUROC of each label of a multi-label problem, computed from ranks (Mann-Whitney U; tied scores get their average
rank, which equals scikit-learn's `roc_auc_score`). A label whose references hold a single class has no AUROC: it
is reported as None and left out of the mean, never counted as 0 or 0.5.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: (N, L) scores, higher = more likely positive (probabilities or logits).
    references: (N, L) 0/1 targets.
Returns:
    roc_auc: mean AUROC over the labels that have both classes, in [0, 1] (None if no label has both).
    per_label: list of L AUROC values in [0, 1], None where a label has a single class.
Example:
    >>> metric = evaluate.load("path/to/multilabel_auroc.py")
    >>> metric.compute(predictions=[[0.9, 0.1], [0.2, 0.8], [0.7, 0.05]], references=[[1, 0], [0, 1], [1, 1]])
    {'roc_auc': 0.75, 'per_label': [1.0, 0.5]}
"""

_CITATION = """
@article{hanley1982auc,
  title={The meaning and use of the area under a receiver operating characteristic (ROC) curve},
  author={Hanley, James A and McNeil, Barbara J},
  journal={Radiology}, volume={143}, number={1}, pages={29--36}, year={1982}
}
"""


def roc_auc_per_label(references, scores):
    """references (N, L) 0/1, scores (N, L) -> AUROC per label (L,) float64, NaN where a label has one class."""
    references, scores = check_multilabel_inputs(references, scores)
    positives = references.sum(axis=0)
    negatives = references.shape[0] - positives
    ranks = rankdata(scores, axis=0)
    rank_sum = (ranks * references).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    auc[(positives == 0) | (negatives == 0)] = np.nan
    return auc


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultilabelAuroc(evaluate.Metric):
    def _info(self):
        return multilabel_metric_info(
            _DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION, ["https://en.wikipedia.org/wiki/Receiver_operating_characteristic"]
        )

    def _compute(self, predictions, references):
        per_label = roc_auc_per_label(references, predictions)
        return {"roc_auc": mean_of_defined(per_label), "per_label": none_for_nan(per_label)}
