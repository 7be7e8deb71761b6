"""Zero-shot figures on chosen PTB-XL folds (`evaluation.ptbxl_folds`, `eval/zero_shot.py --folds`): the
within-abnormal AUROC tells a query that finds its class from one that only ranks ECGs by how abnormal they are; the
first-axis share covers every query of every task; the CLI writes results.json and results.md."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from modeling_supreme.dataset_builders import BuildSettings
from modeling_supreme.dataset_builders.labels import multi_hot_matrix, multi_label_names
from modeling_supreme.dataset_builders.ptbxl import build_ptbxl
from modeling_supreme.evaluation import ptbxl_folds
from modeling_supreme.evaluation.ptbxl_folds import (
    FOLD_TASKS,
    IN_DOMAIN_NOTE,
    evaluate_ptbxl_folds,
    fold_report_markdown,
    select_folds,
)
from modeling_supreme.evaluation.robustness import logit_axis_shares
from modeling_supreme.evaluation.scoring import load_label_descriptions
from modeling_supreme.training.data import load_splits
from tests.dataset_builders_helpers import copy_ptbxl_subset
from tests.sample_data import PTBXL_DIR, REPO_ROOT, script_command


@pytest.fixture(scope="module")
def fold_dataset(tmp_path_factory):
    """The bundled sample's first 12 records of fold 9 and of fold 10, and 4 of fold 8, built at 100 Hz."""
    database = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv")
    ids = [int(i) for fold, count in ((8, 4), (9, 12), (10, 12))
           for i in database[database.strat_fold == fold].ecg_id[:count]]
    folder = tmp_path_factory.mktemp("folds")
    copy_ptbxl_subset(folder / "raw", ids, rate=100)
    build_ptbxl(folder / "raw", folder / "built", 100, BuildSettings(progress=False))
    return folder / "built"


def test_select_folds_keeps_only_the_folds_asked_from_every_split(fold_dataset):
    split = select_folds(load_splits(str(fold_dataset)), [9, 10])
    assert sorted(set(split["strat_fold"])) == [9, 10] and len(split) == 24
    with pytest.raises(ValueError, match="no record in strat_fold"):
        select_folds(load_splits(str(fold_dataset)), [3])


def _constructed_scores(split, how):
    """Stands in for the model: every query of a task gets a column built from the targets."""
    def score(model, processor, chosen, queries, batch_size, lead_set):
        super_targets = multi_hot_matrix(chosen, "super_class")
        abnormal = 1.0 - super_targets[:, multi_label_names(chosen.features, "super_class").index("NORM")]
        columns = []
        for task, column in FOLD_TASKS.items():
            targets = multi_hot_matrix(chosen, column)
            columns.append(targets if how == "exact" else np.repeat(abnormal[:, None], targets.shape[1], axis=1))
        matrix = np.concatenate(columns, axis=1)
        assert matrix.shape[1] == len(queries)
        return matrix
    return score


def test_a_query_that_only_ranks_by_abnormality_is_at_chance_within_abnormal(fold_dataset, monkeypatch):
    split = select_folds(load_splits(str(fold_dataset)), [9, 10])
    monkeypatch.setattr(ptbxl_folds, "_score", _constructed_scores(split, "abnormal"))
    report = evaluate_ptbxl_folds(None, None, split, [9, 10], load_label_descriptions())
    super_class = report.tasks["ptbxl_super"]
    assert super_class.per_label["MI"] > 60  # infarcts are abnormal ECGs: the ranking finds them among all ECGs
    defined = [value for name, value in super_class.within_abnormal.items() if value is not None]
    assert defined and all(value == pytest.approx(50) for value in defined)  # one score for every abnormal ECG
    assert super_class.within_abnormal["NORM"] is None
    assert report.first_axis_share == pytest.approx(1.0, abs=1e-3)  # one ranking explains every query
    normal = multi_hot_matrix(split, "super_class")[:, multi_label_names(split.features, "super_class").index("NORM")]
    assert report.n_abnormal == int((normal == 0).sum()) and 0 < report.n_abnormal < report.n_records


def test_a_query_that_finds_its_class_is_perfect_within_abnormal_and_shares_the_axes(fold_dataset, monkeypatch):
    split = select_folds(load_splits(str(fold_dataset)), [9, 10])
    monkeypatch.setattr(ptbxl_folds, "_score", _constructed_scores(split, "exact"))
    report = evaluate_ptbxl_folds(None, None, split, [9, 10], load_label_descriptions(), lead_sets=["12", "II"])
    for task in report.tasks.values():
        assert all(value == pytest.approx(100) for value in task.per_label.values() if value is not None)
        assert all(value == pytest.approx(100) for value in task.within_abnormal.values() if value is not None)
        assert set(task.lead_sets) == {"12", "II"}
    assert report.first_axis_share < 0.9
    entry = report.to_json()
    assert entry["note"] == IN_DOMAIN_NOTE and set(entry["tasks"]) == set(FOLD_TASKS)
    assert entry["tasks"]["ptbxl_rhythm"]["label_texts"]["SR"] == "sinus rhythm"
    table = fold_report_markdown(report)
    assert "not MERL's zero-shot setting" in table and "Within-abnormal" in table


def test_unknown_task_and_missing_query_are_refused(fold_dataset):
    split = select_folds(load_splits(str(fold_dataset)), [9])
    with pytest.raises(ValueError, match="unknown PTB-XL fold tasks"):
        evaluate_ptbxl_folds(None, None, split, [9], load_label_descriptions(), ["cpsc2018"])
    with pytest.raises(ValueError, match="lack the columns"):
        evaluate_ptbxl_folds(None, None, split, [9], {"ptbxl_super": {"NORM": "normal"}, "ptbxl_sub": {}})


def test_cli_scores_the_folds_with_a_model_and_writes_both_reports(fold_dataset, tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [*script_command("eval/zero_shot.py"), "--model", str(tiny_checkpoint), "--fold-dataset", str(fold_dataset),
         "--folds", "9", "10", "--prompts", "ckepe", "--robustness", "default", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["folds"] == [9, 10] and results["n_records"] == 24 and results["prompts"] == "ckepe"
    assert set(results["tasks"]) == set(FOLD_TASKS)
    assert 0 < results["first_axis_share"] <= 1
    assert len(results["query_axis_shares"]) == 3
    sub = results["tasks"]["ptbxl_sub"]
    assert set(sub["within_abnormal"]) == set(sub["per_label"]) and sub["within_abnormal"]["NORM"] is None
    assert "worst" in results["tasks"]["ptbxl_super"]["wordings"]["NORM"]
    assert (out / "results.md").read_text().startswith("## Zero-shot on PTB-XL strat_fold [9, 10]")
    assert logit_axis_shares(np.ones((3, 2))) == []  # the degenerate case the report maps to "n/a"


def test_cli_needs_folds_and_dataset_together(tmp_path):
    done = subprocess.run(
        [*script_command("eval/zero_shot.py"), "--model", "m", "--folds", "9", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert done.returncode == 2 and "--folds and --fold-dataset go together" in done.stderr


def test_the_held_out_result_gives_within_abnormal_auroc_beside_the_super_class_auroc():
    from modeling_supreme.evaluation.heldout import HeldOutResult

    names = ["NORM", "MI", "CD"]
    targets = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [0, 0, 1]], dtype=np.float32)
    # MI's score is "abnormal" only: perfect over all ECGs, chance among the abnormal ones; CD's finds CD.
    scores = np.stack([targets[:, 0], 1 - targets[:, 0], targets[:, 2]], axis=1)
    result = HeldOutResult(names, names, targets, scores, {}, 0.0)
    within = result.within_abnormal_auroc()
    assert within["NORM"] is None and within["MI"] == pytest.approx(50) and within["CD"] == pytest.approx(100)
    assert HeldOutResult(["MI"], ["MI"], targets[:, 1:2], scores[:, 1:2], {}, 0.0).within_abnormal_auroc() == {}
