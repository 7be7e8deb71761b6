"""Single leads: lead-set sampling weights (`--lead-set-weights`) and the full-view consistency loss
(`--lead-consistency`): the draw follows the weights, the loss is a KL that is zero when the views agree and moves
only the reduced view, the full-view forward leaves batch-norm statistics alone, training logs the term and resumes
exactly, and the benchmark's variants build valid runs."""

from __future__ import annotations

import argparse
import json
import math
import runpy

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from modeling_supreme import SupremeModel
from modeling_supreme.configuration_supreme import STANDARD_LEADS
from modeling_supreme.leads_supreme import DEFAULT_TRAINING_LEAD_SETS
from modeling_supreme.training import (
    TrainingOptions,
    parse_training_options,
    read_metrics,
    run_training,
)
from modeling_supreme.training.lead_consistency import (
    LeadConsistency,
    consistency_loss,
    reduced_rows,
    unchanged_norm_statistics,
)
from modeling_supreme.training.lead_set_augmentation import LeadSetSampler, check_lead_set_weights, set_shares
from tests.sample_data import REPO_ROOT
from tests.tiny_models import tiny_config
from tests.training_helpers import (
    fresh_accelerate_state,  # noqa: F401 (an autouse fixture)
    interrupted_and_resumed,
    tiny_options,
    training_lead_masks,
)

# -- lead-set weights ---------------------------------------------------------------------------------------------


def test_weighted_draw_follows_the_weights_and_stays_seeded():
    sampler = LeadSetSampler(("12", "6", "II"), probability=1.0, seed=1, weights=(0.0, 1.0, 3.0))
    many = [name for batch in range(40) for name in sampler.draw(0, batch, 64)]
    assert "12" not in many  # weight 0: never drawn
    assert abs(many.count("II") / len(many) - 0.75) < 0.03
    assert sampler.draw(2, 3, 64) == LeadSetSampler(("12", "6", "II"), 1.0, 1, (0.0, 1.0, 3.0)).draw(2, 3, 64)
    assert sampler.draw(2, 3, 64) != sampler.draw(2, 4, 64)


def test_uniform_weights_draw_every_set_as_often():
    sampler = LeadSetSampler(DEFAULT_TRAINING_LEAD_SETS, probability=1.0, seed=0, weights=(1.0,) * 7)
    many = [name for batch in range(60) for name in sampler.draw(0, batch, 64)]
    shares = [many.count(name) / len(many) for name in DEFAULT_TRAINING_LEAD_SETS]
    assert max(abs(share - 1 / 7) for share in shares) < 0.02


def test_set_shares_count_whole_ecgs_as_twelve_leads():
    shares = set_shares(LeadSetSampler(DEFAULT_TRAINING_LEAD_SETS, 0.75, weights=(1, 1, 1, 1, 1, 2, 2)))
    assert shares["I"] == pytest.approx(0.75 * 2 / 9) and shares["II"] == pytest.approx(0.75 * 2 / 9)
    assert shares["12"] == pytest.approx(0.25 + 0.75 / 9)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert set_shares(LeadSetSampler(("II",), 0.5)) == {"II": 0.5, "12": 0.5}


@pytest.mark.parametrize(
    "weights, message",
    [([1.0, 2.0], "2 weights for 3 lead sets"), ([1.0, -1.0, 1.0], "non-negative"), ([0, 0, 0], "not all zero"),
     ([1.0, math.nan, 1.0], "finite")],
)
def test_bad_lead_set_weights_are_refused_naming_the_option(weights, message):
    with pytest.raises(ValueError, match=message) as raised:
        check_lead_set_weights(weights, ["12", "6", "II"])
    assert "--lead-set-weights" in str(raised.value)
    with pytest.raises(ValueError, match="--lead-set-weights"):
        TrainingOptions(dataset="d", output_dir="o", lead_sets=["12", "6", "II"], lead_set_weights=weights)


def test_options_parse_weights_and_consistency(tmp_path):
    parsed = parse_training_options(["--dataset", "d", "--output-dir", "o", "--lead-dropout", "0.75", "--lead-sets",
                                     "12", "II", "--lead-set-weights", "1", "3", "--lead-consistency", "0.5"])
    assert parsed.lead_set_weights == [1.0, 3.0] and parsed.lead_consistency == 0.5
    defaults = TrainingOptions(dataset="d", output_dir="o")
    assert defaults.lead_set_weights is None and defaults.lead_consistency == 0.0  # off by default
    # The default sets are seven: weights for another count are refused at parse time, not when training starts.
    with pytest.raises(ValueError, match="2 weights for 7 lead sets"):
        TrainingOptions(dataset="d", output_dir="o", lead_set_weights=[1, 2])


@pytest.mark.parametrize(
    "values, message",
    [({"lead_consistency": -1.0, "lead_dropout": 0.5}, "must be a finite weight"),
     ({"lead_consistency": 1.0}, "needs --lead-dropout above 0"),
     ({"lead_consistency": 1.0, "lead_dropout": 0.5, "model_config": ["objective=clip"]}, "objective 'clip'")],
)
def test_bad_consistency_settings_are_refused(values, message):
    with pytest.raises(ValueError, match=message) as raised:
        TrainingOptions(dataset="d", output_dir="o", **values)
    assert "--lead-consistency" in str(raised.value)


# -- the consistency loss -----------------------------------------------------------------------------------------


def test_reduced_rows_are_the_ecgs_that_lost_a_lead():
    full = torch.ones(4, 12, dtype=torch.bool)
    full[3, 7:] = False  # a record without V2-V6
    reduced = full.clone()
    reduced[0, 1:] = False  # reduced to lead I
    reduced[3, 6:] = False  # reduced to the limb leads: loses V1
    # Row 1 drew "12", row 2 nothing: no lead lost.
    assert reduced_rows(full, reduced).tolist() == [True, False, False, True]


def test_consistency_loss_is_the_bernoulli_kl_and_moves_only_the_reduced_view():
    torch.manual_seed(0)
    full = torch.randn(5, 4, requires_grad=True)
    reduced = torch.randn(5, 4, requires_grad=True)
    loss = consistency_loss(reduced, full)
    p, q = torch.sigmoid(full.detach()), torch.sigmoid(reduced.detach())
    expected = (p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert full.grad is None and reduced.grad is not None and reduced.grad.abs().sum() > 0
    assert consistency_loss(full.detach(), full.detach()).abs() < 1e-6  # agreeing views cost nothing
    assert consistency_loss(torch.zeros(0, 4), torch.zeros(0, 4)) == 0  # no reduced ECG: 0, not NaN
    with pytest.raises(ValueError, match="differ in shape"):
        consistency_loss(torch.zeros(2, 4), torch.zeros(2, 3))


def test_consistency_off_runs_nothing():
    consistency = LeadConsistency(0.0)
    assert not consistency.enabled
    assert consistency.full_view(None, {}, {}, {}) is None and consistency.loss(torch.zeros(2, 3), None) is None
    with pytest.raises(ValueError, match="--lead-consistency"):
        LeadConsistency(-0.5)


def _batch_norm_buffers(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in model.named_buffers() if "running" in name or "tracked" in name}


def test_full_view_scores_the_whole_batch_without_moving_norm_statistics():
    torch.manual_seed(0)
    model = SupremeModel(tiny_config(dropout=0.0)).train()
    values = torch.randn(6, 12, model.config.num_samples)
    batch = {"ecg_values": values, "lead_mask": torch.ones(6, 12, dtype=torch.bool)}
    reduced = LeadSetSampler(("II",), probability=0.5, seed=2).apply(batch, 0, 0)
    rows = reduced_rows(batch["lead_mask"], reduced["lead_mask"])
    assert 0 < int(rows.sum()) < 6
    label_inputs = {"label_embeds": torch.randn(3, model.config.text_config.hidden_size)}
    before = _batch_norm_buffers(model)
    assert before, "the tiny ResNet has batch norm"
    view = LeadConsistency(1.0).full_view(model, batch, reduced, label_inputs)
    after = _batch_norm_buffers(model)
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert torch.equal(view.rows, rows) and not view.logits.requires_grad
    with torch.no_grad():
        expected = model(ecg_values=values, lead_mask=batch["lead_mask"], **label_inputs).logits[rows]
    torch.testing.assert_close(view.logits, expected)  # without dropout: the same forward
    outputs = model(**reduced, **label_inputs)
    assert LeadConsistency(1.0).loss(outputs.logits, view) > 0  # single lead II scores differently
    assert not all(torch.equal(after[name], value) for name, value in _batch_norm_buffers(model).items())


def test_unchanged_norm_statistics_restores_them_after_an_error():
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 2, 3), torch.nn.BatchNorm1d(2)).train()
    before = _batch_norm_buffers(model)
    with pytest.raises(RuntimeError, match="stop"), unchanged_norm_statistics(model):
        model(torch.randn(4, 2, 10))
        raise RuntimeError("stop")
    assert all(torch.equal(before[name], value) for name, value in _batch_norm_buffers(model).items())


# -- in training ----------------------------------------------------------------------------------------------------


def test_training_logs_the_consistency_term_and_resumes_exactly(training_dataset, tiny_text_encoder_dir, tmp_path):
    # 61 training ECGs in batches of 8 (7 per epoch), 2 batches a step: killed after step 3, resumed from step 2.
    settings = {"max_steps": 6, "gradient_accumulation_steps": 2, "save_steps": 2, "validation_split": "none",
                "lead_dropout": 0.75, "lead_set_weights": [1, 1, 1, 1, 1, 2, 2], "lead_consistency": 1.0,
                "dropout": 0.1}
    reference = run_training(tiny_options(training_dataset, tmp_path / "reference", tiny_text_encoder_dir, **settings))
    terms = [record["train/lead_consistency_loss"] for record in
             read_metrics(reference.run_dir / "logs" / "supreme" / "metrics.jsonl")
             if "train/lead_consistency_loss" in record]
    assert len(terms) == 6 and all(math.isfinite(term) and term >= 0 for term in terms) and max(terms) > 0

    interrupted_and_resumed(training_dataset, tiny_text_encoder_dir, tmp_path / "resumed", settings, 3, "checkpoint-2")

    def weights(folder):
        return load_file(folder / "checkpoints" / "checkpoint-6" / "model.safetensors")

    first, resumed = weights(tmp_path / "reference"), weights(tmp_path / "resumed")
    assert all(torch.equal(first[key], resumed[key]) for key in first)
    without = run_training(tiny_options(training_dataset, tmp_path / "without", tiny_text_encoder_dir,
                                        **{**settings, "lead_consistency": 0.0}))
    other = weights(without.run_dir)
    assert not all(torch.equal(first[key], other[key]) for key in first)  # the term changed the training


# -- the benchmark ----------------------------------------------------------------------------------------------------


@pytest.fixture
def lead_sets_bench(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "experiments"))  # it imports its sibling supreme_vs_clip.py
    return runpy.run_path(str(REPO_ROOT / "experiments" / "lead_sets.py"), run_name="lead_sets_bench")


def test_bench_variants_build_valid_runs(lead_sets_bench, tmp_path):
    variants = lead_sets_bench["VARIANTS"]
    args = argparse.Namespace(config=str(REPO_ROOT / "configs" / "demo.yaml"), dataset="d", out=str(tmp_path),
                              max_steps=None)
    options = {name: lead_sets_bench["run_options"](args, name, 1, variants) for name in variants}
    assert options["consistency"].lead_consistency == 1.0 and options["consistency"].lead_dropout == 0.75
    assert options["consistency"].lead_set_weights is None
    assert options["single-weights"].lead_set_weights == [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    assert options["single-weights"].lead_consistency == 0.0
    assert options["consistency-weights"].lead_set_weights == options["single-weights"].lead_set_weights
    assert options["dropout-0.75-mask"].model_config["lead_mask_channels"] is True
    assert options["none"].lead_dropout == 0.0 and options["none"].lead_consistency == 0.0
    shares = set_shares(LeadSetSampler(tuple(options["single-weights"].lead_sets), 0.75,
                                       weights=tuple(options["single-weights"].lead_set_weights)))
    assert shares["II"] == pytest.approx(1 / 6)  # "each single lead in 17% of the ECGs", as the docstring says


def test_bench_step_times_come_from_the_runs_metrics(lead_sets_bench, tmp_path):
    logs = tmp_path / "run" / "logs" / "supreme"
    logs.mkdir(parents=True)
    records = [{"step": 10, "train/step_time": 0.2}, {"step": 10, "val/mean_auroc": 50.0},
               {"step": 20, "train/step_time": 0.4}]
    (logs / "metrics.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    assert lead_sets_bench["mean_step_seconds"](tmp_path / "run", "supreme") == pytest.approx(0.3)
    (logs / "metrics.jsonl").write_text(json.dumps(records[1]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no train/step_time"):
        lead_sets_bench["mean_step_seconds"](tmp_path / "run", "supreme")
    runs = [{"variant": "none", "seed": 0, "step_seconds": 0.2}, {"variant": "none", "seed": 0, "step_seconds": 0.2},
            {"variant": "none", "seed": 1, "step_seconds": 0.4}, {"variant": "consistency", "seed": 0,
                                                                   "step_seconds": 0.5}]
    summary = lead_sets_bench["step_time_summary"](runs, ["none", "consistency"])
    assert summary["none"][0] == pytest.approx(0.3)  # one figure per run, not per split it was scored on
    assert summary["consistency"] == (0.5, 0.0)


def test_lead_set_weights_reach_the_trainers_draw(training_dataset, tiny_text_encoder_dir, tmp_path, monkeypatch):
    # Weight 0 on every set but I: every training ECG is reduced to lead I.
    options = tiny_options(training_dataset, tmp_path / "out", tiny_text_encoder_dir, max_steps=2, lead_dropout=1.0,
                           lead_set_weights=[0, 0, 0, 0, 0, 1, 0], validation_split="none", save_steps=0)
    training_masks = training_lead_masks(monkeypatch, options)[:2]
    assert len(training_masks) == 2
    for mask in training_masks:
        assert mask.any(dim=0).tolist() == [lead == "I" for lead in STANDARD_LEADS]
    assert np.all([mask.sum(dim=1).eq(1).all().item() for mask in training_masks])
