"""Any lead set: lead-set definitions and refusals, lead-set augmentation in pre-training (equal to what
the feature extractor gives a reduced record, seeded, resumed exactly), the lead mask as encoder input (both encoder
families, old checkpoints load), and evaluation by lead set (held-out sets, the benchmark CLI, the demo)."""

from __future__ import annotations

import json
import runpy

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from modeling_supreme import SupremeFeatureExtractor, SupremeModel
from modeling_supreme.configuration_supreme import STANDARD_LEADS
from modeling_supreme.evaluation import load_model_and_processor
from modeling_supreme.evaluation.heldout import evaluate_lead_sets, load_heldout_set
from modeling_supreme.leads_supreme import (
    DEFAULT_TRAINING_LEAD_SETS,
    lead_set_leads,
    lead_set_mask,
    parse_lead_sets,
    select_lead_set,
)
from modeling_supreme.reading_supreme import read_ecg
from modeling_supreme.training import SupremeCollator, run_training
from modeling_supreme.training.data import formatted_for_collation, load_splits
from modeling_supreme.training.lead_set_augmentation import LeadSetSampler
from tests.sample_data import PTBXL_DIR, REPO_ROOT, SPLITS_DIR, ptbxl_record
from tests.tiny_models import TINY_ECG_ENCODERS, tiny_config
from tests.training_helpers import (
    fresh_accelerate_state,  # noqa: F401 (an autouse fixture)
    interrupted_and_resumed,
    tiny_options,
    training_lead_masks,
)

LIMB_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF")


# -- definitions --------------------------------------------------------------------------------------------------


def test_named_and_written_lead_sets():
    assert lead_set_leads("12") == STANDARD_LEADS
    assert lead_set_leads("6") == LIMB_LEADS
    assert lead_set_leads("4") == ("I", "II", "III", "V2")
    assert lead_set_leads("3") == ("I", "II", "V2")
    assert lead_set_leads("2") == ("I", "II")
    assert lead_set_leads("II") == ("II",)
    assert lead_set_leads("v2+avr+I") == ("I", "aVR", "V2")  # any spelling, standard order
    assert parse_lead_sets("12, 6,II") == ["12", "6", "II"]
    assert set(DEFAULT_TRAINING_LEAD_SETS) == {"12", "6", "4", "3", "2", "I", "II"}


@pytest.mark.parametrize(
    "spec, message",
    [("V7", "'V7' is not one of the twelve"), ("ABP", "'ABP' is not one of the twelve"), ("", "empty"),
     ("I+", "empty"), ("I+i", "twice")],
)
def test_invalid_lead_sets_are_refused_naming_the_set(spec, message):
    with pytest.raises(ValueError, match=message) as raised:
        lead_set_leads(spec)
    assert repr(spec) in str(raised.value)


def test_a_list_of_lead_sets_must_be_non_empty_and_distinct():
    with pytest.raises(ValueError, match="no lead set"):
        parse_lead_sets("")
    with pytest.raises(ValueError, match="given twice"):
        parse_lead_sets("6,II,6")


def test_lead_set_mask_counts_the_limb_leads_derived_from_two():
    assert [STANDARD_LEADS[i] for i in np.flatnonzero(lead_set_mask("2"))] == list(LIMB_LEADS)
    assert [STANDARD_LEADS[i] for i in np.flatnonzero(lead_set_mask("3"))] == [*LIMB_LEADS, "V2"]
    assert [STANDARD_LEADS[i] for i in np.flatnonzero(lead_set_mask("II"))] == ["II"]


def test_select_lead_set_refuses_a_record_lacking_a_lead_of_the_set():
    record = read_ecg(ptbxl_record(1))
    signal, names = select_lead_set(record.signal, record.lead_names, "3", record.source)
    assert names == ("I", "II", "V2") and signal.shape == (3, record.signal.shape[1])
    np.testing.assert_array_equal(signal[2], record.signal[[n.upper() for n in record.lead_names].index("V2")])
    with pytest.raises(ValueError, match=r"lead set '4' needs leads \['III', 'V2'\]") as raised:
        select_lead_set(record.signal[:2], record.lead_names[:2], "4", record.source)
    assert record.source in str(raised.value)
    absent_v2 = np.ones(12, dtype=bool)
    absent_v2[STANDARD_LEADS.index("V2")] = False  # a dataset row whose V2 was zero-filled at build time
    with pytest.raises(ValueError, match=r"needs leads \['V2'\]"):
        select_lead_set(record.signal, record.lead_names, "3", "row 7", absent_v2)


# -- augmentation in pre-training ---------------------------------------------------------------------------------


def test_augmented_batch_equals_the_feature_extractor_on_the_reduced_record():
    """Dropping leads from a collated batch gives what the feature extractor gives a record holding only the set's
    leads: exactly for sets it does not derive from, within PTB-XL's quantisation where it derives limb leads."""
    extractor = SupremeFeatureExtractor(sampling_rate=100, num_samples=1000)
    record = read_ecg(ptbxl_record(2))
    full = extractor(record)
    for name in ("12", "6", "4", "3", "2", "II", "I"):
        batch = LeadSetSampler((name,), probability=1.0, seed=0).apply(dict(full), epoch=0, index=0)
        signal, names = select_lead_set(record.signal, record.lead_names, name, record.source)
        reduced = extractor(signal, sampling_rate=record.sampling_rate, lead_names=list(names))
        assert torch.equal(batch["lead_mask"], reduced["lead_mask"]), name
        tolerance = 0.05 if name in ("4", "3", "2") else 0.0
        torch.testing.assert_close(batch["ecg_values"], reduced["ecg_values"], atol=tolerance, rtol=0)


def test_lead_set_draw_is_seeded_by_seed_epoch_batch_and_process():
    sampler = LeadSetSampler(DEFAULT_TRAINING_LEAD_SETS, probability=0.5, seed=3)
    first = sampler.draw(epoch=1, batch=4, batch_size=64)
    assert first == LeadSetSampler(DEFAULT_TRAINING_LEAD_SETS, 0.5, 3).draw(1, 4, 64)
    assert first != sampler.draw(1, 5, 64) and first != sampler.draw(2, 4, 64) and first != sampler.draw(1, 4, 64, 1)
    assert first != LeadSetSampler(DEFAULT_TRAINING_LEAD_SETS, 0.5, 4).draw(1, 4, 64)
    many = [name for batch in range(50) for name in sampler.draw(0, batch, 64)]
    assert abs(sum(name is None for name in many) / len(many) - 0.5) < 0.05
    assert {name for name in many if name is not None} == set(DEFAULT_TRAINING_LEAD_SETS)


def test_no_dropout_leaves_the_batch_and_a_stored_missing_lead_stays_masked():
    values = torch.randn(4, 12, 50)
    mask = torch.ones(4, 12, dtype=torch.bool)
    batch = {"ecg_values": values, "lead_mask": mask}
    assert LeadSetSampler(probability=0.0).apply(batch, 0, 0) is batch
    mask[0, STANDARD_LEADS.index("II")] = False
    reduced = LeadSetSampler(("2",), probability=1.0).apply(batch, 0, 0)
    assert reduced["lead_mask"][0].tolist() == [True, False, True, True, True, True] + [False] * 6
    assert torch.count_nonzero(reduced["ecg_values"][:, 6:]) == 0
    assert torch.equal(batch["ecg_values"], values)  # the input batch is not modified
    with pytest.raises(ValueError, match="--lead-dropout"):
        LeadSetSampler(probability=1.5)


def test_options_check_lead_dropout_and_lead_sets(tmp_path):
    from modeling_supreme.training import TrainingOptions, parse_training_options

    options = TrainingOptions(dataset="d", output_dir="o", lead_dropout=0.3, lead_sets=["12,6", "II"])
    assert options.lead_sets == ["12", "6", "II"]
    assert TrainingOptions(dataset="d", output_dir="o").lead_dropout == 0.0
    with pytest.raises(ValueError, match="--lead-dropout"):
        TrainingOptions(dataset="d", output_dir="o", lead_dropout=-0.1)
    with pytest.raises(ValueError, match="--lead-sets: lead set 'V9'"):
        TrainingOptions(dataset="d", output_dir="o", lead_sets=["6", "V9"])
    config = tmp_path / "run.yaml"
    config.write_text("dataset: d\noutput_dir: o\nlead_dropout: 0.5\nlead_sets: [6, II]\n", encoding="utf-8")
    parsed = parse_training_options(["--config", str(config), "--lead-sets", "2", "I"])
    assert parsed.lead_dropout == 0.5 and parsed.lead_sets == ["2", "I"]


def test_training_feeds_the_model_reduced_ecgs(training_dataset, tiny_text_encoder_dir, tmp_path, monkeypatch):
    options = tiny_options(training_dataset, tmp_path / "out", tiny_text_encoder_dir, max_steps=2, lead_dropout=1.0,
                           lead_sets=["II"], validation_split="none", save_steps=0)
    training_masks = training_lead_masks(monkeypatch, options)[:2]
    assert len(training_masks) == 2
    for mask in training_masks:
        assert mask.any(dim=0).tolist() == [lead == "II" for lead in STANDARD_LEADS]


def test_resumed_run_draws_the_same_lead_sets(training_dataset, tiny_text_encoder_dir, tmp_path):
    # 61 training ECGs in batches of 8: 7 batches per epoch; 2 batches per step -> 6 steps cross an epoch boundary.
    # Killed after step 3, resumed from checkpoint 2 (mid-epoch): the weights match only if the draws do.
    settings = {"max_steps": 6, "gradient_accumulation_steps": 2, "save_steps": 2, "validation_split": "none",
                "lead_dropout": 0.7, "lead_mask_channels": True}
    run_training(tiny_options(training_dataset, tmp_path / "reference", tiny_text_encoder_dir, **settings))

    interrupted_and_resumed(training_dataset, tiny_text_encoder_dir, tmp_path / "resumed", settings, 3, "checkpoint-2")
    reference = load_file(tmp_path / "reference" / "checkpoints" / "checkpoint-6" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "checkpoints" / "checkpoint-6" / "model.safetensors")
    assert all(torch.equal(reference[key], resumed[key]) for key in reference)
    without = run_training(tiny_options(training_dataset, tmp_path / "without", tiny_text_encoder_dir,
                                        **{**settings, "lead_dropout": 0.0}))
    other = load_file(without.run_dir / "checkpoints" / "checkpoint-6" / "model.safetensors")
    assert not all(torch.equal(reference[key], other[key]) for key in reference)  # the augmentation did something


# -- the lead mask reaches the encoder ------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["resnet", "vit"])
def test_lead_mask_channels_tell_a_missing_lead_from_a_flat_one(family):
    torch.manual_seed(0)
    values = torch.randn(2, 12, 1000)
    values[:, 6:] = 0.0  # V1-V6 zero: recorded flat, or missing?
    present = torch.ones(2, 12, dtype=torch.bool)
    missing = present.clone()
    missing[:, 6:] = False
    with_mask = SupremeModel(tiny_config(**TINY_ECG_ENCODERS[family], lead_mask_channels=True)).eval()
    without_mask = SupremeModel(tiny_config(**TINY_ECG_ENCODERS[family])).eval()
    with torch.no_grad():
        told_apart = with_mask.get_ecg_features(values, missing)[1] - with_mask.get_ecg_features(values, present)[1]
        same = without_mask.get_ecg_features(values, missing)[1] - without_mask.get_ecg_features(values, present)[1]
        default = with_mask.get_ecg_features(values)[1] - with_mask.get_ecg_features(values, present)[1]
    assert told_apart.abs().max() > 1e-4
    assert same.abs().max() == 0 and default.abs().max() == 0  # no mask = every lead present
    first_layer = with_mask.ecg_encoder.stem[0] if family == "resnet" else with_mask.ecg_encoder.patch_embed
    assert first_layer.in_channels == 24


def test_checkpoints_without_lead_mask_channels_still_load(tmp_path):
    model = SupremeModel(tiny_config()).eval()
    model.save_pretrained(tmp_path / "old")
    config_file = tmp_path / "old" / "config.json"
    saved = json.loads(config_file.read_text())
    saved.pop("lead_mask_channels")  # as written before the field existed
    config_file.write_text(json.dumps(saved))
    loaded = SupremeModel.from_pretrained(tmp_path / "old").eval()
    assert loaded.config.lead_mask_channels is False
    values = torch.randn(1, 12, 1000)
    with torch.no_grad():
        torch.testing.assert_close(loaded.get_ecg_features(values)[1], model.get_ecg_features(values)[1])
    masked = SupremeModel(tiny_config(lead_mask_channels=True))
    masked.save_pretrained(tmp_path / "new")
    assert SupremeModel.from_pretrained(tmp_path / "new").config.lead_mask_channels is True


# -- evaluation by lead set -----------------------------------------------------------------------------------------


def test_collator_removes_leads_before_the_feature_extractor(training_dataset, tiny_processor):
    split = load_splits(str(training_dataset))["test"]
    rows = formatted_for_collation(split).__getitems__([0, 1])
    batch = SupremeCollator(tiny_processor, lead_set="2")(rows)
    assert batch["lead_mask"].all(dim=0).tolist() == [lead in LIMB_LEADS for lead in STANDARD_LEADS]
    record = read_ecg(ptbxl_record(int(rows[0]["id"])))
    signal, names = select_lead_set(record.signal, record.lead_names, "2", record.source)
    expected = tiny_processor.feature_extractor(signal, sampling_rate=record.sampling_rate, lead_names=list(names))
    torch.testing.assert_close(batch["ecg_values"][0], expected["ecg_values"][0], atol=1e-3, rtol=0)
    rows.columns["lead_mask"][1][STANDARD_LEADS.index("V2")] = False
    with pytest.raises(ValueError, match=rf"record '{rows[1]['id']}': lead set '3' needs leads \['V2'\]"):
        SupremeCollator(tiny_processor, lead_set="3")(rows)


def test_heldout_auroc_by_lead_set(tiny_checkpoint, training_dataset):
    model, processor = load_model_and_processor(tiny_checkpoint)
    heldout = load_heldout_set(str(training_dataset))
    results = evaluate_lead_sets(model, processor, heldout, ["12", "6", "II"])
    assert list(results) == ["12", "6", "II"]
    assert results["12"].mean_auroc != results["II"].mean_auroc
    with pytest.raises(ValueError, match="lead set 'X1'"):
        evaluate_lead_sets(model, processor, heldout, ["X1"])


def test_zero_shot_cli_reports_auroc_by_lead_set(tiny_checkpoint, tmp_path):
    main = runpy.run_path(str(REPO_ROOT / "eval" / "zero_shot.py"))["main"]
    out = tmp_path / "zero-shot"
    main(["--model", str(tiny_checkpoint), "--tasks", "ptbxl_super", "--splits", str(SPLITS_DIR), "--ptbxl-root",
          str(PTBXL_DIR), "--out", str(out), "--lead-sets", "12,6,II", "--n-resamples", "10", "--no-progress",
          "--device", "cpu"])
    results = json.loads((out / "results.json").read_text())
    by_set = results["tasks"]["ptbxl_super"]["lead_sets"]
    assert list(by_set) == ["12", "6", "II"]
    assert by_set["12"]["auroc"] == results["tasks"]["ptbxl_super"]["auroc"]  # PTB-XL records hold all 12 leads
    assert by_set["II"]["n_records"] == results["tasks"]["ptbxl_super"]["n_records"]
    assert results["settings"]["lead_sets"]["6"] == list(LIMB_LEADS)
    table = (out / "results.md").read_text()
    assert "| Task | 12 | 6 | II |" in table and f"{by_set['6']['auroc']:.2f}" in table
    with pytest.raises(SystemExit):
        main(["--model", str(tiny_checkpoint), "--out", str(out), "--lead-sets", "12,aVX"])
