"""Training data on real PTB-XL records: the collator's inputs and targets, the vocabulary, validation targets."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
import torch

from modeling_supreme import SupremeFeatureExtractor, SupremeProcessor
from modeling_supreme.dataset_builders.labels import multi_hot_matrix, multi_label_names
from modeling_supreme.entities import Vocabulary, build_vocabulary
from modeling_supreme.evaluation import load_label_descriptions
from modeling_supreme.storage_supreme import decode_signals
from modeling_supreme.training import (
    SupremeCollator,
    TrainingOptions,
    build_model,
    build_validation_set,
    resolve_vocabulary,
)
from modeling_supreme.training.data import formatted_for_collation, load_splits
from tests.llm_stubs import FailingBackend
from tests.tiny_models import TINY_ECG_ENCODERS


@pytest.fixture(scope="module")
def splits(training_dataset):
    return load_splits(str(training_dataset))


@pytest.fixture
def processor(tiny_tokenizer):
    return SupremeProcessor(SupremeFeatureExtractor(sampling_rate=100, num_samples=1000), tiny_tokenizer,
                            label_max_length=16, report_max_length=24)


def test_collator_gives_the_feature_extractor_output_and_the_vocabulary_targets(splits, processor):
    train = splits["train"]
    vocabulary = build_vocabulary(train["entities"], min_count=2)
    rows = formatted_for_collation(train).__getitems__([0, 3, 5, 8])
    batch = SupremeCollator(processor, vocabulary, uncertain_value=0.5)(rows)

    assert set(batch) == {"ecg_values", "lead_mask", "labels"}
    decoded = [decode_signals(row["ecg"], row["ecg_gain"]) for row in rows]
    expected = processor.feature_extractor(decoded, sampling_rate=100)
    torch.testing.assert_close(batch["ecg_values"], expected["ecg_values"])
    assert batch["ecg_values"].shape == (4, 12, 1000) and batch["lead_mask"].dtype == torch.bool
    assert batch["labels"].shape == (4, len(vocabulary)) and batch["labels"].dtype == torch.float32
    for row, target in zip(rows, batch["labels"].numpy()):
        np.testing.assert_array_equal(target, vocabulary.multi_hot(row["entities"], uncertain_value=0.5))
        stated = {entity["name"] for entity in row["entities"] if entity["status"] == "present"}
        assert {vocabulary.labels[index] for index in np.flatnonzero(target == 1)} == stated & set(vocabulary.labels)


def test_collator_tokenises_reports_for_the_contrastive_objective_and_keeps_stored_lead_masks(splits, processor):
    rows = list(formatted_for_collation(splits["train"]).__getitems__([1, 2]))  # row dicts, not a RowBatch
    rows[1]["lead_mask"] = np.array([True] * 6 + [False] * 6)  # as a dataset stores leads its source lacked
    batch = SupremeCollator(processor, with_reports=True)(rows)
    assert "labels" not in batch
    assert (
        batch["report_input_ids"].shape[0] == 2
        and batch["report_input_ids"].shape == batch["report_attention_mask"].shape
    )
    expected = processor(reports=[row["report"] for row in rows], return_tensors="pt")["report_input_ids"]
    torch.testing.assert_close(batch["report_input_ids"], expected)
    assert batch["lead_mask"][0].all() and batch["lead_mask"][1].tolist() == [True] * 6 + [False] * 6


def test_vocabulary_is_built_from_the_train_split_or_read_from_a_file(splits, tmp_path, training_dataset):
    options = TrainingOptions(dataset=str(training_dataset), output_dir="o", min_label_count=3)
    built = resolve_vocabulary(options, splits["train"])
    counts = {}
    for entities in splits["train"]["entities"]:
        for name in {entity["name"] for entity in entities if entity["status"] in ("present", "uncertain")}:
            counts[name] = counts.get(name, 0) + 1
    assert built.labels and all(built.counts[label] >= 3 for label in built.labels)
    assert "sinus rhythm" in built.labels and built.counts["sinus rhythm"] == counts["sinus rhythm"]

    path = Vocabulary(
        labels=["normal ecg", "atrial fibrillation"], descriptions={"normal ecg": "a normal ECG"}
    ).save(tmp_path / "v.json")
    loaded = resolve_vocabulary(TrainingOptions(dataset="d", output_dir="o", vocabulary=str(path)), splits["train"])
    assert loaded.labels == ["normal ecg", "atrial fibrillation"]

    with pytest.raises(ValueError, match="vocabulary .* is empty"):
        resolve_vocabulary(TrainingOptions(dataset="d", output_dir="o", min_label_count=10**6), splits["train"])
    no_entities = splits["train"].remove_columns("entities")
    with pytest.raises(ValueError, match="no 'entities' column"):
        resolve_vocabulary(TrainingOptions(dataset="d", output_dir="o"), no_entities)
    assert (
        resolve_vocabulary(
            TrainingOptions(dataset="d", output_dir="o", model_config={"objective": "clip"}), no_entities
        )
        is None
    )


def test_validation_set_uses_the_feature_label_names_and_the_task_descriptions(splits, training_dataset):
    options = TrainingOptions(dataset=str(training_dataset), output_dir="o")
    validation = build_validation_set(options, splits)
    names = multi_label_names(splits["validation"].features, "super_class")
    assert validation.label_names == names and sorted(names) == ["CD", "HYP", "MI", "NORM", "STTC"]
    descriptions = load_label_descriptions()["ptbxl_super"]
    assert validation.label_texts == [descriptions[name] for name in names]
    expected = np.array([[name in {names[index] for index in row} for name in names]
                         for row in splits["validation"]["super_class"]], dtype=np.float32)
    np.testing.assert_array_equal(validation.targets, expected)
    assert len(validation.split) == len(splits["validation"]) == 19


def test_validation_from_scalar_columns_and_custom_descriptions(splits, training_dataset, tmp_path):
    validation = splits["validation"]
    table = multi_hot_matrix(validation, "super_class")
    names = multi_label_names(validation.features, "super_class")
    scalar = validation.add_column("NORM", table[:, names.index("NORM")].tolist()).add_column(
        "MI", table[:, names.index("MI")].tolist()
    )
    descriptions = tmp_path / "prompts.json"
    descriptions.write_text(json.dumps({"mine": {"NORM": "healthy heart", "MI": "heart attack"}}))
    options = TrainingOptions(dataset=str(training_dataset), output_dir="o", val_label_columns=["NORM", "MI"],
                              val_task="mine", val_descriptions=str(descriptions))
    built = build_validation_set(options, datasets.DatasetDict(validation=scalar))
    assert built.label_names == ["NORM", "MI"] and built.label_texts == ["healthy heart", "heart attack"]
    np.testing.assert_array_equal(built.targets[:, 1], table[:, names.index("MI")])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"validation_split": "dev"}, "has no split 'dev'"),
        ({"val_label_columns": ["diagnosis"]}, r"lacks the columns \['diagnosis'\]"),
        ({"val_task": "ptbxl_rhythm"}, "lack the columns"),
    ],
)
def test_validation_errors_name_what_is_missing(splits, training_dataset, overrides, message):
    options = TrainingOptions(dataset=str(training_dataset), output_dir="o", **overrides)
    with pytest.raises(ValueError, match=message):
        build_validation_set(options, splits)


def test_validation_can_be_switched_off(splits, training_dataset):
    assert (
        build_validation_set(
            TrainingOptions(dataset=str(training_dataset), output_dir="o", validation_split="none"), splits
        )
        is None
    )


@pytest.mark.parametrize("objective", ["supreme", "clip"])
def test_built_model_encodes_label_names_or_descriptions_and_trains_only_what_its_objective_uses(
    splits, training_dataset, tiny_text_encoder_dir, objective
):
    vocabulary = build_vocabulary(splits["train"]["entities"], min_count=3)
    common = dict(dataset=str(training_dataset), output_dir="o", text_encoder=str(tiny_text_encoder_dir),
                  model_config={**TINY_ECG_ENCODERS["resnet"], "fusion_dim": 32, "fusion_heads": 2, "embed_dim": 32,
                                "objective": objective})
    model = build_model(TrainingOptions(**common), vocabulary)
    assert model.config.label_texts == vocabulary.labels
    described = build_model(TrainingOptions(label_text="description", **common), vocabulary)
    assert described.config.label_texts == [vocabulary.descriptions[name] for name in vocabulary.labels]

    trainable = {name.split(".")[0] for name, parameter in model.named_parameters() if parameter.requires_grad}
    used = {"supreme": {"ecg_encoder", "label_projection", "fusion"},
            "clip": {"ecg_encoder", "ecg_projection", "text_projection", "logit_scale"}}
    assert trainable == used[objective]  # the text tower is frozen by default (text_trainable_layers=0)


def test_training_skips_rows_whose_entity_extraction_failed(training_dataset, tiny_text_encoder_dir, tmp_path, caplog):
    from modeling_supreme.entities import LLMExtractor
    from modeling_supreme.entities.annotate import add_entities
    from modeling_supreme.training.trainer import SupremeTrainer
    from tests.training_helpers import tiny_options

    train_reports = load_splits(str(training_dataset))["train"]["report"]
    failing = set(list(dict.fromkeys(train_reports))[:2])
    add_entities(training_dataset, tmp_path / "dataset", LLMExtractor(FailingBackend(failing), progress=False))
    marked = load_splits(str(tmp_path / "dataset"))["train"]
    assert marked["entities_failed"] == [report in failing for report in marked["report"]]

    trainer = SupremeTrainer(tiny_options(tmp_path / "dataset", tmp_path / "run", tiny_text_encoder_dir))
    trainer._prepare_data()
    kept = sum(report not in failing for report in train_reports)
    assert len(trainer.train_loader.dataset) == kept < len(train_reports)
    assert f"skipping {len(train_reports) - kept} of {len(train_reports)} rows" in caplog.text


def test_a_split_whose_extraction_failed_everywhere_is_refused() -> None:
    from modeling_supreme.training.failed_extractions import without_failed_extractions

    split = datasets.Dataset.from_dict({"entities": [[], []], "entities_failed": [True, True]})
    with pytest.raises(ValueError, match="the entity extraction failed for all 2 rows"):
        without_failed_extractions(split, "data split 'train'")
    unmarked = datasets.Dataset.from_dict({"entities": [[]]})
    assert without_failed_extractions(unmarked, "data") is unmarked
