"""Scoring inputs of eval/extraction.py: several PTB-XL databases, fold subsets, rejected rows and reports that
give no entity (empty, measurements only, another language)."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from modeling_supreme.entities import LexiconExtractor
from modeling_supreme.entities.evaluation import (
    UNKNOWN_LANGUAGE,
    report_language,
    score_extraction,
    scores_by_group,
    unread_reason,
)
from modeling_supreme.entities.extraction_report import format_codes_by_group, weak_codes
from modeling_supreme.entities.gold_reports import parse_folds, read_ptbxl_reports
from tests.sample_data import PTBXL_DIR, REPORTS_DIR

from .test_entities_scripts import run_script


def test_parse_folds_accepts_lists_and_ranges() -> None:
    assert parse_folds("8,9,10") == {8, 9, 10}
    assert parse_folds("1-7") == set(range(1, 8))
    assert parse_folds("1-3, 8") == {1, 2, 3, 8}
    for bad in ("eight", "7-1", ","):
        with pytest.raises(ValueError, match="--folds"):
            parse_folds(bad)


def test_bundled_reports_are_folds_one_to_eight_apart_from_the_sample() -> None:
    sample = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv")
    extra = pd.read_csv(REPORTS_DIR / "ptbxl_database.csv")
    assert len(extra) == 2403 and set(extra.strat_fold) == set(range(1, 9))
    assert not set(extra.ecg_id) & set(sample.ecg_id)
    assert (REPORTS_DIR / "LICENSE.txt").read_text().startswith("Creative Commons Attribution 4.0")


def test_reading_several_databases_and_a_fold_subset() -> None:
    rows = read_ptbxl_reports([PTBXL_DIR, REPORTS_DIR], folds={8, 9, 10})
    sample = pd.read_csv(PTBXL_DIR / "ptbxl_database.csv")
    extra = pd.read_csv(REPORTS_DIR / "ptbxl_database.csv")
    expected = (sample.strat_fold >= 8).sum() + (extra.strat_fold == 8).sum()
    assert len(rows.reports) == len(rows.gold) == len(rows.ecg_ids) == expected
    assert set(rows.folds) == {8, 9, 10} and not rows.rejected
    first = rows.ecg_ids.index(int(extra[extra.strat_fold == 8].ecg_id.iloc[0]))
    assert rows.sources[first].endswith("ptbxl-reports/ptbxl_database.csv")


def write_database(folder, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "ptbxl_database.csv", index=False)


BAD_ROWS = [
    {"ecg_id": 1, "report": "sinus rhythm. normal ecg.", "scp_codes": "{'NORM': 100.0, 'SR': 0.0}", "strat_fold": 1},
    {"ecg_id": 2, "report": "sinus rhythm.", "scp_codes": "{'SR': 0.0", "strat_fold": 1},          # unreadable
    {"ecg_id": 3, "report": "sinus rhythm.", "scp_codes": "['SR']", "strat_fold": 1},              # not a mapping
    {"ecg_id": 4, "report": "sinus rhythm.", "scp_codes": "{'SR': [0]}", "strat_fold": 1},         # likelihood
    {"ecg_id": 5, "report": "sinus rhythm.", "scp_codes": None, "strat_fold": 1},                  # missing
    {"ecg_id": 6, "report": "sinus rhythm.", "scp_codes": "{'SR': 0.0}", "strat_fold": None},      # no fold
    {"ecg_id": 1, "report": "sinus rhythm.", "scp_codes": "{'SR': 0.0}", "strat_fold": 2},         # id seen
    {"ecg_id": 7, "report": "", "scp_codes": "{'NORM': 100.0}", "strat_fold": 2},
    {"ecg_id": 8, "report": "HR 72/min PR 160 ms QRS 90 ms QT/QTc 380/410 ms", "scp_codes": "{'NORM': 100.0}",
     "strat_fold": 2},
    {"ecg_id": 9, "report": "rythme sinusal, bloc de branche droit", "scp_codes": "{'SR': 0.0, 'CRBBB': 100.0}",
     "strat_fold": 2},
]


def test_malformed_rows_are_rejected_with_id_and_reason(tmp_path) -> None:
    write_database(tmp_path / "db", BAD_ROWS)
    rows = read_ptbxl_reports([tmp_path / "db"])
    assert rows.ecg_ids == [1, 7, 8, 9]
    reasons = {rejected.ecg_id: rejected.reason for rejected in rows.rejected}
    assert set(reasons) == {"2", "3", "4", "5", "6", "1"}
    assert "unreadable scp_codes" in reasons["2"] and "not a mapping" in reasons["3"]
    assert "likelihood that is not a number" in reasons["4"] and "missing" in reasons["5"]
    assert "strat_fold" in reasons["6"] and "already read" in reasons["1"]
    with pytest.raises(FileNotFoundError, match="ptbxl_database.csv"):
        read_ptbxl_reports([tmp_path / "nowhere"])
    write_database(tmp_path / "no-codes", [{"ecg_id": 1, "report": "x", "strat_fold": 1}])
    with pytest.raises(ValueError, match="scp_codes"):
        read_ptbxl_reports([tmp_path / "no-codes"])


def test_reports_without_entities_are_told_apart() -> None:
    extractor = LexiconExtractor()
    lexicon = extractor.lexicon
    cases = {
        "": "empty",
        "   ": "empty",
        "HR 72/min PR 160 ms QRS 90 ms QT/QTc 380/410 ms": "measurements only",
        "Vent. rate 72 bpm; PR interval 160": "measurements only",
        "rythme sinusal, bloc de branche droit": "unknown language or phrasing",
    }
    for report, reason in cases.items():
        assert unread_reason(report, extractor.extract(report), lexicon) == reason, report
    assert unread_reason("sinus rhythm 72", extractor.extract("sinus rhythm 72"), lexicon) is None
    assert not lexicon.is_measurements_only("sinus rhythm 72") and not lexicon.is_measurements_only("")
    languages = {language: LexiconExtractor(languages=(language,)) for language in ("en", "de", "sv")}
    assert report_language("rythme sinusal, bloc de branche droit", languages) == UNKNOWN_LANGUAGE


def test_eval_script_goes_on_past_bad_rows_and_counts_them(tmp_path, capsys) -> None:
    write_database(tmp_path / "db", BAD_ROWS)
    shutil.copy(PTBXL_DIR / "scp_statements.csv", tmp_path / "db")
    target = tmp_path / "scores.json"
    printed = run_script("eval/extraction.py", "--ptbxl", str(tmp_path / "db"), "--json", str(target), capsys=capsys)
    figures = json.loads(target.read_text())
    assert figures["records"] == 4 and len(figures["rejected"]) == 6
    assert "ecg_id 3: " in printed and "not a mapping" in printed
    unread = {"empty": 1, "measurements only": 1, "unknown language or phrasing": 1}
    assert figures["reports_without_entities"] == unread
    assert "empty: 1" in printed and "measurements only: 1" in printed
    # The three unread reports' gold codes are all misses; record 1 is read fully.
    assert figures["per_code"]["NORM"]["false_negatives"] == 2 and figures["per_code"]["CRBBB"]["false_negatives"] == 1
    assert set(figures["by_language"]) == {"en", UNKNOWN_LANGUAGE}


def test_eval_script_scores_only_the_asked_folds_of_several_folders(tmp_path, capsys) -> None:
    target = tmp_path / "scores.json"
    errors = tmp_path / "errors.jsonl"
    printed = run_script("eval/extraction.py", "--ptbxl", str(PTBXL_DIR), str(REPORTS_DIR), "--folds", "8",
                         "--json", str(target), "--errors", str(errors), capsys=capsys)
    figures = json.loads(target.read_text())
    rows = read_ptbxl_reports([PTBXL_DIR, REPORTS_DIR], folds={8})
    assert figures["records"] == len(rows.reports) and figures["folds"] == [8]
    lines = [json.loads(line) for line in errors.read_text().splitlines()]
    assert lines and {line["strat_fold"] for line in lines} == {8}
    assert sum(group["records"] for group in figures["by_language"].values()) == len(rows.reports)
    assert "F1 per code and report language" in printed and "Codes with >= 20 gold occurrences below F1" in printed


def test_per_code_table_and_weak_codes() -> None:
    predicted = [{"SR"}] * 25 + [set()] * 25
    gold = [{"SR", "NDT"}] * 25 + [{"SR", "NDT"}] * 25
    scores = score_extraction(predicted, gold)
    assert weak_codes(scores, min_support=20, min_f1=0.4) == ["NDT"]
    assert weak_codes(scores, min_support=60, min_f1=0.4) == []
    groups = scores_by_group(predicted, gold, ["de"] * 25 + ["en"] * 25)
    table = format_codes_by_group(scores, groups, min_support=20).splitlines()
    assert table[0].split() == ["code", "all", "de", "en"]
    assert table[1].split()[:2] == ["NDT", "0.000"] and table[2].startswith("SR")
    assert "1.000 (  25)" in table[2] and "0.000 (  25)" in table[2]


def test_learned_mapping_can_predict_chosen_folds_only() -> None:
    from modeling_supreme.entities import Entity
    from modeling_supreme.entities.evaluation import learned_mapping_predictions

    qrs = Entity("abnormal qrs", "morphology", "present")
    entities = [[qrs] for _ in range(60)]
    gold = [{"ABQRS"} for _ in range(60)]
    folds = [0] * 40 + [1] * 20  # one model of the 40 development rows predicts the 20 held-apart rows
    predicted = learned_mapping_predictions(entities, gold, folds, predicted_folds={1})
    assert predicted[40:] == gold[40:]
    assert predicted[:40] == [set()] * 40


@pytest.mark.slow
def test_eval_script_fits_the_learned_reference_outside_the_scored_folds(tmp_path, capsys) -> None:
    target = tmp_path / "scores.json"
    printed = run_script("eval/extraction.py", "--ptbxl", str(PTBXL_DIR), "--folds", "9,10", "--learned-reference",
                         "--json", str(target), capsys=capsys)
    figures = json.loads(target.read_text())
    assert "fitted on the 276 rows of folds 1,2,3,4,5,6,7,8" in printed
    assert figures["learned_reference"]["records"] == figures["records"] == 124
