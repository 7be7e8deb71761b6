"""Negated label queries ("no X" scored as the complement of "X"): the parse, the logit algebra, the config that
records the cues, zero-shot scoring and the pipeline, and the training texts read the same way."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import pipeline

from modeling_supreme import SupremeConfig, SupremeModel, read_ecg
from modeling_supreme.entities import Lexicon, build_vocabulary
from modeling_supreme.evaluation import score_ecgs
from modeling_supreme.query_negation_supreme import QueryClauses, QueryNegation, query_clauses
from modeling_supreme.training.label_texts import LabelTextSampler
from tests.sample_data import ptbxl_record


@pytest.fixture(scope="module")
def cues() -> dict[str, list[str]]:
    return Lexicon.load().negation_cues()


@pytest.fixture(scope="module")
def negation(cues) -> QueryNegation:
    return QueryNegation.from_cues(cues)


def test_the_lexicon_gives_its_negation_cues_in_every_language(cues):
    assert {"no", "without", "no evidence of", "kein", "utan"} <= set(cues["before"])
    assert {"ruled out", "ausgeschlossen"} <= set(cues["after"])
    assert "no significant change" in cues["pseudo"]
    assert "possible" not in cues["before"]  # uncertainty is not negation


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        ("no atrial fibrillation", [("atrial fibrillation", True)]),
        ("No evidence of infarction", [("infarction", True)]),  # the longest cue, any case
        ("Atrial fibrillation ruled out", [("Atrial fibrillation", True)]),
        ("pericarditis absent", [("pericarditis", True)]),  # "absent" after, although it is also a cue before
        ("absent p waves", [("p waves", True)]),
        ("kein pathologischer befund", [("pathologischer befund", True)]),
        ("sinus rhythm without ST changes", [("sinus rhythm", False), ("ST changes", True)]),
        ("sinus rhythm, and no ST changes", [("sinus rhythm", False), ("ST changes", True)]),
        ("normal ecg", [("normal ecg", False)]),
        ("no significant change", [("no significant change", False)]),  # a pseudo-cue
        ("nonspecific st changes", [("nonspecific st changes", False)]),  # cues are whole words
        ("notched p wave", [("notched p wave", False)]),
        ("no", [("no", False)]),  # nothing left to negate
    ],
)
def test_queries_split_at_their_negation_cue(negation, text, clauses):
    assert negation.split(text) == clauses


def test_malformed_cues_are_refused_naming_the_field():
    for bad in ({"befor": ["no"]}, {"before": "no"}, {"before": ["no", ""]}, ["no"]):
        with pytest.raises(ValueError, match="query_negation"):
            QueryNegation.from_cues(bad)
        with pytest.raises(ValueError, match="query_negation"):
            SupremeConfig(query_negation=bad)


def test_clause_logits_make_complements_and_conjunctions():
    clauses = QueryNegation.from_cues({"before": ["no", "without"]}).clauses(
        ["afib", "no afib", "sinus rhythm without st changes"]
    )
    assert clauses.texts == ("afib", "afib", "sinus rhythm", "st changes")
    assert clauses.query_index == (0, 1, 2, 2) and clauses.negated == (False, True, False, True)
    logits = torch.tensor([[2.0, 2.0, 1.0, -3.0], [-0.5, -0.5, -4.0, 0.25]], dtype=torch.float64)
    combined = clauses.combine(logits)
    assert combined.shape == (2, 3)
    assert torch.equal(combined[:, 0], logits[:, 0]) and torch.equal(combined[:, 1], -logits[:, 1])
    both = torch.sigmoid(logits[:, 2]) * (1 - torch.sigmoid(logits[:, 3]))  # P(A) * (1 - P(B))
    torch.testing.assert_close(torch.sigmoid(combined[:, 2]), both)
    literal = QueryClauses.literal(["a", "b"])
    assert literal.is_literal and literal.combine(logits[:, :2]) is not None
    assert torch.equal(literal.combine(logits[:, :2]), logits[:, :2])


def test_a_model_without_cues_reads_every_query_literally(tiny_config):
    assert tiny_config.query_negation is None
    assert query_clauses(tiny_config, ["no afib"]).is_literal


def test_the_cues_travel_with_a_saved_model(tiny_model, cues, tmp_path):
    tiny_model.config.query_negation = cues
    tiny_model.save_pretrained(tmp_path / "model")
    loaded = SupremeModel.from_pretrained(tmp_path / "model")
    assert loaded.config.query_negation == cues
    assert query_clauses(loaded.config, ["no afib"]).negated == (True,)


@pytest.fixture
def ecgs(tiny_processor):
    records = [read_ecg(ptbxl_record(ecg_id)) for ecg_id in range(1, 6)]
    return tiny_processor.feature_extractor(records, return_tensors="pt")["ecg_values"]


def test_a_negated_query_scores_the_complement(tiny_model, tiny_processor, cues, ecgs):
    literal = score_ecgs(tiny_model, tiny_processor, ecgs, ["atrial fibrillation", "no atrial fibrillation"],
                         progress=False)
    assert not np.allclose(literal[:, 1], 1 - literal[:, 0], atol=1e-3)  # a text tower does not do it by itself
    tiny_model.config.query_negation = cues
    queries = ["atrial fibrillation", "no atrial fibrillation", "atrial fibrillation ruled out",
               "sinus rhythm", "sinus rhythm without atrial fibrillation"]
    scores = score_ecgs(tiny_model, tiny_processor, ecgs, queries, progress=False)
    np.testing.assert_allclose(scores[:, 0], literal[:, 0], atol=1e-6)  # a query without a cue is unchanged
    np.testing.assert_allclose(scores[:, 1], 1 - scores[:, 0], atol=1e-6)
    np.testing.assert_allclose(scores[:, 2], 1 - scores[:, 0], atol=1e-6)
    np.testing.assert_allclose(scores[:, 4], scores[:, 3] * (1 - scores[:, 0]), atol=1e-6)
    alone = score_ecgs(tiny_model, tiny_processor, ecgs, ["sinus rhythm without atrial fibrillation"], progress=False)
    np.testing.assert_allclose(alone[:, 0], scores[:, 4], atol=1e-6)  # never depends on the other labels asked
    ensemble = score_ecgs(tiny_model, tiny_processor, ecgs, {"not AF": ["no atrial fibrillation", "sinus rhythm"]},
                          progress=False)
    expected = torch.sigmoid((torch.logit(torch.tensor(scores[:, 1])) + torch.logit(torch.tensor(scores[:, 3]))) / 2)
    np.testing.assert_allclose(ensemble[:, 0], expected.numpy(), atol=1e-5)  # the mean of the texts' logits


def test_the_pipeline_reads_negations_with_the_saved_cues(tiny_model, tiny_processor, cues, tmp_path):
    from modeling_supreme.pipeline_ecg_zero_shot import save_pipeline_folder

    tiny_model.config.query_negation = cues
    save_pipeline_folder(tiny_model, tiny_processor, tmp_path / "model")
    classifier = pipeline("ecg-zero-shot", model=str(tmp_path / "model"))
    labels = ["atrial fibrillation", "no atrial fibrillation", "sinus rhythm without atrial fibrillation",
              "sinus rhythm"]
    result = {item["label"]: item for item in classifier(str(ptbxl_record(1)), candidate_labels=labels,
                                                         return_attention=True)}
    af, no_af = result["atrial fibrillation"]["score"], result["no atrial fibrillation"]["score"]
    assert no_af == pytest.approx(1 - af, abs=1e-6)
    clauses_mean = (result["sinus rhythm"]["attention"] + result["atrial fibrillation"]["attention"]) / 2
    np.testing.assert_allclose(result["sinus rhythm without atrial fibrillation"]["attention"], clauses_mean,
                               atol=1e-6)  # a conjunction's attention: the mean over its clauses
    framed = classifier(str(ptbxl_record(1)), candidate_labels=["no atrial fibrillation"],
                        hypothesis_template="an ecg with {}")
    plain = classifier(str(ptbxl_record(1)), candidate_labels=["an ecg with atrial fibrillation"])
    assert framed[0]["score"] == pytest.approx(1 - plain[0]["score"], abs=1e-6)  # the template frames the clause


def test_training_reads_negated_forms_as_their_queries_will_be_read(negation):
    entities = [[{"name": "normal ecg", "category": "other", "status": "present"},
                 {"name": "atrial fibrillation", "category": "rhythm", "status": "present"}]] * 2
    vocabulary = build_vocabulary(entities, min_count=1)
    literal = LabelTextSampler.from_vocabulary(vocabulary, seed=4)
    sampler = LabelTextSampler.from_vocabulary(vocabulary, seed=4, query_negation=negation)
    normal = vocabulary.labels.index("normal ecg")
    forms, flags = sampler.forms[normal], sampler.complemented[normal]
    assert "no abnormality detected" in literal.forms[normal]
    assert "abnormality detected" in forms and flags[forms.index("abnormality detected")]
    assert "normal ecg" in forms and not flags[forms.index("normal ecg")]
    assert not any("without" in form or "ohne" in form for form in forms)  # two clauses: left out
    draws = [sampler.draw_with_negation(0, batch) for batch in range(60)]
    for texts, negated in draws:
        assert negated[normal] == flags[forms.index(texts[normal])]
    assert any(negated[normal] for _, negated in draws) and not any(negated.all() for _, negated in draws)
    texts, negated = sampler.draw_with_negation(0, 7)
    again = sampler.draw_with_negation(0, 7)  # what a resumed run draws again
    assert texts == again[0] and np.array_equal(negated, again[1])


def test_a_run_with_query_negation_records_the_lexicon_cues(training_dataset, tiny_text_encoder_dir, tmp_path, cues):
    from modeling_supreme.training import run_training
    from tests.training_helpers import tiny_options

    result = run_training(tiny_options(training_dataset, tmp_path / "run", tiny_text_encoder_dir, max_steps=2,
                                       query_negation="lexicon"))
    assert SupremeConfig.from_pretrained(result.output_dir).query_negation == cues
    literal = run_training(tiny_options(training_dataset, tmp_path / "literal", tiny_text_encoder_dir, max_steps=2))
    assert SupremeConfig.from_pretrained(literal.output_dir).query_negation is None  # the default
