"""The entity CLIs: datasets_scripts/extract_entities.py (lexicon in processes, LLM with resume) and
eval/extraction.py (figures and --json), run in-process on real PTB-XL reports."""

from __future__ import annotations

import json
import runpy
import socket
import sys
from pathlib import Path

import pandas as pd
import pytest

from modeling_supreme.dataset_builders.ptbxl import parse_scp_codes
from modeling_supreme.entities import (
    Entity,
    LexiconExtractor,
    entities_to_dicts,
    entities_to_scp_codes,
    score_extraction,
)
from modeling_supreme.entities.evaluation import (
    learned_mapping_predictions,
    report_language,
    scores_by_group,
    statement_agreement,
)
from tests.sample_data import PTBXL_DIR, REPO_ROOT

from .test_entities_llm import VALID, ScriptedServer


def run_script(path: str, *arguments: str, capsys=None) -> str:
    old_argv = sys.argv
    sys.argv = [path, *arguments]
    try:
        runpy.run_path(str(REPO_ROOT / path), run_name="__main__")
    finally:
        sys.argv = old_argv
    return capsys.readouterr().out if capsys else ""


@pytest.fixture
def report_dataset(tmp_path) -> Path:
    """A dataset folder in the builders' layout with 60 real PTB-XL reports and one empty report."""
    from datasets import Dataset, SplitInfo

    from modeling_supreme.dataset_builders import DatasetDescription, shard_file_name, write_dataset_card

    rows = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv").head(60)
    table = pd.DataFrame({"id": rows.ecg_id.astype(str), "report": rows.report, "scp_codes": rows.scp_codes})
    table.loc[len(table)] = {"id": "empty", "report": "", "scp_codes": "{}"}
    folder = tmp_path / "reports"
    splits = {
        "train": Dataset.from_pandas(table.iloc[:40], preserve_index=False),
        "test": Dataset.from_pandas(table.iloc[40:], preserve_index=False),
    }
    (folder / "data").mkdir(parents=True)
    for name, split in splits.items():
        split.to_parquet(str(folder / shard_file_name(name, 0)))
    infos = [
        SplitInfo(name=name, num_bytes=split.data.nbytes, num_examples=len(split)) for name, split in splits.items()
    ]
    write_dataset_card(
        folder,
        DatasetDescription("PTB-XL reports", "Test reports.", license="cc-by-4.0"),
        splits["train"].features,
        infos,
    )
    return folder


def test_extract_entities_with_the_lexicon_in_two_processes(tmp_path, report_dataset, capsys) -> None:
    from datasets import load_dataset

    out = tmp_path / "with-entities"
    printed = run_script("datasets_scripts/extract_entities.py", "--dataset", str(report_dataset), "--out", str(out),
                         "--extractor", "lexicon", "--num-proc", "2", capsys=capsys)
    assert "empty reports: 1" in printed
    annotated = load_dataset(str(out))
    source = load_dataset(str(report_dataset))
    extractor = LexiconExtractor()
    for name in ("train", "test"):
        assert annotated[name]["id"] == source[name]["id"]
        assert annotated[name]["entities"] == [
            entities_to_dicts(extractor.extract(report)) for report in source[name]["report"]
        ]
    failures = [json.loads(line) for line in (out / "extraction_failures.jsonl").read_text().splitlines()]
    assert failures == [{"split": "test", "id": "empty", "report": "", "error": "empty report"}]
    assert "license: cc-by-4.0" in (out / "README.md").read_text()


def test_extract_entities_with_an_llm_resumes(tmp_path, report_dataset, capsys) -> None:
    from datasets import load_dataset

    reports = [report for report in pd.read_csv(PTBXL_DIR / "ptbxl_database.csv").head(60).report]
    server = ScriptedServer({reports[0]: [("status", 500)]})
    server.thread.start()
    try:
        out = tmp_path / "llm-entities"
        arguments = ["--dataset", str(report_dataset), "--out", str(out), "--extractor", "llm", "--backend", "openai",
                     "--base-url", server.base_url, "--model", "scripted-model", "--max-retries", "1", "--workers", "4"]
        distinct = len(set(reports))
        with pytest.raises(SystemExit) as exited:  # 1 distinct report of 26 failed: more than 1 %
            run_script("datasets_scripts/extract_entities.py", *arguments, capsys=capsys)
        stated = f"failed for 1 of {distinct} distinct reports ({1 / distinct:.1%}), more than --max-failure-fraction"
        assert f"{stated} 0.01" in str(exited.value.code)
        assert len(server.requests) == distinct + 1  # the failing report was tried twice
        failures = [json.loads(line) for line in (out / "extraction_failures.jsonl").read_text().splitlines()]
        failed_reports = {failure["report"] for failure in failures if failure["error"] != "empty report"}
        assert failed_reports == {reports[0]} and all(not f["cached"] for f in failures if f["report"] == reports[0])
        marked = load_dataset(str(out))["train"]
        assert [report for report, failed in zip(marked["report"], marked["entities_failed"]) if failed] == [
            reports[0]
        ]
        # Second run: the server has recovered; only the report without a cached answer is sent.
        server.scripts[reports[0]] = [("ok", VALID)]
        printed = run_script("datasets_scripts/extract_entities.py", *arguments, capsys=capsys)
        assert len(server.requests) == distinct + 2
        assert '"cache_hits": %d' % (distinct - 1) in printed
        annotated = load_dataset(str(out))
        expected = json.loads(VALID)["entities"]
        assert all(entities == expected for entities in annotated["train"]["entities"])
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_extract_entities_marks_failed_rows_and_exits_non_zero_when_too_many_fail(
    tmp_path, report_dataset, capsys
) -> None:
    from datasets import load_dataset

    with socket.socket() as closed:  # a port where no server listens
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    out = tmp_path / "out"
    arguments = ["--dataset", str(report_dataset), "--out", str(out), "--extractor", "llm", "--max-retries", "0",
                 "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "scripted-model"]
    source = load_dataset(str(report_dataset))
    distinct = len({report for split in source.values() for report in split["report"]} - {""})
    with pytest.raises(SystemExit) as exited:
        run_script("datasets_scripts/extract_entities.py", *arguments)
    assert f"failed for {distinct} of {distinct} distinct reports (100.0%)" in str(exited.value.code)
    annotated = load_dataset(str(out))  # written all the same, every failed row marked
    for split in annotated.values():
        assert split["entities_failed"] == [bool(report) for report in split["report"]]
    # Within the stated fraction the command succeeds.
    run_script("datasets_scripts/extract_entities.py", *arguments, "--max-failure-fraction", "1")
    assert f"reports whose extraction failed: {distinct}" in capsys.readouterr().out


INVALID_OPTIONS = [
    (("--workers", "0"), "argument --workers: must be an integer at least 1, got 0"),
    (("--timeout", "0"), "argument --timeout: must be a number above 0, got 0"),
    (("--timeout", "nan"), "argument --timeout: must be a number above 0, got nan"),
    (("--max-retries", "-1"), "argument --max-retries: must be an integer at least 0, got -1"),
    (("--max-attempts", "0"), "argument --max-attempts: must be an integer at least 1, got 0"),
    (("--max-new-tokens", "0"), "argument --max-new-tokens: must be an integer at least 1, got 0"),
    (("--max-failure-fraction", "2"), "argument --max-failure-fraction: must be a number at least 0 and at most 1"),
    (("--max-retries", "two"), "argument --max-retries: 'two' is not an integer"),
]


@pytest.mark.parametrize(("option", "message"), INVALID_OPTIONS, ids=[" ".join(pair[0]) for pair in INVALID_OPTIONS])
def test_extract_entities_refuses_invalid_options_before_any_request(
    tmp_path, report_dataset, capsys, option, message
) -> None:
    server = ScriptedServer({})
    server.thread.start()
    try:
        arguments = ["--dataset", str(report_dataset), "--out", str(tmp_path / "out"), "--extractor", "llm",
                     "--base-url", server.base_url, "--model", "scripted-model", *option]
        with pytest.raises(SystemExit) as exited:
            run_script("datasets_scripts/extract_entities.py", *arguments)
        assert exited.value.code == 2 and message in capsys.readouterr().err
        assert server.requests == [] and not (tmp_path / "out").exists()
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_eval_extraction_prints_and_writes_figures(tmp_path, capsys) -> None:
    target = tmp_path / "scores.json"
    printed = run_script("eval/extraction.py", "--ptbxl", str(PTBXL_DIR), "--json", str(target), capsys=capsys)
    figures = json.loads(target.read_text())
    assert {"micro_precision", "micro_recall", "micro_f1", "macro_f1", "per_code"} <= set(figures)
    database = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv")
    extractor = LexiconExtractor()
    by_language = {language: LexiconExtractor(languages=(language,)) for language in ("en", "de", "sv")}
    reports = database.report.tolist()
    languages = [report_language(report, by_language) for report in reports]
    expected = score_extraction(
        [
            entities_to_scp_codes(entities, extractor.lexicon, language=language)
            for entities, language in zip(extractor.extract_batch(reports), languages)
        ],
        [set(parse_scp_codes(value, 'test')) for value in database.scp_codes],
    )
    assert figures["micro_f1"] == pytest.approx(expected.micro_f1)
    assert figures["per_code"]["SR"]["support"] == sum("'SR'" in value for value in database.scp_codes)
    assert f"micro F1 {expected.micro_f1:.4f}" in printed and "sinus rhythm" in printed


def test_eval_extraction_breaks_figures_down_and_writes_the_errors(tmp_path, capsys) -> None:
    errors = tmp_path / "errors.jsonl"
    target = tmp_path / "scores.json"
    printed = run_script("eval/extraction.py", "--ptbxl", str(PTBXL_DIR), "--agreement", "5", "--errors", str(errors),
                         "--learned-reference", "--json", str(target), capsys=capsys)
    figures = json.loads(target.read_text())
    database = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv")
    # Every record falls in exactly one language; the three languages of PTB-XL's reports are all there.
    assert set(figures["by_language"]) == {"de", "en", "sv"}
    assert sum(group["records"] for group in figures["by_language"].values()) == len(database)
    lines = [json.loads(line) for line in errors.read_text().splitlines()]
    assert f"{len(lines)} records with a false positive or negative" in printed
    reports = dict(zip(database.ecg_id, database.report))
    for line in lines:
        assert line["false_positives"] or line["false_negatives"]
        assert set(line["false_positives"]) == set(line["predicted"]) - set(line["gold"])
        assert line["report"] == reports[line["ecg_id"]]
    # The errors file holds exactly the pooled false positives and negatives of the per-code table.
    assert sum(len(line["false_positives"]) for line in lines) == sum(
        code["false_positives"] for code in figures["per_code"].values()
    )
    assert sum(len(line["false_negatives"]) for line in lines) == sum(
        code["false_negatives"] for code in figures["per_code"].values()
    )
    table = printed.split("Stated entities the cardiologists coded least")[1].split("\n\n")[0].splitlines()
    assert len(table) == 1 + 1 + 5  # rest of the title, header, five rows
    reference = figures["learned_reference"]
    assert 0.0 < reference["micro_f1"] <= 1.0 and reference["records"] == len(database)
    assert f"micro F1 {reference['micro_f1']:.4f}  (the lexicon's table: {figures['micro_f1']:.4f})" in printed


def test_report_language_and_group_scores() -> None:
    extractors = {language: LexiconExtractor(languages=(language,)) for language in ("en", "de", "sv")}
    assert report_language("sinusrhythmus linkstyp sonst normales ekg", extractors) == "de"
    assert report_language("sinusrytm vÄnster el-axel eljest normalt ekg", extractors) == "sv"
    assert report_language("sinus rhythm. left axis deviation. otherwise normal ecg.", extractors) == "en"
    groups = scores_by_group([{"SR"}, {"SR"}, {"AFIB"}], [{"SR"}, {"NORM"}, {"AFIB"}], ["de", "en", "de"])
    assert list(groups) == ["de", "en"]
    assert groups["de"].micro_f1 == 1.0 and groups["en"].micro_f1 == 0.0 and groups["en"].records == 1
    with pytest.raises(ValueError, match="3 group names"):
        scores_by_group([{"SR"}], [{"SR"}], ["de", "en", "sv"])


def test_statement_agreement_counts_coded_statements() -> None:
    lexicon = LexiconExtractor().lexicon
    entities = [
        [Entity("abnormal qrs", "morphology", "present")],
        [Entity("abnormal qrs", "morphology", "uncertain")],
        [Entity("abnormal qrs", "morphology", "absent")],  # negated: not a statement of the finding
        [Entity("abnormal qrs", "morphology", "present")],
    ]
    gold = [{"ABQRS"}, set(), {"ABQRS"}, {"ABQRS"}]
    rows = statement_agreement(entities, gold, lexicon, ["sv", "sv", "sv", "de"])
    by_group = {row.group: row for row in rows}
    assert (by_group["sv"].stated, by_group["sv"].coded, by_group["sv"].code) == (2, 1, "ABQRS")
    assert (by_group["de"].stated, by_group["de"].coded, by_group["de"].rate) == (1, 1, 1.0)
    assert rows[0].group == "sv"  # most uncoded statements first


def test_learned_mapping_learns_held_out_rules_without_seeing_the_fold() -> None:
    qrs = Entity("abnormal qrs", "morphology", "present")
    entities = [[qrs] for _ in range(100)]
    groups = ["de" if index % 2 else "sv" for index in range(100)]
    gold = [{"ABQRS"} if group == "de" else set() for group in groups]  # a rule the table does not know
    folds = [index % 5 + 1 for index in range(100)]
    # One record with a code no other record has: only a model that saw this record's fold could predict it.
    entities.append([qrs, Entity("wolff parkinson white syndrome", "conduction", "present")])
    groups.append("sv")
    gold.append({"WPW"})
    folds.append(1)
    predicted = learned_mapping_predictions(entities, gold, folds, groups=groups)
    assert predicted[:100] == gold[:100]
    assert predicted[100] == set()
    with pytest.raises(ValueError, match="2 folds"):
        learned_mapping_predictions(entities, gold, [1, 2])


def test_scoring_counts_pairs() -> None:
    scores = score_extraction([{"SR", "NORM"}, {"AFIB"}, set()], [{"SR", "NORM"}, {"AFLT"}, {"IMI"}])
    assert (scores.micro_precision, scores.micro_recall) == (2 / 3, 2 / 4)
    assert scores.per_code["AFIB"].false_positives == 1 and scores.per_code["IMI"].false_negatives == 1
    assert scores.macro_f1 == pytest.approx((1 + 1 + 0 + 0 + 0) / 5)
    assert scores.records_without_prediction == 1
