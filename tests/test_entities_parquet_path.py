"""Entity extraction straight from a local folder of Parquet shards (pyarrow, one row group at a time) writes what the
datasets path (`load_dataset` + `Dataset.map`) writes, on a small synthetic MIMIC-IV-ECG build with signals and
rejects, and writes nothing to the datasets cache."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from bench.synthetic_mimic import BadInput, write_tree
from modeling_supreme.dataset_builders import BuildSettings
from modeling_supreme.dataset_builders.mimic_iv_ecg import build_mimic_iv_ecg
from modeling_supreme.entities import LexiconExtractor, LLMExtractor, annotate
from modeling_supreme.entities.parquet_annotate import local_parquet_splits
from tests.llm_stubs import FailingBackend


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of 23 synthetic studies (one of each defect) in shards of 4 rows, with a few empty reports."""
    tree = write_tree(tmp_path_factory.mktemp("mimic") / "1.0", 23, seed=5, bad=BadInput(1, 1, 1, 1))
    out = tmp_path_factory.mktemp("built")
    build_mimic_iv_ecg(tree.root, out, BuildSettings(shard_size=4, row_group_size=3, progress=False))
    return out


def _outputs(folder: Path) -> dict:
    """Everything an annotated folder holds: rows per split, rows per shard file, card and failures."""
    shards = sorted((folder / "data").glob("*.parquet"))
    return {
        "rows": {name: split.to_list() for name, split in datasets.load_dataset(str(folder)).items()},
        "shards": [(shard.name, pq.ParquetFile(shard).metadata.num_rows) for shard in shards],
        # the card but its Arrow byte sizes: datasets counts the buffers of the split's slices, the Parquet path those
        # of its batches (they differ by the slices' offsets, ~0.004 % here)
        "card": [line for line in (folder / "README.md").read_text().splitlines()
                 if "num_bytes" not in line and "dataset_size" not in line],
        "failures": (folder / annotate.FAILURES_FILE).read_text(),
        "others": sorted(path.name for path in folder.iterdir()),
    }


def _both_paths(source: Path, tmp_path: Path, make_extractor, **options) -> tuple[dict, dict, object, object]:
    local = local_parquet_splits(source)
    assert local is not None
    new = annotate._add_entities_from_parquet(
        local, source, tmp_path / "parquet", make_extractor(), options.get("num_proc", 1),
        options.get("shard_size", 1000), options.get("num_parts", 1), options.get("part_index", 0), None,
    )
    old = annotate._add_entities_through_datasets(
        source, tmp_path / "datasets", make_extractor(), options.get("num_proc", 1), options.get("shard_size", 1000),
        options.get("num_parts", 1), options.get("part_index", 0), None,
    )
    return _outputs(tmp_path / "parquet"), _outputs(tmp_path / "datasets"), new, old


def _same_summary(new, old) -> None:
    for name in ("rows", "empty_reports", "failed_reports", "rows_with_entities", "distinct_reports", "llm_stats"):
        assert getattr(new, name) == getattr(old, name), name


@pytest.mark.parametrize(
    "options",
    [{"shard_size": 7}, {"shard_size": 5, "num_proc": 2}, {"shard_size": 3, "num_parts": 3, "part_index": 1}],
    ids=["one-process", "two-processes", "part-1-of-3"],
)
def test_the_parquet_path_writes_what_the_datasets_path_writes_with_the_lexicon(built, tmp_path, options) -> None:
    new, old, new_summary, old_summary = _both_paths(built, tmp_path, LexiconExtractor, **options)
    assert new["rows"] == old["rows"] and len(new["rows"]["train"]) > 0
    assert new["shards"] == old["shards"]  # the same near-equal cut into shards
    assert new["card"] == old["card"]
    assert new["failures"] == old["failures"] and new["others"] == old["others"]
    _same_summary(new_summary, old_summary)


def test_the_parquet_path_writes_what_the_datasets_path_writes_with_an_llm(built, tmp_path) -> None:
    reports = [report for report in datasets.load_dataset(str(built), split="train")["report"] if report]
    failing = set(list(dict.fromkeys(reports))[:2])
    new, old, new_summary, old_summary = _both_paths(
        built, tmp_path, lambda: LLMExtractor(FailingBackend(failing), progress=False), shard_size=6
    )
    assert new == old
    _same_summary(new_summary, old_summary)
    assert new_summary.failed_reports == 2
    errors = [json.loads(line)["error"] for line in new["failures"].splitlines()]
    assert "stub: the model cannot be reached" in " ".join(errors)


def test_add_entities_reads_local_parquet_without_the_datasets_cache(built, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    summary = annotate.add_entities(built, tmp_path / "out", LexiconExtractor(), shard_size=10)
    assert summary.rows["train"] == pq.ParquetDataset(sorted((built / "data").glob("*.parquet"))).read().num_rows
    # resolving the data files leaves a lock file of datasets' builder; no data is written there
    assert not [path for path in cache.rglob("*") if path.is_file() and path.suffix != ".lock"]
    # the stale columns of an annotated input are replaced, not duplicated
    again = annotate.add_entities(tmp_path / "out", tmp_path / "again", LexiconExtractor(), shard_size=10)
    assert again.rows == summary.rows
    assert _outputs(tmp_path / "again")["rows"] == _outputs(tmp_path / "out")["rows"]


def test_input_that_is_not_local_parquet_goes_through_datasets(tmp_path) -> None:
    folder = tmp_path / "jsonl"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"id": "a", "report": "sinus rhythm"}) + "\n")
    assert local_parquet_splits(folder) is None and local_parquet_splits(tmp_path / "absent") is None
    summary = annotate.add_entities(folder, tmp_path / "out", LexiconExtractor())
    assert summary.rows == {"train": 1} and summary.rows_with_entities == 1


def test_a_parquet_folder_without_reports_is_refused_naming_it(built, tmp_path) -> None:
    folder = tmp_path / "no-reports"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pq.read_table(sorted((built / "data").glob("*.parquet"))[0], columns=["id"]),
                   folder / "data" / "train-00000.parquet")
    with pytest.raises(ValueError, match="split 'train' has no 'report' column"):
        annotate.add_entities(folder, tmp_path / "out", LexiconExtractor())


def test_the_lexicon_cache_is_bounded_and_changes_no_result() -> None:
    from modeling_supreme.entities.parquet_annotate import LexiconAnnotator
    from modeling_supreme.entities.schema import entities_to_dicts

    extractor = LexiconExtractor()
    reports = ["sinus rhythm", None, "atrial fibrillation", "", "sinus rhythm", "left axis deviation", "normal ecg"]
    with LexiconAnnotator(extractor, cache_size=2) as annotate_batch:
        for batch in (reports[:3], reports[3:], reports[::-1]):
            entities, failed = annotate_batch(batch)
            assert entities == [entities_to_dicts(extractor.extract(report)) if report else [] for report in batch]
            assert failed == [False] * len(batch)
            assert len(annotate_batch._cache) <= 2
