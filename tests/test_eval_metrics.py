"""The shipped metric modules and the zero-shot metric helpers: agreement with scikit-learn, undefined labels,
offline `evaluate.load`, bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from modeling_supreme.evaluation import auroc_per_label, bootstrap_ci, mean_auroc
from modeling_supreme.evaluation.metrics import (
    average_precision_per_label,
    choose_f1_thresholds,
    f1_per_label,
    metric_path,
    roc_auc_per_label,
)


def random_problem(records: int = 300, labels: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Targets with varied prevalence and scores with signal and many ties (rounded to 0.05)."""
    generator = np.random.default_rng(seed)
    targets = (generator.random((records, labels)) < np.linspace(0.05, 0.5, labels)).astype(int)
    scores = np.round(generator.random((records, labels)) + 0.4 * targets, 1) / 2
    return targets, scores


def test_auroc_equals_scikit_learn_with_ties():
    targets, scores = random_problem()
    expected = [roc_auc_score(targets[:, label], scores[:, label]) for label in range(targets.shape[1])]
    np.testing.assert_allclose(roc_auc_per_label(targets, scores), expected, rtol=0, atol=1e-12)


def test_single_class_labels_are_undefined_not_zero():
    targets, scores = random_problem(labels=3)
    targets[:, 1] = 0
    targets[:, 2] = 1
    per_label = auroc_per_label(targets, scores, ["a", "b", "c"])
    assert per_label["b"] is None and per_label["c"] is None
    assert mean_auroc(per_label) == pytest.approx(100 * roc_auc_score(targets[:, 0], scores[:, 0]))
    assert np.isnan(mean_auroc({"b": None}))
    # The (L,) array of roc_auc_per_label (NaN where undefined) gives the same mean as the mapping.
    assert mean_auroc(roc_auc_per_label(targets, scores)) == mean_auroc(per_label)
    assert np.isnan(mean_auroc(roc_auc_per_label(targets[:, 1:], scores[:, 1:])))
    assert mean_auroc([80.0, None, 60.0], scale=1.0) == pytest.approx(70.0)


def test_metric_inputs_are_validated():
    targets, scores = random_problem(labels=2)
    with pytest.raises(ValueError, match="shape"):
        roc_auc_per_label(targets, scores[:, :1])
    with pytest.raises(ValueError, match="0/1"):
        roc_auc_per_label(targets * 2, scores)
    scores[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        roc_auc_per_label(targets, scores)
    with pytest.raises(ValueError, match="label names"):
        auroc_per_label(targets, np.zeros_like(scores), ["only one"])


def test_average_precision_and_f1_equal_scikit_learn():
    targets, scores = random_problem()
    expected_ap = [average_precision_score(targets[:, label], scores[:, label]) for label in range(targets.shape[1])]
    np.testing.assert_allclose(average_precision_per_label(targets, scores), expected_ap, atol=1e-12)
    thresholds = np.linspace(0.2, 0.4, targets.shape[1])
    expected_f1 = [
        f1_score(targets[:, label], scores[:, label] >= thresholds[label]) for label in range(targets.shape[1])
    ]
    np.testing.assert_allclose(f1_per_label(targets, scores, thresholds), expected_f1, atol=1e-12)


def test_f1_thresholds_chosen_on_validation_are_optimal():
    targets, scores = random_problem(records=120)
    thresholds = choose_f1_thresholds(targets, scores)
    chosen = f1_per_label(targets, scores, thresholds)
    for label in range(targets.shape[1]):
        every_cut = [f1_score(targets[:, label], scores[:, label] >= cut) for cut in np.unique(scores[:, label])]
        assert chosen[label] == pytest.approx(max(every_cut))


def test_metrics_load_offline_with_evaluate(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    import evaluate

    targets, scores = random_problem(labels=4)
    targets[:, 3] = 0
    auroc = evaluate.load(metric_path("multilabel_auroc")).compute(predictions=scores, references=targets)
    direct = roc_auc_per_label(targets, scores)
    assert auroc["per_label"][3] is None
    np.testing.assert_allclose(auroc["per_label"][:3], direct[:3], atol=1e-12)
    assert auroc["roc_auc"] == pytest.approx(np.nanmean(direct))
    thresholds = choose_f1_thresholds(targets, scores)
    f1 = evaluate.load(metric_path("multilabel_f1")).compute(
        predictions=scores, references=targets, thresholds=thresholds
    )
    assert f1["f1"] == pytest.approx(np.nanmean(f1_per_label(targets, scores, thresholds)))
    auprc = evaluate.load(metric_path("multilabel_auprc")).compute(predictions=scores, references=targets)
    assert auprc["per_label"][3] is None
    with pytest.raises(ValueError, match="ships"):
        metric_path("accuracy")


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible():
    targets, scores = random_problem(records=400)
    estimate = mean_auroc(auroc_per_label(targets, scores, list("abcdef")))
    low, high = bootstrap_ci(targets, scores, n_resamples=200, seed=3)
    assert low < estimate < high
    assert (low, high) == bootstrap_ci(targets, scores, n_resamples=200, seed=3)
    assert (low, high) != bootstrap_ci(targets, scores, n_resamples=200, seed=4)
    narrow = bootstrap_ci(targets, scores, n_resamples=200, seed=3, alpha=0.5)
    assert low < narrow[0] <= narrow[1] < high


def test_bootstrap_of_a_perfect_scorer_is_degenerate_at_100():
    targets, _ = random_problem(records=100, labels=3)
    assert bootstrap_ci(targets, targets.astype(float), n_resamples=50) == (100.0, 100.0)
    assert all(np.isnan(bootstrap_ci(np.zeros((5, 2)), np.ones((5, 2)), n_resamples=10)))
