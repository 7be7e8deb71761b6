"""Explanations: a label's cross-attention over time, aligned with the ECG the model saw, drawn on the 12 leads."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from transformers import pipeline

from modeling_supreme import read_ecg
from modeling_supreme.evaluation.explain import attention_per_sample, explain, plot_explanation
from tests.sample_data import REPO_ROOT, ptbxl_record, script_command

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def classifier(tiny_checkpoint):
    return pipeline("ecg-zero-shot", model=str(tiny_checkpoint))


def test_tokens_are_spread_over_the_samples_they_cover():
    spread = attention_per_sample(np.array([0.2, 0.5, 0.3]), 10)
    np.testing.assert_array_equal(spread, [0.2] * 4 + [0.5] * 3 + [0.3] * 3)
    tokens, samples = 63, 1000
    spread = attention_per_sample(np.arange(tokens, dtype=float), samples)
    for token in (0, 17, 62):  # token n covers samples [n*T/N, (n+1)*T/N)
        covered = np.flatnonzero(spread == token)
        assert covered[0] == int(np.ceil(token * samples / tokens)) and covered[-1] < (token + 1) * samples / tokens
    with pytest.raises(ValueError, match="shape"):
        attention_per_sample(np.zeros((2, 3)), 10)


def test_explanation_is_the_pipelines_attention_on_the_models_view(classifier):
    record = ptbxl_record(5)
    explanation = explain(classifier, str(record), "MI", description="myocardial infarction")
    [expected] = classifier(str(record), candidate_labels={"MI": "myocardial infarction"}, return_attention=True)
    assert explanation.score == pytest.approx(expected["score"])
    np.testing.assert_allclose(explanation.attention, expected["attention"], atol=1e-7)
    assert explanation.attention.sum() == pytest.approx(1.0, abs=1e-5)
    # A 100 Hz, 10 s record seen by a 100 Hz, 10 s model: the drawn signal is the record itself, in mV.
    np.testing.assert_allclose(explanation.signal, read_ecg(record).signal, atol=1e-6)
    other = explain(classifier, str(record), "atrial fibrillation")
    assert not np.allclose(other.attention, explanation.attention)


def test_plot_draws_every_lead_and_marks_missing_ones(classifier, tmp_path):
    record = read_ecg(ptbxl_record(7))
    limb_leads = record.signal[:6]
    explanation = explain(
        classifier, limb_leads, "normal ecg", sampling_rate=record.sampling_rate, lead_names=record.lead_names[:6]
    )
    assert explanation.lead_mask.tolist() == [True] * 6 + [False] * 6
    path = plot_explanation(explanation, tmp_path / "explanation.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="sampling_rate"):
        explain(classifier, limb_leads, "normal ecg")


@pytest.mark.slow
def test_cli_writes_a_png_for_a_benchmark_column(tiny_checkpoint, tmp_path):
    out = tmp_path / "afib.png"
    command = script_command(
        "eval/explain.py",
        "--model", tiny_checkpoint,
        "--record", ptbxl_record(2, rate=500),
        "--task", "ptbxl_rhythm",
        "--label", "AFIB",
        "--out", out,
    )
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "text: 'atrial fibrillation'" in completed.stdout
    assert out.read_bytes()[:8] == PNG_MAGIC
