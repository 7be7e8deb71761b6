"""MIMIC-IV-ECG built on several "machines" (parts of the record list in separate folders, merged) and its bad input,
on tiny synthetic trees in the release's layout (`bench/synthetic_mimic.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from bench.synthetic_mimic import BadInput, write_tree
from modeling_supreme.dataset_builders import BuildSettings
from modeling_supreme.dataset_builders.mimic_iv_ecg import build_mimic_iv_ecg, mimic_description
from modeling_supreme.dataset_builders.parts import merge_parts
from modeling_supreme.dataset_builders.tasks import part_range
from modeling_supreme.entities import LexiconExtractor
from modeling_supreme.entities.annotate import add_entities, merge_annotated_parts

REPO_ROOT = Path(__file__).resolve().parent.parent
RECORDS = 23
SETTINGS = BuildSettings(shard_size=4, progress=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory):
    """23 studies with one of each defect: a record without files, a measurement without a record, a study listed
    twice, a truncated .dat (and whatever short reports the grammar drew)."""
    return write_tree(tmp_path_factory.mktemp("mimic") / "1.0", RECORDS, seed=3, bad=BadInput(1, 1, 1, 1))


@pytest.fixture(scope="module")
def whole(tree, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build of the whole record list on one machine."""
    out = tmp_path_factory.mktemp("whole")
    build_mimic_iv_ecg(tree.root, out, SETTINGS)
    return out


def _rows(folder: Path) -> list[dict]:
    return datasets.load_dataset(str(folder), split="train").to_list()


def _without_byte_sizes(folder: Path) -> list[str]:
    lines = (folder / "README.md").read_text().splitlines()
    return [line for line in lines if "num_bytes" not in line and "dataset_size" not in line]


def _rejects(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "rejects.jsonl").read_text().splitlines()]


def test_the_synthetic_tree_has_mimics_layout_format_and_lead_order(tree):
    from modeling_supreme.reading_supreme import read_ecg, read_header

    listed = (tree.root / "record_list.csv").read_text().splitlines()
    assert listed[0] == "subject_id,study_id,file_name,ecg_time,path"
    path = listed[1].split(",")[-1]
    assert path == "files/p1000/p10000032/s40000017/40000017"
    header = read_header(tree.root / path)
    assert {spec.fmt for spec in header.signals} == {16} and header.sampling_rate == 500 and header.sig_len == 5000
    record = read_ecg(tree.root / path)
    assert record.signal.shape == (12, 5000) and record.lead_names[3:6] == ["aVR", "aVF", "aVL"]
    measured = (tree.root / "machine_measurements.csv").read_text().splitlines()[0].split(",")
    assert measured[4:22] == [f"report_{index}" for index in range(18)]


@pytest.mark.parametrize("total, parts", [(0, 1), (10, 3), (23, 3), (2, 3), (7, 7)])
def test_parts_are_contiguous_disjoint_and_cover_the_stream_in_order(total, parts):
    ranges = [part_range(total, parts, index) for index in range(parts)]
    positions = [position for start, stop in ranges for position in range(start, stop)]
    assert positions == list(range(total))
    sizes = [stop - start for start, stop in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_every_planted_defect_is_a_reject_naming_the_study_and_the_reason(tree, whole):
    rejects = _rejects(whole)
    by_study = {(entry["id"], entry["category"]): entry["reason"] for entry in rejects}
    (missing,) = tree.planted["missing files"]
    assert str(missing) in by_study[(str(missing), "missing file")]
    (truncated,) = tree.planted["truncated dat"]
    reason = by_study[(str(truncated), "unreadable record")]
    assert str(truncated) in reason and "truncated" in reason
    (orphan,) = tree.planted["orphan measurements"]
    assert f"study {orphan}" in by_study[(str(orphan), "measurements without a record")]
    (duplicate,) = tree.planted["duplicate studies"]
    assert f"study {duplicate} is listed already on line 2" in by_study[(str(duplicate), "duplicate id")]
    built = {row["study_id"] for row in _rows(whole)}
    assert not built & {missing, truncated, orphan}
    assert duplicate in built  # its first listing is built, the second is the reject
    expected_rejects = 4 + tree.short_reports
    assert len(rejects) == expected_rejects and len(built) == RECORDS - 2 - tree.short_reports


def test_a_record_list_cut_into_three_parts_merges_into_the_one_machine_build(tree, whole, tmp_path):
    parts = [tmp_path / f"part{index}" for index in range(3)]
    for index, folder in enumerate(parts):
        settings = BuildSettings(shard_size=4, progress=False, num_parts=3, part_index=index)
        build_mimic_iv_ecg(tree.root, folder, settings)
    rows_per_part = [len(_rows(folder)) for folder in parts]
    assert all(rows_per_part) and sum(rows_per_part) == len(_rows(whole))
    summary = merge_parts(tmp_path / "merged", parts, mimic_description())
    assert _rows(tmp_path / "merged") == _rows(whole)
    assert _rejects(tmp_path / "merged") == _rejects(whole)
    assert summary.rejected_by_reason == dict(summary.rejected_by_reason) and summary.built == len(_rows(whole))
    merged = json.loads((tmp_path / "merged" / "progress.json").read_text())
    assert merged["signature"] == json.loads((whole / "progress.json").read_text())["signature"]
    # a one-machine run on the merged folder finds it complete: nothing is built again
    again = build_mimic_iv_ecg(tree.root, tmp_path / "merged", SETTINGS)
    assert again.records_read == 0 and again.built == summary.built


def test_merge_refuses_parts_out_of_order_missing_or_of_other_builds(tree, tmp_path, whole):
    parts = [tmp_path / f"part{index}" for index in range(2)]
    for index, folder in enumerate(parts):
        build_mimic_iv_ecg(tree.root, folder, BuildSettings(shard_size=4, progress=False, num_parts=2,
                                                              part_index=index))
    with pytest.raises(ValueError, match="part order"):
        merge_parts(tmp_path / "m1", parts[::-1], mimic_description())
    with pytest.raises(ValueError, match="part order"):
        merge_parts(tmp_path / "m2", parts[:1], mimic_description())
    with pytest.raises(ValueError, match="whole record list"):
        merge_parts(tmp_path / "m3", [whole, parts[1]], mimic_description())
    other = tmp_path / "other"
    build_mimic_iv_ecg(tree.root, other, BuildSettings(shard_size=5, progress=False, num_parts=2, part_index=1))
    with pytest.raises(ValueError, match="other settings"):
        merge_parts(tmp_path / "m4", [parts[0], other], mimic_description())


@pytest.mark.slow  # two build processes and a merge process: their start-up dominates
def test_two_machines_run_the_build_script_side_by_side_and_the_merge_script_joins_them(tree, whole, tmp_path):
    env = {**os.environ, "TQDM_DISABLE": "1"}
    script = [sys.executable, "datasets_scripts/build_mimic_iv_ecg.py", "--shard-size", "4"]
    machines = [
        subprocess.Popen([*script, "--root", str(tree.root), "--out", str(tmp_path / f"m{index}"), "--num-shards", "2",
                          "--shard-index", str(index)], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for index in range(2)
    ]
    outputs = [machine.communicate(timeout=300)[0] for machine in machines]
    assert [machine.returncode for machine in machines] == [0, 0], outputs
    merged = subprocess.run([*script, "--out", str(tmp_path / "merged"), "--merge-parts", str(tmp_path / "m0"),
                             str(tmp_path / "m1")], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert merged.returncode == 0, merged.stderr
    assert _rows(tmp_path / "merged") == _rows(whole)
    assert (tmp_path / "merged" / "README.md").read_text() == (whole / "README.md").read_text()


def test_entity_extraction_in_parts_merges_into_the_one_run_result(whole, tmp_path):
    extractor = LexiconExtractor()
    add_entities(whole, tmp_path / "one", extractor, shard_size=5)
    parts = [tmp_path / f"part{index}" for index in range(3)]
    for index, folder in enumerate(parts):
        add_entities(whole, folder, extractor, shard_size=5, num_parts=3, part_index=index)
    merged = merge_annotated_parts(whole, parts, tmp_path / "merged", extractor)
    assert merged.rows == {"train": len(_rows(whole))}
    assert _rows(tmp_path / "merged") == _rows(tmp_path / "one")
    # the same card, except the Arrow byte sizes: a part's slice of a column carries an offset more than the whole
    assert _without_byte_sizes(tmp_path / "merged") == _without_byte_sizes(tmp_path / "one")
    with pytest.raises(ValueError, match="part order"):
        merge_annotated_parts(whole, parts[::-1], tmp_path / "wrong", extractor)
