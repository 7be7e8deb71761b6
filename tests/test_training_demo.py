"""The demo's last stage (`python -m modeling_supreme.demo`) on a tiny model trained on real PTB-XL folds 1-8:
held-out zero-shot AUROC with the five super-class queries, the pipeline on one record, summary.json and the PNG.
The full `scripts/demo.sh` (fresh .venv, a few hundred steps) takes minutes and is timed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from accelerate.state import AcceleratorState

from modeling_supreme import demo
from modeling_supreme.evaluation import load_label_descriptions, load_model_and_processor
from modeling_supreme.evaluation.heldout import evaluate_heldout, load_heldout_set
from modeling_supreme.evaluation.robustness import logit_axis_shares
from modeling_supreme.training import load_splits, run_training
from tests.sample_data import ptbxl_record
from tests.training_helpers import tiny_options

REPO_ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_demo_evaluation_writes_summary_and_figure(training_dataset, tiny_text_encoder_dir, tmp_path, capsys):
    AcceleratorState._reset_state(reset_partial_state=True)
    options = tiny_options(training_dataset, tmp_path / "run", tiny_text_encoder_dir, max_steps=3, select_best=False)
    run_training(options)
    record = ptbxl_record(63)  # fold 10, cardiologists: anteroseptal MI
    assert demo.main(["--model", str(tmp_path / "run" / "model"), "--dataset", str(training_dataset),
                      "--record", str(record), "--out", str(tmp_path / "demo-output")]) == 0

    summary = json.loads((tmp_path / "demo-output" / "summary.json").read_text())
    assert set(summary["per_class_auroc"]) == {"NORM", "MI", "STTC", "CD", "HYP"}
    defined = [value for value in summary["per_class_auroc"].values() if value is not None]
    assert summary["mean_auroc"] == pytest.approx(np.mean(defined))
    assert summary["queries"] == load_label_descriptions()["ptbxl_super"]
    splits = load_splits(str(training_dataset))
    assert summary["n_records"] == len(splits["validation"]) + len(splits["test"])  # folds 9-10
    model, processor = load_model_and_processor(tmp_path / "run" / "model")
    expected = evaluate_heldout(model, processor, load_heldout_set(str(training_dataset), ["validation", "test"]))
    assert summary["per_class_auroc"] == pytest.approx(expected.per_label_auroc)
    assert set(summary["within_abnormal_auroc"]) == set(summary["per_class_auroc"])
    assert summary["within_abnormal_auroc"]["NORM"] is None
    assert expected.query_axis_shares == pytest.approx(logit_axis_shares(expected.scores))  # no wordings asked
    assert summary["record"]["cardiologist_labels"] == ["MI"]
    assert sorted(item["label"] for item in summary["record"]["super_class_scores"]) == sorted(
        summary["per_class_auroc"]
    )
    assert summary["training"]["steps"] == 3 and summary["training"]["final_weights"] == "last"

    figure = (tmp_path / "demo-output" / "demo.png").read_bytes()
    assert figure.startswith(PNG_MAGIC) and len(figure) > 20_000
    printed = capsys.readouterr().out
    assert "within-abnormal" in printed
    assert "mean  AUROC" in printed and str(record) in printed and "cardiologists' super-classes: MI" in printed
    # Super-class AUROC for 12 leads (the records as they are), the six limb leads and single-lead II.
    assert list(summary["lead_sets"]) == ["12", "6", "II"]
    assert summary["lead_sets"]["12"]["mean_auroc"] == pytest.approx(summary["mean_auroc"])
    lead_ii = summary["lead_sets"]["II"]["mean_auroc"]
    assert lead_ii != summary["mean_auroc"] and f"lead II{' ' * 29} mean AUROC {lead_ii:5.1f}" in printed
    assert "6 leads (I, II, III, aVR, aVL, aVF)" in printed


def test_demo_script_sets_up_the_venv_and_runs_every_stage():
    script = (REPO_ROOT / "scripts" / "demo.sh").read_text()
    assert "source scripts/setup_venv.sh" in script
    for stage in ("datasets_scripts/build_ptbxl.py", "datasets_scripts/extract_entities.py",
                  "train_accelerate.py --config configs/demo.yaml", "python -m modeling_supreme.demo"):
        assert stage in script
