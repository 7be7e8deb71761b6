"""The LLM's entity names onto the lexicon's canonical names, the hybrid modes, the bench's selection rule, and
(only when SUPREME_TEST_GGUF names a GGUF file) the extractor against a real llama.cpp server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from modeling_supreme.entities import Entity, LLMExtractor, OpenAIBackend, Vocabulary, build_vocabulary
from modeling_supreme.entities.llm_mapping import EntityMapper, hybrid_entities, least_assertive

from .test_entities_scripts import report_dataset, run_script  # noqa: F401, F811 (report_dataset is a fixture)

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_names_map_exactly_through_the_lexicon_or_stay_counted() -> None:
    mapper = EntityMapper()
    mapped = mapper.map_entities([
        Entity("Sinus Rhythm.", "rhythm", "present"),  # canonical, after cleaning
        Entity("sinusrhythmus", "rhythm", "present"),  # a German surface form
        Entity("possible inferior infarction", "morphology", "present"),  # the lexicon reads the hedge
        Entity("no st elevation", "st_t", "present"),  # the lexicon reads the negation
        Entity("tall purple waves", "other", "present"),  # nothing the lexicon knows
    ])
    by_name = {entity.name: entity for entity in mapped}
    assert by_name["sinus rhythm"] == Entity("sinus rhythm", "rhythm", "present")
    assert by_name["inferior myocardial infarction"].status == "uncertain"
    assert by_name["st elevation"].status == "absent"
    assert by_name["tall purple waves"] == Entity("tall purple waves", "other", "present")
    counts = mapper.counts.as_dict()
    assert counts["mentions"] == 5 and counts["exact"] == 2 and counts["read_by_lexicon"] == 2
    assert counts["unmapped"] == [("tall purple waves", 1)] and counts["unmapped_mentions"] == 1


def test_one_name_may_stand_for_several_entities_and_repeats_merge() -> None:
    mapper = EntityMapper()
    mapped = mapper.map_entities([
        Entity("sinus rhythm with first degree av block", "rhythm", "present"),
        Entity("first degree av block", "conduction", "uncertain"),
    ])
    assert {entity.name: entity.status for entity in mapped} == {
        "sinus rhythm": "present", "first degree av block": "present"
    }
    assert all(entity.category == mapper.lexicon.specs[entity.name].category for entity in mapped)


def test_mapped_llm_entities_build_the_lexicons_labels() -> None:
    """An LLM-built dataset reaches the same label names as the lexicon's on the same reports."""
    reports = ["Sinus rhythm. Left anterior fascicular block.", "Sinusrhythmus. Linksschenkelblock."] * 3
    llm_answers = [
        [Entity("Normal sinus rhythm", "rhythm", "present"), Entity("LAFB", "conduction", "present")],
        [Entity("sinus rhythm", "rhythm", "present"), Entity("left bundle-branch block", "conduction", "present")],
    ] * 3
    mapper = EntityMapper()
    from_llm = build_vocabulary(mapper.map_batch(llm_answers), min_count=1)
    from_lexicon = build_vocabulary(mapper.extractor.extract_batch(reports), min_count=1)
    assert isinstance(from_llm, Vocabulary) and sorted(from_llm.labels) == sorted(from_lexicon.labels)


def test_statuses_order_and_hybrid_modes() -> None:
    assert least_assertive("present", "uncertain") == "uncertain" and least_assertive("absent", "present") == "absent"
    lexicon = [Entity("sinus rhythm", "rhythm"), Entity("left ventricular hypertrophy", "hypertrophy", "uncertain")]
    llm = [Entity("sinus rhythm", "rhythm"), Entity("prolonged qt interval", "st_t")]
    assert hybrid_entities(lexicon, llm, "union") == [*lexicon, llm[1]]
    assert hybrid_entities(lexicon, llm, "fill") == lexicon and hybrid_entities([], llm, "fill") == llm
    # The LLM does not state the uncertain statement: arbitration drops it.
    assert hybrid_entities(lexicon, llm, "arbitrate") == [lexicon[0]]
    confirmed = [*llm, Entity("left ventricular hypertrophy", "hypertrophy", "present")]
    assert hybrid_entities(lexicon, confirmed, "arbitrate")[1].status == "present"
    with pytest.raises(ValueError, match="hybrid mode"):
        hybrid_entities(lexicon, llm, "vote")


def test_bench_selection_rule_spreads_languages_and_is_fixed() -> None:
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    try:
        from llm_extraction import select_reports
    finally:
        sys.path.remove(str(REPO_ROOT / "bench"))
    ids = list(range(100, 200))
    languages = ["de"] * 70 + ["en"] * 20 + ["sv"] * 4 + ["unknown"] * 6
    chosen = select_reports(ids, languages, 30)
    picked = [languages[index] for index in chosen]
    assert len(chosen) == 30 and picked.count("sv") == 4 and picked.count("unknown") == 6
    assert picked.count("de") == picked.count("en") == 10
    assert chosen == select_reports(ids, languages, 30) == sorted(chosen)
    assert set(select_reports(ids, languages, 200)) == set(range(100))


# ------------------------------------------------------------------------------------ a real llama.cpp server
GGUF = os.environ.get("SUPREME_TEST_GGUF", "")


@pytest.mark.skipif(
    not (GGUF and Path(GGUF).is_file()),
    reason="SUPREME_TEST_GGUF does not name a GGUF model file (the real llama.cpp server test needs one)",
)
def test_real_llama_cpp_server_answers_caches_and_stops(tmp_path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed")
    from modeling_supreme.entities.llama_server import llama_cpp_server

    english, german = "Sinus rhythm. Left axis deviation.", "Sinusrhythmus. Linksschenkelblock."
    reports = [english, german, english, ""]
    server_log = tmp_path / "server.log"
    with llama_cpp_server(GGUF, model_alias="test-gguf", n_threads=1, log_file=server_log) as base_url:
        def extractor() -> LLMExtractor:
            backend = OpenAIBackend(base_url, "test-gguf", timeout=600, max_workers=1, response_format="json_object",
                                    max_tokens=256)
            return LLMExtractor(backend, cache=tmp_path / "cache.sqlite", progress=False)

        first = extractor()
        results = first.extract_batch(reports)
        stats = first.last_stats
        # Every distinct report is answered or recorded as a failure with the model's raw answer: none is lost.
        assert stats.unique_reports == 2 and stats.empty_reports == 1
        assert stats.answered + len(stats.failures) == 2
        assert all(failure.cached and failure.raw_answer is not None for failure in stats.failures)
        assert results[0] == results[2] and results[3] == []
        again = extractor()
        assert again.extract_batch(reports) == results
        assert again.last_stats.model_calls == 0 and again.last_stats.cache_hits == 2
    import httpx

    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/models", timeout=2.0)


def test_extract_entities_writes_canonical_names_and_lists_the_unmapped(
    tmp_path, report_dataset, capsys  # noqa: F811 (the fixture imported above)
) -> None:
    """An LLM-built dataset carries the lexicon's names; what does not map is kept, counted and listed."""
    import json

    import pandas as pd
    from datasets import load_dataset

    from tests.sample_data import PTBXL_DIR

    from .test_entities_llm import ScriptedServer

    answer = json.dumps({"entities": [
        {"name": "Normal Sinus Rhythm", "category": "rhythm", "status": "present"},
        {"name": "tall purple waves", "category": "other", "status": "uncertain"},
    ]})
    reports = [report for report in pd.read_csv(PTBXL_DIR / "ptbxl_database.csv").head(60).report]
    server = ScriptedServer({report: [("ok", answer)] for report in reports})
    server.thread.start()
    try:
        out = tmp_path / "llm-entities"
        printed = run_script(
            "datasets_scripts/extract_entities.py", "--dataset", str(report_dataset), "--out", str(out),
            "--extractor", "llm", "--base-url", server.base_url, "--model", "scripted-model", capsys=capsys,
        )
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    expected = [
        {"name": "sinus rhythm", "category": "rhythm", "status": "present"},
        {"name": "tall purple waves", "category": "other", "status": "uncertain"},
    ]
    annotated = load_dataset(str(out))
    assert all(entities == expected for entities in annotated["train"]["entities"])
    mapping = json.loads((out / "llm_entity_mapping.json").read_text())
    distinct = len(set(reports))
    assert mapping["mentions"] == 2 * distinct and mapping["unmapped"] == [["tall purple waves", distinct]]
    assert f"{distinct} unmapped (1 names" in printed
