"""Multi-label AUPRC: average precision (area under the precision-recall curve) of every label column, and their mean.

Self-contained (numpy, scikit-learn; plus `multilabel_inputs.py` beside it) so that
`evaluate.load("<path of this file>")` works offline; the package imports
`average_precision_per_label` from here.
"""

import evaluate
import numpy as np
from sklearn.metrics import average_precision_score

from .multilabel_inputs import check_multilabel_inputs, mean_of_defined, multilabel_metric_info, none_for_nan

_DESCRIPTION = """
Average precision (AP, scikit-learn's step-wise area under the precision-recall curve) of each label of a multi-label
problem. A label without any positive reference has no AP: it is reported as None and left out of the mean.
Unlike AUROC, AP depends on prevalence: a random scorer gets the label's positive rate, not 0.5.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: (N, L) scores, higher = more likely positive.
    references: (N, L) 0/1 targets.
Returns:
    average_precision: mean AP over the labels with at least one positive, in [0, 1] (None if there is none).
    per_label: list of L AP values, None where a label has no positive.
Example:
    >>> metric = evaluate.load("path/to/multilabel_auprc.py")
    >>> metric.compute(predictions=[[0.9, 0.1], [0.2, 0.8], [0.7, 0.05]], references=[[1, 0], [0, 1], [0, 0]])
    {'average_precision': 1.0, 'per_label': [1.0, 1.0]}
"""

_CITATION = """
@article{davis2006prroc,
  title={The relationship between precision-recall and ROC curves},
  author={Davis, Jesse and Goadrich, Mark}, journal={ICML}, year={2006}
}
"""


def average_precision_per_label(references, scores):
    """references (N, L) 0/1, scores (N, L) -> AP per label (L,) float64, NaN where a label has no positive."""
    references, scores = check_multilabel_inputs(references, scores)
    result = np.full(references.shape[1], np.nan)
    for label in np.flatnonzero(references.sum(axis=0) > 0):
        result[label] = average_precision_score(references[:, label], scores[:, label])
    return result


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultilabelAuprc(evaluate.Metric):
    def _info(self):
        return multilabel_metric_info(
            _DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION, ["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.average_precision_score.html"]
        )

    def _compute(self, predictions, references):
        per_label = average_precision_per_label(references, predictions)
        return {
            "average_precision": mean_of_defined(per_label),
            "per_label": none_for_nan(per_label),
        }
