"""The zero-shot benchmark end to end on the bundled PTB-XL sample: the CLI, record sources (raw WFDB folders and
built datasets), skipped tasks, missing and unreadable records, the CPSC2018 crop, custom prompts, F1."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import wfdb
from sklearn.metrics import roc_auc_score

from modeling_supreme import read_ecg
from modeling_supreme.evaluation import TASKS, load_label_descriptions, load_task_table, score_ecgs
from modeling_supreme.evaluation.records import CincFolder, PtbxlFolder, open_source, source_of_record_names
from modeling_supreme.evaluation.run_benchmark import load_model_and_processor, run_zero_shot_benchmark
from tests.sample_data import PTBXL_DIR, REPO_ROOT, SPLITS_DIR, ptbxl_record

PTBXL_TASKS = ["ptbxl_super", "ptbxl_sub", "ptbxl_form", "ptbxl_rhythm"]


@pytest.fixture
def checkpoint(tiny_checkpoint):
    return load_model_and_processor(tiny_checkpoint)


def run_benchmark(checkpoint, tasks, sources, splits_dir=SPLITS_DIR, **kwargs):
    model, processor = checkpoint
    return run_zero_shot_benchmark(
        model, processor, tasks, splits_dir, sources, n_resamples=50, progress=False, **kwargs
    )


@pytest.mark.slow
def test_cli_on_the_bundled_sample(tiny_checkpoint, checkpoint, tmp_path):
    out = tmp_path / "zero-shot"
    command = [
        sys.executable,
        "eval/zero_shot.py",
        "--model",
        str(tiny_checkpoint),
        "--splits",
        str(SPLITS_DIR),
        "--ptbxl-root",
        str(PTBXL_DIR),
        "--out",
        str(out),
        "--n-resamples",
        "50",
        "--no-progress",
    ]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| **Mean over 4 of 6 tasks** |" in completed.stdout

    results = json.loads((out / "results.json").read_text())
    assert results["tasks_evaluated"] == PTBXL_TASKS
    assert results["tasks_skipped"] == ["cpsc2018", "csn"]
    assert results["tasks"]["csn"]["status"] == "skipped" and "csn" in results["tasks"]["csn"]["reason"]
    evaluated = [results["tasks"][name] for name in PTBXL_TASKS]
    assert results["mean_auroc"] == pytest.approx(np.mean([task["auroc"] for task in evaluated]), abs=1e-3)
    assert (out / "roc_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PTB-XL super-class" in (out / "results.md").read_text()

    # The CLI's numbers are those of the library on the same checkpoint, and they are scikit-learn's AUROC.
    report = run_benchmark(checkpoint, PTBXL_TASKS, {"ptbxl": PtbxlFolder(PTBXL_DIR, 100)})
    for name in PTBXL_TASKS:
        result, written = report.tasks[name], results["tasks"][name]
        assert written["n_records"] == result.n_records == len(load_task_table(name, SPLITS_DIR).keys)
        for index, label in enumerate(result.label_names):
            column = result.targets[:, index]
            expected = 100 * roc_auc_score(column, result.scores[:, index]) if 0 < column.sum() < len(column) else None
            assert written["per_label"][label] == (None if expected is None else pytest.approx(expected, abs=1e-3))
        assert written["undefined_labels"] == [label for label, value in written["per_label"].items() if value is None]
        low, high = written["ci95"]
        assert low <= high and 0 <= low and high <= 100


@pytest.mark.slow
def test_built_dataset_and_raw_folder_give_the_same_scores(checkpoint, ptbxl_dataset_100hz):
    raw = run_benchmark(checkpoint, ["ptbxl_super"], {"ptbxl": PtbxlFolder(PTBXL_DIR, 100)})
    name, built_source = open_source(ptbxl_dataset_100hz)
    assert name == "ptbxl"
    built = run_benchmark(checkpoint, ["ptbxl_super"], {"ptbxl": built_source})
    np.testing.assert_allclose(built.tasks["ptbxl_super"].scores, raw.tasks["ptbxl_super"].scores, atol=1e-5)
    assert built.tasks["ptbxl_super"].per_label == pytest.approx(raw.tasks["ptbxl_super"].per_label)


@pytest.fixture(scope="module")
def ptbxl_dataset_100hz(tmp_path_factory):
    """The bundled PTB-XL sample built at 100 Hz by the project's builder (Parquet shards + card)."""
    from modeling_supreme.dataset_builders.ptbxl import build_ptbxl

    folder = tmp_path_factory.mktemp("ptbxl-100")
    build_ptbxl(PTBXL_DIR, folder, sampling_rate=100)
    return folder


def test_missing_and_unreadable_records_are_counted_not_scored(checkpoint, tmp_path):
    """A splits folder whose super-class test table lists 6 bundled records, 1 record that does not exist and 1
    whose signal file is truncated."""
    table = pd.read_csv(SPLITS_DIR / TASKS["ptbxl_super"].tables["test"]).head(8).copy()
    root = tmp_path / "ptbxl"
    for ecg_id in table["ecg_id"].head(7):
        target = root / ptbxl_record(ecg_id).relative_to(PTBXL_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".hea", ".dat"):
            shutil.copy(ptbxl_record(ecg_id).with_suffix(suffix), target.with_suffix(suffix))
    broken = root / table["filename_lr"].iloc[6]
    broken.with_suffix(".dat").write_bytes(broken.with_suffix(".dat").read_bytes()[:100])
    table.loc[7, "ecg_id"] = 999999
    table.loc[7, "filename_lr"] = "records100/99000/999999_lr"
    splits = tmp_path / "splits"
    (splits / "ptbxl" / "super_class").mkdir(parents=True)
    table.to_csv(splits / TASKS["ptbxl_super"].tables["test"], index=False)

    result = run_benchmark(checkpoint, ["ptbxl_super"], {"ptbxl": PtbxlFolder(root, 100)}, splits).tasks["ptbxl_super"]
    assert result.evaluated
    assert (result.n_table_rows, result.n_records) == (8, 6)
    assert result.missing == ["999999"]
    assert [key for key, _ in result.rejected] == [str(table["ecg_id"].iloc[6])]
    assert str(broken) in result.rejected[0][1] or broken.name in result.rejected[0][1]
    np.testing.assert_array_equal(result.targets, table[result.label_names].to_numpy()[:6])


def write_cinc_record(folder, name, ecg_id):
    """A CinC-style record `name` (.hea + .mat, 500 Hz) holding the signal of bundled PTB-XL record `ecg_id`."""
    record = read_ecg(ptbxl_record(ecg_id, rate=500))
    wfdb.wrsamp(
        name,
        fs=500,
        units=["mV"] * 12,
        sig_name=record.lead_names,
        p_signal=record.signal.T.astype(np.float64),
        fmt=["16"] * 12,
        write_dir=str(folder),
    )
    return record


def test_cpsc2018_from_a_raw_folder_is_cropped_to_2_5_seconds(checkpoint, tmp_path):
    model, processor = checkpoint
    table = load_task_table("cpsc2018", SPLITS_DIR)
    records = [write_cinc_record(tmp_path, name, ecg_id) for ecg_id, name in enumerate(table.keys[:12], start=1)]
    name, source = open_source(tmp_path)
    assert name == "cpsc2018" and isinstance(source, CincFolder)
    result = run_benchmark(checkpoint, ["cpsc2018", "csn"], {"cpsc2018": source})
    cpsc = result.tasks["cpsc2018"]
    assert cpsc.evaluated and cpsc.n_records == 12 and len(cpsc.missing) == len(table.keys) - 12
    assert result.tasks["csn"].status == "skipped"

    cropped = [record.signal[:, :1250] for record in records]
    inputs = processor.feature_extractor(cropped, sampling_rate=500, lead_names=records[0].lead_names)
    texts = [load_label_descriptions()["cpsc2018"][label] for label in cpsc.label_names]
    expected = score_ecgs(model, processor, inputs["ecg_values"], texts, lead_mask=inputs["lead_mask"], progress=False)
    np.testing.assert_allclose(cpsc.scores, expected, atol=1e-5)


def test_prompts_replace_the_descriptions_and_f1_uses_validation_thresholds(checkpoint, tmp_path):
    sources = {"ptbxl": PtbxlFolder(PTBXL_DIR, 100)}
    default = run_benchmark(checkpoint, ["ptbxl_super"], sources, with_f1=True)
    prompts = {
        "ptbxl_super": {
            "NORM": "normal ecg",
            "MI": "old infarction",
            "STTC": "st t wave changes",
            "CD": "av block",
            "HYP": "left ventricular hypertrophy",
        }
    }
    custom = run_benchmark(checkpoint, ["ptbxl_super"], sources, descriptions=prompts)
    assert custom.settings["label_texts"]["ptbxl_super"] == [
        prompts["ptbxl_super"][label] for label in custom.tasks["ptbxl_super"].label_names
    ]
    assert not np.allclose(custom.tasks["ptbxl_super"].scores, default.tasks["ptbxl_super"].scores)
    extra = default.tasks["ptbxl_super"].extra
    assert set(extra["f1_thresholds"]) == set(default.tasks["ptbxl_super"].label_names)
    assert 0 <= extra["f1"] <= 100
    assert "f1" not in custom.tasks["ptbxl_super"].extra


def test_record_sources_are_told_from_record_names(tmp_path):
    assert source_of_record_names(["JS00001", "JS12345"], "here") == "csn"
    assert source_of_record_names(["1", "22"], "here") == "ptbxl"
    with pytest.raises(ValueError, match="SOURCE=PATH"):
        source_of_record_names(["A0001", "JS00002"], "mixed folder")
    name, source = open_source(PTBXL_DIR, ptbxl_rate=100)
    assert name == "ptbxl" and isinstance(source, PtbxlFolder)
    with pytest.raises(ValueError, match="Unknown data source"):
        open_source(PTBXL_DIR, source="mimic")
