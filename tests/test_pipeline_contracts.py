"""The ecg-zero-shot pipeline as transformers / datasets / peft users call it: built from a model object, dataset
rows and KeyDataset inputs, strict arguments, top_k, prompt ensembles, chunked label encoding, clip scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import pipeline

from modeling_supreme import SupremeModel, read_ecg
from modeling_supreme.modeling_supreme import expand_label_prompts, mean_logits_per_label
from tests.dataset_builders_helpers import copy_ptbxl_subset, stored_mv
from tests.sample_data import ptbxl_record
from tests.tiny_models import tiny_config

LABELS = ["normal ecg", "myocardial infarction", "left bundle branch block", "atrial fibrillation"]


@pytest.fixture
def classifier(tiny_checkpoint):
    return pipeline("ecg-zero-shot", model=str(tiny_checkpoint))


@pytest.fixture(scope="module")
def built_dataset(tmp_path_factory):
    """The package's own dataset format: PTB-XL records 1-4 built by the PTB-XL builder, loaded with datasets."""
    from datasets import load_dataset

    from modeling_supreme.dataset_builders import BuildSettings
    from modeling_supreme.dataset_builders.ptbxl import build_ptbxl

    folder = tmp_path_factory.mktemp("pipeline-dataset")
    copy_ptbxl_subset(folder / "raw", [1, 2, 3, 4], rate=100)
    build_ptbxl(folder / "raw", folder / "built", 100, BuildSettings(progress=False))
    splits = load_dataset(str(folder / "built"))
    return splits[sorted(splits)[0]]


def _scores(result):
    return {item["label"]: item["score"] for item in result}


def test_pipeline_from_a_model_object_alone(tiny_checkpoint, classifier):
    model = SupremeModel.from_pretrained(tiny_checkpoint)
    from_object = pipeline("ecg-zero-shot", model=model)
    record = str(ptbxl_record(1))
    assert _scores(from_object(record, candidate_labels=LABELS)) == pytest.approx(
        _scores(classifier(record, candidate_labels=LABELS)), abs=1e-6
    )


def test_pipeline_from_a_model_object_and_processor(tiny_model, tiny_processor, classifier):
    fresh = SupremeModel(tiny_model.config)  # not loaded from anywhere: no name_or_path to find a processor in
    with pytest.raises(ValueError, match="processor="):
        pipeline("ecg-zero-shot", model=fresh)
    with_processor = pipeline("ecg-zero-shot", model=fresh, processor=tiny_processor)
    assert len(with_processor(str(ptbxl_record(1)), candidate_labels=LABELS)) == len(LABELS)


def test_pipeline_from_a_peft_model(tiny_checkpoint):
    peft = pytest.importorskip("peft")
    base = SupremeModel.from_pretrained(tiny_checkpoint)
    model = peft.get_peft_model(base, peft.LoraConfig(r=4, target_modules=["query", "value"], init_lora_weights=False))
    classifier = pipeline("ecg-zero-shot", model=model)
    record = str(ptbxl_record(2))
    adapted = _scores(classifier(record, candidate_labels=LABELS))
    with model.disable_adapter():
        disabled = _scores(classifier(record, candidate_labels=LABELS))
    plain = _scores(pipeline("ecg-zero-shot", model=str(tiny_checkpoint))(record, candidate_labels=LABELS))
    assert disabled == pytest.approx(plain, abs=1e-6)
    assert adapted != pytest.approx(plain, abs=1e-6)


def test_a_dataset_row_is_an_input(built_dataset, classifier):
    row = built_dataset[0]
    assert {"ecg", "sampling_rate", "lead_names", "lead_mask"} <= set(row)
    from_row = _scores(classifier(row, candidate_labels=LABELS))
    record = {
        "signal": stored_mv(row),
        "sampling_rate": row["sampling_rate"],
        "lead_names": row["lead_names"],
    }
    assert from_row == pytest.approx(_scores(classifier(record, candidate_labels=LABELS)), abs=1e-6)
    torch_row = built_dataset.with_format("torch")[0]
    assert _scores(classifier(torch_row, candidate_labels=LABELS)) == pytest.approx(from_row, abs=1e-5)


def test_a_row_lead_mask_masks_leads_the_source_lacked(built_dataset, classifier):
    row = dict(built_dataset.with_format("numpy")[0])
    masked = dict(row, lead_mask=np.array([True] * 6 + [False] * 6))
    zeroed = dict(row, ecg=np.where(masked["lead_mask"][:, None], row["ecg"], 0).astype(row["ecg"].dtype))
    with torch.no_grad():
        inputs = classifier.preprocess(masked, candidate_labels=LABELS)
    assert inputs["lead_mask"][0].tolist() == [True] * 6 + [False] * 6
    assert _scores(classifier(masked, candidate_labels=LABELS)) == pytest.approx(
        _scores(classifier(dict(zeroed, lead_mask=masked["lead_mask"]), candidate_labels=LABELS)), abs=1e-6
    )


def test_key_dataset_with_sampling_rate(built_dataset, classifier):
    from transformers.pipelines.pt_utils import KeyDataset

    results = list(
        classifier(
            KeyDataset(built_dataset.with_format("numpy"), "ecg"),
            sampling_rate=100,
            lead_names=built_dataset[0]["lead_names"],
            candidate_labels=LABELS,
            batch_size=2,
        )
    )
    assert len(results) == len(built_dataset)
    for index, result in enumerate(results):
        assert _scores(result) == pytest.approx(
            _scores(classifier(built_dataset[index], candidate_labels=LABELS)), abs=1e-5
        )


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"candidate_lables": LABELS}, TypeError, "candidate_lables"),
        ({"foo": 1}, TypeError, "foo"),
        ({"candidate_labels": 5}, TypeError, "candidate_labels"),
        ({"candidate_labels": [""]}, ValueError, "candidate_labels\\[0\\]"),
        ({"candidate_labels": [5, None]}, ValueError, "candidate_labels\\[0\\]"),
        ({"candidate_labels": {"a": None}}, ValueError, "'a'"),
        ({"candidate_labels": {"NORM": []}}, ValueError, "'NORM'"),
        ({"candidate_labels": {"NORM": ["normal ecg", 3]}}, ValueError, "'NORM'"),
        ({"candidate_labels": LABELS, "hypothesis_template": "{:{}}"}, ValueError, "hypothesis_template"),
        ({"candidate_labels": LABELS, "hypothesis_template": "{} and {}"}, ValueError, "hypothesis_template"),
        ({"candidate_labels": LABELS, "hypothesis_template": "{0"}, ValueError, "hypothesis_template"),
        ({"candidate_labels": LABELS, "top_k": 0}, ValueError, "top_k"),
        ({"candidate_labels": LABELS, "sampling_rate": -5}, ValueError, "sampling_rate"),
        ({"candidate_labels": LABELS, "lead_names": "I"}, ValueError, "lead_names"),
        ({"candidate_labels": LABELS, "return_attention": "yes"}, TypeError, "return_attention"),
    ],
)
def test_bad_arguments_raise_errors_that_name_them(classifier, kwargs, error, message):
    with pytest.raises(error, match=message):
        classifier(str(ptbxl_record(1)), **kwargs)


def test_empty_inputs_raise(classifier):
    with pytest.raises(ValueError, match="empty list"):
        classifier([], candidate_labels=LABELS)
    with pytest.raises(ValueError, match="empty string"):
        classifier("", candidate_labels=LABELS)


def test_top_k_keeps_the_best_labels(classifier):
    record = str(ptbxl_record(3))
    full = classifier(record, candidate_labels=LABELS)
    assert classifier(record, candidate_labels=LABELS, top_k=2) == full[:2]
    assert classifier(record, candidate_labels=LABELS, top_k=10) == full


def test_prompt_ensemble_scores_the_mean_of_logits(classifier):
    record = str(ptbxl_record(4))
    prompts = {"NORM": ["normal ecg", "sinus rhythm"], "MI": "myocardial infarction"}
    ensemble = _scores(classifier(record, candidate_labels=prompts))
    singles = classifier.preprocess(record, candidate_labels=["normal ecg", "sinus rhythm", "myocardial infarction"])
    with torch.no_grad():
        logits = classifier.model(
            ecg_values=singles["ecg_values"], lead_mask=singles["lead_mask"], **singles["label_inputs"][0]["tokens"]
        ).logits[0]
    assert ensemble["NORM"] == pytest.approx(torch.sigmoid((logits[0] + logits[1]) / 2).item(), abs=1e-6)
    assert ensemble["MI"] == pytest.approx(torch.sigmoid(logits[2]).item(), abs=1e-6)
    # A label's score never depends on the other labels asked.
    alone = _scores(classifier(record, candidate_labels={"NORM": ["normal ecg", "sinus rhythm"]}))
    assert alone["NORM"] == pytest.approx(ensemble["NORM"], abs=1e-6)


def test_ensemble_helpers():
    names, texts, owners = expand_label_prompts({"A": ["x", "y"], "B": "z"})
    assert (names, texts, owners) == (["A", "B"], ["x", "y", "z"], [0, 0, 1])
    assert expand_label_prompts("one label") == (["one label"], ["one label"], [0])
    logits = torch.tensor([[1.0, 3.0, 5.0]])
    torch.testing.assert_close(mean_logits_per_label(logits, owners, 2), torch.tensor([[2.0, 5.0]]))


def test_many_labels_are_encoded_and_scored_in_chunks(tiny_checkpoint):
    classifier = pipeline("ecg-zero-shot", model=str(tiny_checkpoint), label_chunk_size=7)
    classifier.label_cache.chunk_size = 5
    calls, batch_sizes = [0], []

    def count(_module, args, kwargs, _output):
        calls[0] += 1
        batch_sizes.append(kwargs["input_ids"].shape[0])

    classifier.model.text_model.register_forward_hook(count, with_kwargs=True)
    words = ["normal", "ecg", "sinus", "rhythm", "atrial", "fibrillation", "left", "right", "bundle", "block"]
    labels = [f"{first} {second}" for first in words for second in words[:3]]  # 30 distinct texts
    record = str(ptbxl_record(5))
    chunked = _scores(classifier(record, candidate_labels=labels))
    assert len(chunked) == 30 and max(batch_sizes) <= 5 and calls[0] == 6
    one_go = pipeline("ecg-zero-shot", model=str(tiny_checkpoint), label_chunk_size=1000)
    assert _scores(one_go(record, candidate_labels=labels)) == pytest.approx(chunked, abs=1e-5)


def test_clip_objective_returns_cosine_similarities(tmp_path, tiny_processor):
    torch.manual_seed(0)
    model = SupremeModel(tiny_config(objective="clip"))
    model.save_pretrained(tmp_path)
    tiny_processor.save_pretrained(tmp_path)
    classifier = pipeline("ecg-zero-shot", model=str(tmp_path))
    assert classifier.score_kind == "cosine"
    record = read_ecg(ptbxl_record(6))
    result = _scores(classifier(record, candidate_labels=LABELS))
    inputs = tiny_processor(ecg=record, text=LABELS, return_tensors="pt")
    with torch.no_grad():
        output = classifier.model(**inputs)
    cosine = (output.ecg_embeds @ output.text_embeds.t())[0]
    assert [result[label] for label in LABELS] == pytest.approx(cosine.tolist(), abs=1e-5)
