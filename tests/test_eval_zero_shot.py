"""Zero-shot core: scoring ECGs against label texts, benchmark tables, label descriptions."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from modeling_supreme import read_ecg
from modeling_supreme.evaluation import (
    TASKS,
    get_task,
    label_texts_for,
    load_label_descriptions,
    load_task_table,
    score_ecgs,
)
from modeling_supreme.evaluation.benchmark_tasks import exact_code_targets
from tests.sample_data import SPLITS_DIR, ptbxl_record

LABEL_TEXTS = ["normal ecg", "myocardial infarction", "left bundle branch block"]


@pytest.fixture
def sample_ecgs(tiny_processor):
    """Real PTB-XL records 1-6 at 100 Hz, preprocessed: ecg_values (6, 12, 1000), lead_mask (6, 12)."""
    records = [read_ecg(ptbxl_record(ecg_id)) for ecg_id in range(1, 7)]
    return tiny_processor.feature_extractor(records, return_tensors="pt")


def test_score_ecgs_matches_the_model_and_ignores_batching(tiny_model, tiny_processor, sample_ecgs):
    tokens = tiny_processor.tokenize_labels(LABEL_TEXTS)
    with torch.no_grad():
        expected = torch.sigmoid(tiny_model(ecg_values=sample_ecgs["ecg_values"], **tokens).logits).numpy()
    for batch_size in (1, 4, 64):
        scores = score_ecgs(
            tiny_model, tiny_processor, sample_ecgs["ecg_values"], LABEL_TEXTS, batch_size, progress=False
        )
        assert scores.shape == (6, 3) and scores.dtype == np.float32
        np.testing.assert_allclose(scores, expected, atol=1e-6)
    batches = [
        {"ecg_values": sample_ecgs["ecg_values"][:2], "extra": 1},
        {"ecg_values": sample_ecgs["ecg_values"][2:].numpy()},
    ]
    np.testing.assert_allclose(
        score_ecgs(tiny_model, tiny_processor, batches, LABEL_TEXTS, progress=False), expected, atol=1e-6
    )


def test_score_ecgs_restores_training_mode_and_uses_the_lead_mask(tiny_model, tiny_processor, sample_ecgs):
    tiny_model.train()
    values = sample_ecgs["ecg_values"]
    all_leads = score_ecgs(tiny_model, tiny_processor, values, LABEL_TEXTS, progress=False)
    assert tiny_model.training
    mask = torch.ones(values.shape[:2], dtype=torch.bool)
    mask[:, 6:] = False
    masked = score_ecgs(tiny_model, tiny_processor, values, LABEL_TEXTS, lead_mask=mask, progress=False)
    zeroed = values.clone()
    zeroed[:, 6:] = 0
    np.testing.assert_allclose(
        masked, score_ecgs(tiny_model, tiny_processor, zeroed, LABEL_TEXTS, progress=False), atol=1e-6
    )
    assert not np.allclose(masked, all_leads)
    with pytest.raises(ValueError, match="shape"):
        score_ecgs(tiny_model, tiny_processor, values[0], LABEL_TEXTS, progress=False)
    with pytest.raises(ValueError, match="lead_mask"):
        score_ecgs(tiny_model, tiny_processor, values, LABEL_TEXTS, lead_mask=mask[:, :3], progress=False)


def test_benchmark_tables_have_106_label_columns_and_aligned_targets():
    assert list(TASKS) == ["ptbxl_super", "ptbxl_sub", "ptbxl_form", "ptbxl_rhythm", "cpsc2018", "csn"]
    assert sum(len(spec.label_columns(SPLITS_DIR)) for spec in TASKS.values()) == 106
    test = load_task_table("ptbxl_sub", SPLITS_DIR, "test")
    # The sub-class train table orders its columns differently; targets follow the requested order.
    train = load_task_table("ptbxl_sub", SPLITS_DIR, "train", label_names=test.label_names)
    assert train.label_names == test.label_names
    assert TASKS["ptbxl_sub"].label_columns(SPLITS_DIR, "train") != test.label_names
    row = train.rows.iloc[0]
    assert list(train.targets[0]) == [int(row[name]) for name in test.label_names]
    assert test.keys[0] == str(test.rows["ecg_id"].iloc[0])
    csn = load_task_table("csn", SPLITS_DIR, "test")
    assert re.fullmatch(r"JS\d+", csn.keys[0])
    with pytest.raises(ValueError, match="Unknown benchmark task"):
        load_task_table("mitbih", SPLITS_DIR)
    with pytest.raises(ValueError, match="missing"):
        load_task_table("ptbxl_super", SPLITS_DIR, label_names=["NORM", "AFIB"])


def test_label_descriptions_cover_every_column_in_plain_words():
    descriptions = load_label_descriptions()
    codes = {column for spec in TASKS.values() for column in spec.label_columns(SPLITS_DIR)}
    for name, spec in TASKS.items():
        for split in ("train", "val", "test"):
            texts = label_texts_for(descriptions, name, spec.label_columns(SPLITS_DIR, split))
            assert all(texts)
        for column, query in descriptions[name].items():
            for text in [query] if isinstance(query, str) else query:  # a list is a prompt ensemble
                # Plain words for a general-English text encoder: no label code (AFIB, CRBBB...) inside a description.
                words = set(re.findall(r"[\w()/]+", text))
                assert not (words & (codes - {"ST", "MI"})), (name, column, text)
                assert text != column


def test_custom_descriptions_are_validated(tmp_path):
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"ptbxl_super": {"NORM": "a normal heart"}}))
    descriptions = load_label_descriptions(prompts)
    with pytest.raises(ValueError, match="lack the columns"):
        label_texts_for(descriptions, "ptbxl_super", ["NORM", "MI"])
    with pytest.raises(ValueError, match="no entry for task"):
        label_texts_for(descriptions, "csn", ["SR"])
    prompts.write_text(json.dumps({"ptbxl_super": {"NORM": " "}}))
    with pytest.raises(ValueError, match="NORM"):
        load_label_descriptions(prompts)
    prompts.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_label_descriptions(prompts)


def test_corrected_chapman_variant_matches_codes_exactly_and_leaves_the_benchmark_alone():
    rows = pd.DataFrame({"diagnose": ["AFIB,STTC", "AF,ST", "1AVB,CCR", "SB"]})
    targets = exact_code_targets(rows, ["AF", "AFIB", "ST", "STTC", "AVB", "VB", "CR", "CCR"])
    assert targets.tolist() == [
        [0, 1, 0, 1, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ]
    published, corrected = load_task_table("csn", SPLITS_DIR), load_task_table("csn_exact", SPLITS_DIR)
    assert published.label_names == corrected.label_names and "csn_exact" not in TASKS
    changed = {
        published.label_names[column] for column in np.flatnonzero((published.targets != corrected.targets).any(axis=0))
    }
    assert changed and changed <= {"AF", "ST", "AVB", "2AVB", "VB", "SA", "CR"}
    assert (corrected.targets <= published.targets).all()  # substring matching only ever adds positives
    assert "not the published benchmark" in get_task("csn_exact").title
    assert get_task("csn_exact").descriptions_key == "csn"


def test_score_ecgs_scores_prompt_ensembles_by_the_mean_logit(tiny_model, tiny_processor, sample_ecgs):
    prompts = {"NORM": ["normal ecg", "sinus rhythm"], "MI": "myocardial infarction"}
    scores = score_ecgs(tiny_model, tiny_processor, sample_ecgs["ecg_values"], prompts, progress=False)
    tokens = tiny_processor.tokenize_labels(["normal ecg", "sinus rhythm", "myocardial infarction"])
    with torch.no_grad():
        logits = tiny_model(ecg_values=sample_ecgs["ecg_values"], **tokens).logits
    expected = torch.sigmoid(torch.stack([(logits[:, 0] + logits[:, 1]) / 2, logits[:, 2]], dim=1)).numpy()
    assert scores.shape == (6, 2)
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    with pytest.raises(ValueError, match="'NORM'"):
        score_ecgs(tiny_model, tiny_processor, sample_ecgs["ecg_values"], {"NORM": []}, progress=False)
