"""Label texts that survive rewording: surface forms per vocabulary label, their per-batch sampling in training,
prompt ensembles and MERL's CKEPE prompts in zero-shot scoring, and the query-robustness benchmark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_supreme import read_ecg
from modeling_supreme.entities import Lexicon, Vocabulary, build_vocabulary, extra_label_forms, label_surface_forms
from modeling_supreme.entities.lexicon import readable_forms
from modeling_supreme.evaluation import TASKS, label_texts_for, load_label_descriptions, load_task_table, score_ecgs
from modeling_supreme.evaluation.robustness import (
    load_paraphrases,
    logit_axis_shares,
    robustness_markdown,
    wording_results,
)
from modeling_supreme.training.label_texts import LabelTextSampler
from tests.sample_data import PTBXL_DIR, REPO_ROOT, SPLITS_DIR, ptbxl_record


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


# -- surface forms ------------------------------------------------------------------------------------------------


def test_readable_forms_drop_the_lexicon_syntax():
    assert readable_forms("ventrikuläre extrasystole(n)", {}) == ["ventrikuläre extrasystole"]
    assert readable_forms("st senkung*", {}) == ["st senkung"]
    assert readable_forms("{location} {mi}", {"location": ["inferior*", "inferior wall"], "mi": ["infarct"]}) == [
        "inferior infarct"
    ]
    assert readable_forms("{stt} ... isch*", {"stt": ["st changes"]}) == []
    assert readable_forms("{unknown} block", {}) == []


def test_every_label_has_its_phrasings_in_every_language(lexicon):
    forms = lexicon.surface_forms("normal ecg")
    assert {"normal ecg", "normales ekg", "normalt ekg"} <= set(forms)
    assert "inferior myocardial infarction" in lexicon.surface_forms("inferior myocardial infarction")
    assert not any(
        "*" in text or "{" in text or "..." in text for name in lexicon.specs for text in lexicon.surface_forms(name)
    )
    assert lexicon.surface_forms("not an entity") == []


def test_vocabulary_records_the_forms_name_first_and_loads_them_back(lexicon, tmp_path):
    entities = [[{"name": "normal ecg", "category": "other", "status": "present"}]] * 3
    vocabulary = build_vocabulary(entities, min_count=1)
    forms = vocabulary.label_forms("normal ecg")
    description = lexicon.spec("normal ecg").description
    assert forms[:2] == ["normal ecg", description]
    assert set(extra_label_forms()["normal ecg"]) <= set(forms)  # the normal and negated forms for the normal class
    assert len({lexicon.normalise(text) for text in forms}) == len(forms)  # each text once
    loaded = Vocabulary.load(vocabulary.save(tmp_path / "vocabulary.json"))
    assert loaded.forms == vocabulary.forms
    assert Vocabulary(labels=["x"]).label_forms("x") == ["x"]  # a vocabulary written before forms existed


def test_a_vocabulary_file_with_empty_forms_is_refused_naming_it(tmp_path):
    path = tmp_path / "vocabulary.json"
    path.write_text(json.dumps({"labels": ["normal ecg"], "forms": {"normal ecg": []}}))
    with pytest.raises(ValueError, match=r"vocabulary\.json.*'normal ecg'"):
        Vocabulary.load(path)


@pytest.mark.parametrize("name", ["default", "blind", "blind2", "blind3", "blind4"])
def test_robustness_wordings_are_never_training_texts(lexicon, name):
    """The benchmark measures rewording only if none of its wordings was a training label text: no form of any
    label."""
    training = {
        lexicon.normalise(text)
        for label, spec in lexicon.specs.items()
        for text in label_surface_forms(label, spec.description, lexicon)
    }
    paraphrases = load_paraphrases(name)
    seen = [text for labels in paraphrases.values() for wordings in labels.values() for text in wordings
            if lexicon.normalise(text) in training]
    assert seen == []
    assert set(paraphrases["ptbxl_super"]) == {"NORM", "MI", "STTC", "CD", "HYP"}
    assert all(len(wordings) >= 5 for wordings in paraphrases["ptbxl_super"].values())
    other = [label for task, labels in paraphrases.items() if task != "ptbxl_super" for label in labels]
    assert len(other) >= 20
    assert all(len(wordings) >= (5 if name == "default" else 4) for labels in paraphrases.values()
               for wordings in labels.values())
    for task, labels in paraphrases.items():  # every label is a column of its task's test table
        assert set(labels) <= set(load_task_table(TASKS[task], SPLITS_DIR, "test").label_names), task


@pytest.mark.parametrize(
    ("first", "second"),
    [("default", "blind"), ("default", "blind2"), ("blind", "blind2"), ("default", "blind3"), ("blind", "blind3"),
     ("blind2", "blind3"), ("default", "blind4"), ("blind", "blind4"), ("blind2", "blind4"),
     ("blind3", "blind4")],
)
def test_the_paraphrase_sets_share_no_wording(lexicon, first, second):
    wordings = [{lexicon.normalise(text) for labels in load_paraphrases(name).values() for texts in labels.values()
                 for text in texts} for name in (first, second)]
    assert wordings[0] and wordings[1] and not wordings[0] & wordings[1]


# -- sampling in training -----------------------------------------------------------------------------------------


def test_sampler_draws_reproducibly_per_batch_and_covers_every_form():
    sampler = LabelTextSampler((("a", "b", "c"), ("x",), ("p", "q")), seed=3)
    assert sampler.draw(2, 5) == sampler.draw(2, 5)  # what a resumed run draws again
    draws = [sampler.draw(epoch, batch) for epoch in range(4) for batch in range(25)]
    assert {draw[0] for draw in draws} == {"a", "b", "c"} and {draw[1] for draw in draws} == {"x"}
    assert len({tuple(draw) for draw in draws}) > 1
    assert sampler.distinct_texts == ["a", "b", "c", "x", "p", "q"]
    with pytest.raises(ValueError, match="positions \\[1\\]"):
        LabelTextSampler((("a",), ()), seed=0)


def test_the_sampler_draws_what_it_drew_before_label_negation_existed():
    """Recorded with the sampler of the commit before `--label-negation` (4d5a2a5), bare forms: with it and
    `--label-templates` deleted, a run draws the same texts."""
    forms = tuple(tuple(f"{label}-{index}" for index in range(label % 4 + 1)) for label in range(6))
    assert [LabelTextSampler(forms, 7).draw(*at) for at in [(0, 0), (1, 3), (4, 2)]] == [
        ["0-0", "1-1", "2-1", "3-2", "4-0", "5-1"],
        ["0-0", "1-1", "2-1", "3-0", "4-0", "5-0"],
        ["0-0", "1-1", "2-2", "3-3", "4-0", "5-0"],
    ]


def test_seeds_give_different_draws():
    forms = tuple(tuple(f"{label}-{index}" for index in range(10)) for label in range(20))
    assert LabelTextSampler(forms, 0).draw(0, 0) != LabelTextSampler(forms, 1).draw(0, 0)


def test_training_samples_label_texts_and_records_them(training_dataset, tiny_text_encoder_dir, tmp_path):
    """Exact resume with sampled texts is tested in test_training_loop (its runs use label_text="sample")."""
    from safetensors.torch import load_file

    from modeling_supreme.training import run_training
    from modeling_supreme.training.data import load_splits, resolve_vocabulary
    from tests.training_helpers import tiny_options

    settings = dict(max_steps=3, save_steps=0, eval_steps=0, validation_split="none", select_best=False)
    sampled = tiny_options(
        training_dataset, tmp_path / "sample", tiny_text_encoder_dir, label_text="sample", **settings
    )
    vocabulary = resolve_vocabulary(sampled, load_splits(str(training_dataset))["train"])
    assert sum(len(vocabulary.label_forms(label)) > 1 for label in vocabulary.labels) >= len(vocabulary) // 2
    sampled_folder = run_training(sampled).output_dir
    described = run_training(
        tiny_options(training_dataset, tmp_path / "described", tiny_text_encoder_dir, label_text="description",
                     **settings)
    )
    weights = [load_file(str(Path(folder) / "model.safetensors")) for folder in (sampled_folder, described.output_dir)]
    assert any(not torch.equal(weights[0][key], weights[1][key]) for key in weights[0] if key.startswith("fusion"))
    saved = Vocabulary.load(Path(sampled_folder) / "vocabulary.json")
    assert saved.forms == vocabulary.forms
    config = json.loads((Path(sampled_folder) / "config.json").read_text())
    assert config["label_descriptions"] == {label: label for label in vocabulary.labels}  # the name stays its text


# -- prompt ensembles and prompt files ----------------------------------------------------------------------------


@pytest.fixture
def sample_ecgs(tiny_processor):
    records = [read_ecg(ptbxl_record(ecg_id)) for ecg_id in range(1, 7)]
    return tiny_processor.feature_extractor(records, return_tensors="pt")


def test_an_ensemble_scores_the_mean_of_its_logits_and_never_depends_on_other_labels(
    tiny_model, tiny_processor, sample_ecgs
):
    texts = ["normal ecg", "sinus rhythm", "myocardial infarction", "left bundle branch block"]
    tokens = tiny_processor.tokenize_labels(texts)
    with torch.no_grad():
        logits = tiny_model(ecg_values=sample_ecgs["ecg_values"], **tokens).logits
    expected = torch.sigmoid(torch.stack([logits[:, :2].mean(1), logits[:, 2]], dim=1)).numpy()
    values = sample_ecgs["ecg_values"]
    scores = score_ecgs(tiny_model, tiny_processor, values, [texts[:2], texts[2]], progress=False)
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    more = score_ecgs(tiny_model, tiny_processor, values, [texts[:2], texts[2], texts[2:]], progress=False)
    np.testing.assert_allclose(more[:, :2], scores, atol=1e-6)
    repeated = score_ecgs(tiny_model, tiny_processor, values, [texts[2], texts[:2], texts[2]], progress=False)
    np.testing.assert_allclose(repeated[:, 0], repeated[:, 2], atol=0)  # a repeated query keeps its own column


def test_ckepe_prompts_cover_every_benchmark_column_lower_cased():
    prompts = load_label_descriptions("ckepe")
    for name, spec in TASKS.items():
        for split in ("test",):
            if not spec.table_path(SPLITS_DIR, split).is_file():
                continue
            texts = label_texts_for(prompts, spec.descriptions_key, spec.label_columns(SPLITS_DIR, split))
            assert all(isinstance(text, str) and text == text.lower() and text for text in texts), name
    assert "normal ecg" in prompts["ptbxl_super"]["NORM"]


def test_prompt_files_take_lists_and_flat_label_maps(tmp_path):
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps({"NORM": ["normal ecg", "unremarkable ecg"], "MI": "myocardial infarction"}))
    prompts = load_label_descriptions(path)
    assert label_texts_for(prompts, "ptbxl_super", ["NORM", "MI"]) == [
        ["normal ecg", "unremarkable ecg"],
        "myocardial infarction",
    ]
    assert label_texts_for(prompts, "ptbxl_sub", ["NORM"]) == [["normal ecg", "unremarkable ecg"]]
    with pytest.raises(ValueError, match=r"lack the columns \['CD'\]"):  # no silent fallback to another text
        label_texts_for(prompts, "ptbxl_super", ["NORM", "CD"])


@pytest.mark.parametrize(
    "content, match",
    [
        ({"NORM": []}, r"prompts\.json.*'NORM'"),
        ({"NORM": ["normal", 5]}, r"prompts\.json.*'NORM'"),
        ({"NORM": None}, r"prompts\.json.*'NORM'"),
        ({"ptbxl_super": {"NORM": "x"}, "MI": "y"}, r"prompts\.json: mixes"),
        (["NORM"], r"prompts\.json: expected an object"),
    ],
)
def test_bad_prompt_files_name_the_file_and_the_label(tmp_path, content, match):
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=match):
        load_label_descriptions(path)


# -- query robustness ---------------------------------------------------------------------------------------------


def test_wording_results_give_each_wording_its_auroc_the_worst_and_the_spread():
    targets = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=np.float32)
    pairs = [("A", "right"), ("A", "inverted"), ("B", "right")]
    scores = np.stack([targets[:, 0], 1 - targets[:, 0], targets[:, 1]], axis=1)
    results = wording_results(targets, ["A", "B"], pairs, scores)
    assert results["A"].auroc == {"right": 100.0, "inverted": 0.0}
    assert (results["A"].worst, results["A"].best, results["A"].spread, results["A"].mean) == (0.0, 100.0, 100.0, 50.0)
    assert results["A"].worst_wording == "inverted" and results["B"].spread == 0.0
    single = wording_results(np.ones((3, 1)), ["A"], [("A", "x")], np.ones((3, 1)))
    assert single["A"].worst is None and single["A"].to_json()["spread"] is None


def test_one_ranking_of_the_ecgs_for_every_query_has_a_first_axis_share_of_one():
    rng = np.random.default_rng(0)
    targets = (rng.random((40, 1)) < 0.5).astype(np.float32)
    ranking = targets[:, 0] + rng.normal(0, 0.5, 40)
    signs_and_offsets = [(1.0, 0.0), (-2.0, 3.0), (0.5, -1.0)]
    scores = np.stack([sign * ranking + offset for sign, offset in signs_and_offsets], axis=1)
    shares = logit_axis_shares(scores)
    assert shares[0] == pytest.approx(1.0) and sum(shares) == pytest.approx(1.0)
    # On one ranking a wording keeps its label's AUROC or mirrors it: nothing in between.
    auroc = wording_results(targets, ["A"], [("A", "kept"), ("A", "mirrored"), ("A", "kept too")], scores)["A"].auroc
    assert auroc["mirrored"] == pytest.approx(100 - auroc["kept"]) and auroc["kept too"] == pytest.approx(auroc["kept"])


def test_queries_that_rank_the_ecgs_independently_share_the_variance_evenly():
    columns = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64)  # centred, orthogonal
    assert logit_axis_shares(columns) == pytest.approx([1 / 3] * 3)
    assert logit_axis_shares(columns, count=1) == pytest.approx([1 / 3])
    assert logit_axis_shares(columns[:, :2], count=5) == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize(
    "scores, count, match",
    [
        (np.ones(4), 3, "matrix"),
        (np.array([[0.1, np.nan], [0.2, 0.3]]), 3, "NaN"),
        (np.array([[0.1, 0.2], [0.3, 0.4]]), 0, "count"),
    ],
)
def test_logit_axis_shares_refuses_what_is_not_a_finite_score_matrix(scores, count, match):
    with pytest.raises(ValueError, match=match):
        logit_axis_shares(scores, count)


@pytest.mark.parametrize("scores", [np.ones((1, 3)), np.full((3, 2), 0.5), np.zeros((4, 0))])
def test_scores_without_variance_have_no_axes(scores):
    # One ECG, or queries that score every ECG the same, as an untrained model can: nothing to report, no error.
    assert logit_axis_shares(scores) == []


def test_robustness_table_states_the_first_axis_share_when_given():
    results = {"NORM": {"auroc": {"a": 90.0, "b": 10.0}, "worst": 10.0, "best": 90.0, "spread": 80.0, "mean": 50.0,
                        "worst_wording": "b"}}
    with_shares = "\n".join(robustness_markdown("PTB-XL", results, [0.95, 0.03, 0.01]))
    assert "first axis over the ECGs: 0.95 (next: 0.03, 0.01)" in with_shares
    assert "first axis" not in "\n".join(robustness_markdown("PTB-XL", results))


@pytest.mark.parametrize(
    "content, match",
    [
        ({"ptbxl_super": {"NORM": []}}, "'NORM'"),
        ({"ptbxl_super": ["NORM"]}, "'ptbxl_super'"),
        ([1], "expected an object"),
    ],
)
def test_bad_paraphrase_files_are_refused_naming_the_file(tmp_path, content, match):
    path = tmp_path / "wordings.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=match):
        load_paraphrases(path)
    with pytest.raises(ValueError, match="cannot read"):
        load_paraphrases(tmp_path / "missing.json")


@pytest.mark.slow
def test_zero_shot_cli_reports_robustness_and_takes_ckepe(tiny_checkpoint, tmp_path):
    out = tmp_path / "zero-shot"
    command = [sys.executable, "eval/zero_shot.py", "--model", str(tiny_checkpoint), "--splits", str(SPLITS_DIR),
               "--ptbxl-root", str(PTBXL_DIR), "--tasks", "ptbxl_super,ptbxl_rhythm", "--out", str(out),
               "--n-resamples", "20", "--no-progress", "--robustness", "default", "--prompts", "ckepe"]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "### Query robustness: PTB-XL super-class" in completed.stdout
    results = json.loads((out / "results.json").read_text())
    robustness = results["tasks"]["ptbxl_super"]["robustness"]
    wordings = load_paraphrases()["ptbxl_super"]
    assert set(robustness) == set(wordings)
    for label, entry in robustness.items():
        assert list(entry["auroc"]) == wordings[label]
        defined = [value for value in entry["auroc"].values() if value is not None]
        assert entry["worst"] == min(defined) and entry["spread"] == pytest.approx(max(defined) - min(defined))
    shares = results["tasks"]["ptbxl_super"]["query_axis_shares"]
    assert len(shares) == 3 and shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1 + 1e-9
    assert f"first axis over the ECGs: {shares[0]:.2f}" in completed.stdout
    assert results["settings"]["label_descriptions"] == "ckepe"
    first_label = next(iter(results["tasks"]["ptbxl_super"]["per_label"]))
    assert (
        results["settings"]["label_texts"]["ptbxl_super"][0]
        == load_label_descriptions("ckepe")["ptbxl_super"][first_label]
    )
