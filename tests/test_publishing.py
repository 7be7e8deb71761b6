"""Model cards from evaluation results, and pushing a model (weights, processor, code, card) to a local stand-in of
the Hub, then loading it with `pipeline(..., trust_remote_code=True)` in a fresh interpreter without the package."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from huggingface_hub import ModelCard
from transformers import pipeline

from modeling_supreme.evaluation.records import PtbxlFolder
from modeling_supreme.evaluation.run_benchmark import load_model_and_processor, run_zero_shot_benchmark
from modeling_supreme.publishing import (
    REQUIRED_FILES,
    CardInfo,
    card_info_for,
    model_card_from_results,
    push_model_folder,
    write_model_folder,
)
from tests.remote_code import scores_without_the_package
from tests.sample_data import PTBXL_DIR, REPO_ROOT, SPLITS_DIR, ptbxl_record

LABELS = ["normal ecg", "atrial fibrillation", "myocardial infarction"]


@pytest.fixture
def results(tiny_checkpoint):
    """A real zero-shot results.json (as a dict) of the tiny checkpoint on two PTB-XL tasks; the others skipped."""
    model, processor = load_model_and_processor(tiny_checkpoint)
    report = run_zero_shot_benchmark(
        model,
        processor,
        ["ptbxl_super", "ptbxl_rhythm", "cpsc2018"],
        SPLITS_DIR,
        {"ptbxl": PtbxlFolder(PTBXL_DIR, 100)},
        n_resamples=20,
        progress=False,
    )
    return json.loads(json.dumps(report.to_json()))


def test_card_metadata_and_text_come_from_the_results(results, tiny_checkpoint):
    model, _ = load_model_and_processor(tiny_checkpoint)
    card = model_card_from_results(results, card_info_for(model, "someone/tiny", license="apache-2.0"))
    reparsed = ModelCard(str(card))
    entries = reparsed.data.eval_results
    assert [entry.dataset_config for entry in entries] == ["ptbxl_super", "ptbxl_rhythm"]
    for entry in entries:
        task = results["tasks"][entry.dataset_config]
        assert entry.metric_value == task["auroc"] and entry.dataset_split == "test" and entry.metric_type == "roc_auc"
        assert entry.dataset_type == "ptb-xl"
    assert reparsed.data.license == "apache-2.0" and "custom_code" in reparsed.data.tags
    text = reparsed.text
    for heading in (
        "## How to use",
        "## Intended use",
        "## Training data",
        "## Evaluation",
        "## Limitations",
        "## Citation",
    ):
        assert heading in text
    assert 'pipeline("ecg-zero-shot", model="someone/tiny", trust_remote_code=True)' in text
    assert f"{results['tasks']['ptbxl_super']['auroc']:.2f}" in text
    # The bundled tables are reduced copies: the card must say the numbers are not full-benchmark numbers.
    assert "not comparable with full-benchmark results" in text and "Not evaluated on: CPSC2018" in text
    assert "resnet1d18" in text and "100 Hz" in text
    assert "arXiv:2502.19668" in text and "Not a medical device" in text


def test_card_repeats_the_benchmark_defects_of_evaluated_tasks(results):
    results["tasks"]["csn"] = dict(
        results["tasks"]["ptbxl_super"],
        title="Chapman-Shaoxing-Ningbo",
        notes=["Chapman table defects, reported as-is: AF is 1 on every AFIB row."],
    )
    text = str(model_card_from_results(results, CardInfo(repo_id="someone/x")))
    assert "AF is 1 on every AFIB row" in text
    assert [entry.dataset_type for entry in ModelCard(text).data.eval_results][-1] == "chapman-shaoxing-ningbo"


def test_incomplete_folder_is_refused_before_any_upload(local_hub, tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "no-processor")
    with pytest.raises(ValueError, match="processor_config.json"):
        push_model_folder(tmp_path / "no-processor", "someone/incomplete")
    assert not any(method == "POST" for method, _ in local_hub.requests)


@pytest.mark.slow
def test_cli_pushes_a_model_that_loads_in_a_fresh_interpreter(local_hub, tmp_path, tiny_checkpoint, results):
    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(results))
    command = [
        sys.executable,
        "eval/publish.py",
        "model",
        "--model",
        str(tiny_checkpoint),
        "--results",
        str(results_file),
        "--repo-id",
        "someone/supreme-tiny",
        "--training-data",
        "Random weights (test).",
        "--license",
        "apache-2.0",
    ]
    pushed = subprocess.run(
        command, cwd=REPO_ROOT, env=local_hub.subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert pushed.returncode == 0, pushed.stderr[-3000:]

    files = local_hub.repo_files("someone/supreme-tiny")
    assert set(REQUIRED_FILES) <= set(files) and any(name.endswith(".safetensors") for name in files)
    card = ModelCard(files["README.md"].decode())
    assert card.data.eval_results[0].metric_value == results["tasks"]["ptbxl_super"]["auroc"]
    assert "Random weights (test)." in card.text
    commits = [path for method, path in local_hub.requests if method == "POST" and path.endswith("/commit/main")]
    assert len(commits) == 1  # weights, processor, code and card arrive together

    record = str(ptbxl_record(12))
    expected = {
        item["label"]: item["score"]
        for item in pipeline("ecg-zero-shot", model=str(tiny_checkpoint))(record, candidate_labels=LABELS)
    }
    remote, _ = scores_without_the_package("someone/supreme-tiny", record, LABELS, tmp_path, local_hub.subprocess_env())
    assert remote == pytest.approx(expected, abs=1e-6)
    assert local_hub.unhandled == []


def test_write_model_folder_holds_everything_the_pipeline_needs(tmp_path, tiny_checkpoint, results):
    model, processor = load_model_and_processor(tiny_checkpoint)
    card = model_card_from_results(results, card_info_for(model, "someone/x"))
    folder = write_model_folder(model, processor, tmp_path / "staging", card)
    assert all((folder / name).is_file() for name in REQUIRED_FILES)
    classifier = pipeline("ecg-zero-shot", model=str(folder))
    assert {item["label"] for item in classifier(str(ptbxl_record(3)), candidate_labels=LABELS)} == set(LABELS)
