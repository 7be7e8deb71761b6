"""Vocabulary builder: canonical names, merged synonyms, dropped noise, frequency threshold, multi-hot targets,
and the form the model config takes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modeling_supreme.entities import Entity, LexiconExtractor, Vocabulary, build_vocabulary, entities_to_multi_hot
from tests.sample_data import PTBXL_DIR


@pytest.fixture(scope="module")
def sample_entities() -> list[list[Entity]]:
    reports = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv")["report"].tolist()
    return LexiconExtractor().extract_batch(reports)


def test_vocabulary_from_the_real_sample(sample_entities) -> None:
    vocabulary = build_vocabulary(sample_entities, min_count=5)
    counts = [vocabulary.counts[label] for label in vocabulary.labels]
    assert counts == sorted(counts, reverse=True) and min(counts) >= 5
    assert vocabulary.labels[:2] == ["sinus rhythm", "normal ecg"]
    assert "abnormal ecg" not in vocabulary.labels  # noise ("pathologisch") is dropped
    assert vocabulary.label2id == {label: index for index, label in vocabulary.id2label.items()}
    specs = LexiconExtractor().lexicon.specs
    assert vocabulary.descriptions == {label: specs[label].description for label in vocabulary.labels}
    assert vocabulary.categories == {label: specs[label].category for label in vocabulary.labels}
    raw_counts = {}
    for entities in sample_entities:
        for name in {entity.name for entity in entities if entity.status != "absent"}:
            raw_counts[name] = raw_counts.get(name, 0) + 1
    assert {label: raw_counts[label] for label in vocabulary.labels} == vocabulary.counts
    assert set(vocabulary.labels) == {name for name, count in raw_counts.items() if count >= 5} - {
        "abnormal ecg",
        "borderline ecg",
        "trace only",
    }


def test_llm_surface_names_merge_into_canonical_labels() -> None:
    answers = [
        [Entity("AFib", "rhythm", "present"), Entity("Inferior MI", "morphology", "uncertain")],
        [
            Entity("atrial fibrillation", "rhythm", "present"),
            Entity("inferior myocardial infarction", "morphology", "present"),
        ],
        [Entity("Atrial Fibrillation", "rhythm", "present"), Entity("unconfirmed report", "other", "present")],
        [Entity("takotsubo pattern", "st_t", "present"), Entity("left bundle branch block", "conduction", "absent")],
        [Entity("takotsubo pattern", "st_t", "uncertain")],
    ]
    vocabulary = build_vocabulary(answers, min_count=2)
    assert vocabulary.labels == ["atrial fibrillation", "inferior myocardial infarction", "takotsubo pattern"]
    assert vocabulary.counts == {"atrial fibrillation": 3, "inferior myocardial infarction": 2, "takotsubo pattern": 2}
    assert (
        vocabulary.synonyms["AFib"] == "atrial fibrillation"
        and vocabulary.synonyms["Inferior MI"] == "inferior myocardial infarction"
    )
    assert vocabulary.descriptions["takotsubo pattern"] == "takotsubo pattern"  # unknown to the lexicon: its name
    assert "irregularly irregular" in vocabulary.descriptions["atrial fibrillation"]
    target = vocabulary.multi_hot(answers[0], uncertain_value=0.5)
    np.testing.assert_array_equal(target, np.array([1.0, 0.5, 0.0], dtype=np.float32))
    batch = vocabulary.multi_hot_batch([answers[0], None, [entity.to_dict() for entity in answers[3]]], 0.5)
    np.testing.assert_array_equal(batch, np.array([[1, 0.5, 0], [0, 0, 0], [0, 0, 1]], dtype=np.float32))
    assert vocabulary.multi_hot_batch([]).shape == (0, 3)


def test_multi_hot_values_and_shape() -> None:
    label2id = {"sinus rhythm": 0, "left bundle branch block": 1, "inferior myocardial infarction": 2, "normal ecg": 3}
    entities = [
        {"name": "sinus rhythm", "category": "rhythm", "status": "present"},
        {"name": "left bundle branch block", "category": "conduction", "status": "absent"},
        {"name": "inferior myocardial infarction", "category": "morphology", "status": "uncertain"},
        {"name": "not in the vocabulary", "category": "other", "status": "present"},
        {"name": "inferior myocardial infarction", "category": "morphology", "status": "present"},
    ]
    target = entities_to_multi_hot(entities, label2id, uncertain_value=0.3)
    assert target.shape == (4,) and target.dtype == np.float32
    np.testing.assert_array_equal(target, np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32))
    only_uncertain = entities_to_multi_hot(entities[2:3], label2id, uncertain_value=0.3)
    np.testing.assert_allclose(only_uncertain, [0.0, 0.0, 0.3, 0.0])


def test_save_load_and_model_config(tmp_path, sample_entities) -> None:
    from tests.tiny_models import tiny_config

    vocabulary = build_vocabulary(sample_entities, min_count=3)
    path = vocabulary.save(tmp_path / "vocabulary.json")
    loaded = Vocabulary.load(path)
    assert loaded == vocabulary
    config = tiny_config()
    config.set_labels(loaded.labels, loaded.descriptions)
    assert config.id2label == loaded.id2label and config.label2id == loaded.label2id
    assert config.label_texts == [loaded.descriptions[label] for label in loaded.labels]
    (tmp_path / "broken.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json"):
        Vocabulary.load(tmp_path / "broken.json")
