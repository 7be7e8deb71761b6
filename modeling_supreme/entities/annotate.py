"""Add an `entities` column to a dataset folder written by `datasets_scripts/` (Parquet shards + card).

A local folder of Parquet shards (what the builders write) is read a row group at a time with pyarrow and written
shard by shard (`parquet_annotate`): memory bounded by one row group, nothing in the datasets cache; anything else (a
Hub id, CSV or JSON files) is loaded with `datasets.load_dataset` and annotated with `Dataset.map`. The lexicon runs in
`num_proc` processes; the LLM path sends each distinct report once through `LLMExtractor` (SQLite cache: an
interrupted run resumes, a repeated run makes no call). The output is a new
dataset folder in the same layout (shards named by `dataset_builders.shard_file_name`, card by
`dataset_builders.write_dataset_card`) plus `extraction_failures.jsonl`: one line per report that got no
entities because it is empty or because the model's answers were rejected. A row whose extraction failed is also
marked in the dataset (`entities_failed`): its entities are unknown, not absent, and training skips it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Optional

from .lexicon import LexiconExtractor
from .llm import LLMExtractor
from .llm_mapping import EntityMapper
from .schema import entities_to_dicts

logger = logging.getLogger(__name__)

FAILURES_FILE = "extraction_failures.jsonl"
MAPPING_FILE = "llm_entity_mapping.json"
PART_FILE = "part.json"  # in the folder of one part of a split extraction: {"index": i, "num_parts": K}
SUMMARY_CHUNK = 4096  # rows read at a time when the result is counted
PARQUET_BATCH_ROWS = 100  # rows read, annotated and written at a time from Parquet shards (the builders' row group)
REPORT_COLUMN = "report"
ENTITIES_COLUMN = "entities"
FAILED_COLUMN = "entities_failed"


@dataclass
class AnnotationSummary:
    """What `add_entities` did: rows per split, reports without entities, where the result is."""

    folder: Path
    rows: dict[str, int] = field(default_factory=dict)
    empty_reports: int = 0
    failed_reports: int = 0
    rows_with_entities: int = 0
    distinct_reports: int = 0
    llm_stats: Optional[dict[str, int]] = None
    mapping: Optional[dict[str, Any]] = None  # EntityMapper counts when LLM names were mapped onto the lexicon's

    @property
    def failures_file(self) -> Path:
        return self.folder / FAILURES_FILE

    @property
    def failure_fraction(self) -> float:
        """Share of the distinct non-empty reports whose extraction failed (0 when there are none)."""
        return self.failed_reports / self.distinct_reports if self.distinct_reports else 0.0


def entities_feature() -> Any:
    """The `entities` column type: a list of {name, category, status} strings."""
    from datasets import List, Value

    return List({"name": Value("string"), "category": Value("string"), "status": Value("string")})


def _lexicon_batch(reports: list[Optional[str]], extractor: LexiconExtractor) -> dict[str, list[Any]]:
    return {
        ENTITIES_COLUMN: [entities_to_dicts(extractor.extract(report)) if report else [] for report in reports],
        FAILED_COLUMN: [False] * len(reports),  # the lexicon does not fail
    }


def add_entities(
    dataset_dir: "str | Path",
    out_dir: "str | Path",
    extractor: "LexiconExtractor | LLMExtractor",
    num_proc: int = 1,
    shard_size: int = 1000,
    num_parts: int = 1,
    part_index: int = 0,
    mapper: Optional[EntityMapper] = None,
) -> AnnotationSummary:
    """Copy a dataset folder to `out_dir` with an `entities` column (list of {name, category, status}).

    Args:
        dataset_dir: a folder (or Hub id) loadable with `datasets.load_dataset(dataset_dir)` that has a `report`
            column; a local folder of Parquet shards is read without `load_dataset` (same rows, card and failures).
        out_dir: the new dataset folder (created; must not be `dataset_dir`).
        extractor: a `LexiconExtractor` (run in `num_proc` processes) or an `LLMExtractor` (its cache makes
            the run resumable).
        num_proc: processes for the lexicon.
        shard_size: rows per output Parquet shard.
        num_parts: cut every split into this many contiguous parts (one per machine, say) and annotate only part
            `part_index`; `merge_annotated_parts` joins the part folders into what one run would have written.
        part_index: the part this run annotates (0..num_parts-1).
        mapper: maps an LLM's entity names onto the lexicon's canonical names (the same labels as a lexicon-built
            dataset); its counts and every unmapped name go to `llm_entity_mapping.json`. None keeps the names.

    Raises:
        ValueError: the folder cannot be loaded, has no `report` column, or is the output folder.
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    if dataset_dir.resolve() == out_dir.resolve():
        raise ValueError(f"{out_dir}: write the annotated dataset to a new folder, not over its source")
    from .parquet_annotate import local_parquet_splits

    local = local_parquet_splits(dataset_dir)
    if local is not None:
        return _add_entities_from_parquet(
            local, dataset_dir, out_dir, extractor, num_proc, shard_size, num_parts, part_index, mapper
        )
    return _add_entities_through_datasets(
        dataset_dir, out_dir, extractor, num_proc, shard_size, num_parts, part_index, mapper
    )


def _add_entities_through_datasets(
    dataset_dir: Path,
    out_dir: Path,
    extractor: "LexiconExtractor | LLMExtractor",
    num_proc: int,
    shard_size: int,
    num_parts: int,
    part_index: int,
    mapper: Optional[EntityMapper],
) -> AnnotationSummary:
    """`add_entities` for what is not a local folder of Parquet shards (a Hub id, CSV or JSON files): loaded with
    `datasets.load_dataset` (a copy in the datasets cache), annotated with `Dataset.map`."""
    from datasets import Features, Value, load_dataset

    try:
        splits = load_dataset(str(dataset_dir))
    except Exception as error:  # datasets raises many types for a folder it cannot read
        raise ValueError(f"{dataset_dir}: not a loadable dataset folder ({error})") from error
    for name, split in splits.items():
        _check_report_column(dataset_dir, name, split.column_names)
        stale = [column for column in (ENTITIES_COLUMN, FAILED_COLUMN) if column in split.column_names]
        if stale:
            splits[name] = split.remove_columns(stale)
        if num_parts > 1:
            splits[name] = splits[name].shard(num_parts, part_index, contiguous=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = AnnotationSummary(folder=out_dir)
    failures: list[dict[str, Any]] = []
    if isinstance(extractor, LLMExtractor):
        annotated = _annotate_with_llm(splits, extractor, failures, summary, mapper)
    else:
        annotated = {
            name: split.map(
                partial(_lexicon_batch, extractor=extractor),
                input_columns=[REPORT_COLUMN],
                batched=True,
                batch_size=256,
                num_proc=num_proc if num_proc > 1 else None,
                features=Features(
                    {**split.features, ENTITIES_COLUMN: entities_feature(), FAILED_COLUMN: Value("bool")}
                ),
                desc=f"Lexicon extraction ({name})",
            )
            for name, split in splits.items()
        }
    for name, split in annotated.items():
        _count_split(name, split, summary, failures)
    _write_failures(out_dir / FAILURES_FILE, failures)
    _write_folder(annotated, dataset_dir, out_dir, shard_size, extractor)
    _mark_part(out_dir, num_parts, part_index)
    return summary


def _check_report_column(dataset_dir: Path, split: str, columns: list[str]) -> None:
    if REPORT_COLUMN not in columns:
        raise ValueError(f"{dataset_dir}: split {split!r} has no {REPORT_COLUMN!r} column (columns: {columns})")


def _mark_part(out_dir: Path, num_parts: int, part_index: int) -> None:
    if num_parts > 1:
        (out_dir / PART_FILE).write_text(json.dumps({"index": part_index, "num_parts": num_parts}) + "\n")


@dataclass
class _Tally:
    """What the Parquet path counts while it writes: the summary and the failures, LLM ones first (as the datasets
    path lists them)."""

    summary: AnnotationSummary
    llm_failed: dict[str, Any] = field(default_factory=dict)  # report -> LLMFailure
    llm_failures: list[dict[str, Any]] = field(default_factory=list)
    empty: list[dict[str, Any]] = field(default_factory=list)

    def count(self, split: str, batch: Any, first_index: int, reports: list[Any], entities: list[Any]) -> None:
        """Count one annotated batch whose first row is row `first_index` of the split (of the part)."""
        ids = batch.column("id") if "id" in batch.schema.names else None
        for offset, report in enumerate(reports):
            failed = report in self.llm_failed
            if failed or not (report and report.strip()):
                row_id = ids[offset].as_py() if ids is not None else first_index + offset
                if failed:
                    self.llm_failures.append(_llm_failure_record(split, row_id, report, self.llm_failed[report]))
                else:
                    self.empty.append({"split": split, "id": row_id, "report": report, "error": "empty report"})
                    self.summary.empty_reports += 1
        self.summary.rows_with_entities += sum(1 for found in entities if found)


def _add_entities_from_parquet(
    local: Any,
    dataset_dir: Path,
    out_dir: Path,
    extractor: "LexiconExtractor | LLMExtractor",
    num_proc: int,
    shard_size: int,
    num_parts: int,
    part_index: int,
    mapper: Optional[EntityMapper],
) -> AnnotationSummary:
    """`add_entities` for a local folder of Parquet shards: read one row group at a time with pyarrow (only the
    reports decoded), written shard by shard with the other columns passed through as Arrow; no datasets cache."""
    from contextlib import nullcontext

    from datasets import Features, SplitInfo, Value
    from tqdm.auto import tqdm

    from ..dataset_builders import shard_file_name
    from ..dataset_builders.tasks import part_range
    from .parquet_annotate import (
        LexiconAnnotator,
        annotated_batch,
        distinct_reports,
        output_cuts,
        read_rows,
        write_shard,
    )

    features, splits = local
    columns = [name for name in features if name not in (ENTITIES_COLUMN, FAILED_COLUMN)]
    for split in splits:
        _check_report_column(dataset_dir, split.name, list(features))
    out_features = Features({name: features[name] for name in columns})
    out_features[ENTITIES_COLUMN] = entities_feature()
    out_features[FAILED_COLUMN] = Value("bool")
    types = [out_features.arrow_schema.field(name).type for name in (ENTITIES_COLUMN, FAILED_COLUMN)]
    groups = {split.name: split.row_groups() for split in splits}
    ranges = {
        name: part_range(sum(group.rows for group in found), num_parts, part_index) for name, found in groups.items()
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    tally = _Tally(AnnotationSummary(folder=out_dir))
    if isinstance(extractor, LLMExtractor):
        answers, tally.llm_failed = _llm_answers(
            distinct_reports(splits, ranges, REPORT_COLUMN, PARQUET_BATCH_ROWS), extractor, tally.summary, mapper
        )
        annotator: Any = nullcontext(partial(_llm_batch, answers=answers, failed=tally.llm_failed))
    else:
        annotator = LexiconAnnotator(extractor, num_proc)
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    for stale in (out_dir / "data").glob("*.parquet"):
        stale.unlink()
    infos = []
    with annotator as annotate:
        for split in splits:
            start, stop = ranges[split.name]
            tally.summary.rows[split.name] = stop - start
            if stop == start:
                continue
            num_bytes = 0
            with tqdm(total=stop - start, desc=f"Entity extraction ({split.name})", unit="row") as bar:
                for index, (low, high) in enumerate(output_cuts(start, stop, shard_size)):

                    def tables(low: int = low, high: int = high) -> Iterator[Any]:
                        position = low
                        for batch in read_rows(groups[split.name], low, high, columns, PARQUET_BATCH_ROWS):
                            table, reports, entities = annotated_batch(batch, annotate, REPORT_COLUMN, types)
                            tally.count(split.name, batch, position - start, reports, entities)
                            position += batch.num_rows
                            bar.update(batch.num_rows)
                            yield table

                    path = out_dir / shard_file_name(split.name, index)
                    num_bytes += write_shard(path, out_features, tables(), PARQUET_BATCH_ROWS)[1]
            infos.append(SplitInfo(name=split.name, num_bytes=num_bytes, num_examples=stop - start))
    _write_failures(out_dir / FAILURES_FILE, tally.llm_failures + tally.empty)
    _write_annotated_card(out_dir, dataset_dir, extractor, out_features, infos)
    _mark_part(out_dir, num_parts, part_index)
    return tally.summary


def _llm_failure_record(split: str, row_id: Any, report: str, failure: Any) -> dict[str, Any]:
    """One line of the failures file for a row whose report the LLM could not answer."""
    return {"split": split, "id": row_id, "report": report, "error": failure.error,
            "raw_answer": failure.raw_answer, "cached": failure.cached}


def _llm_batch(
    reports: list[Optional[str]], answers: dict[str, Any], failed: dict[str, Any]
) -> tuple[list[list[dict[str, str]]], list[bool]]:
    """The entities column and the extraction-failed marks of `reports` from the LLM's answers by report."""
    return (
        [entities_to_dicts(answers.get(report, [])) if report else [] for report in reports],
        [report in failed for report in reports],
    )


def _llm_answers(
    reports: list[str], extractor: LLMExtractor, summary: AnnotationSummary, mapper: Optional[EntityMapper]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The LLM's entities of each distinct report (mapped onto the lexicon's names when `mapper` is given) and the
    failures by report; the run's counts go into `summary` (and the mapping file)."""
    answers = dict(zip(reports, extractor.extract_batch(reports)))
    summary.llm_stats = extractor.last_stats.summary()
    if mapper is not None:
        answers = {report: mapper.map_entities(found) for report, found in answers.items()}
        summary.mapping = mapper.counts.as_dict()
        (summary.folder / MAPPING_FILE).write_text(json.dumps(summary.mapping, indent=1) + "\n", encoding="utf-8")
    failed = {failure.report: failure for failure in extractor.last_stats.failures}
    summary.failed_reports = len(failed)
    summary.distinct_reports = len(reports)
    return answers, failed


def _count_split(name: str, split: Any, summary: AnnotationSummary, failures: list[dict[str, Any]]) -> None:
    """Rows, rows with entities and empty reports (listed in `failures`) of one annotated split, read
    `SUMMARY_CHUNK` rows at a time (the whole column as Python objects would grow with the split)."""
    columns = split.select_columns([REPORT_COLUMN, ENTITIES_COLUMN])
    for start in range(0, len(split), SUMMARY_CHUNK):
        batch = columns[start : start + SUMMARY_CHUNK]
        for offset, report in enumerate(batch[REPORT_COLUMN]):
            if not (report and report.strip()):
                failures.append(
                    {"split": name, "id": _row_id(split, start + offset), "report": report, "error": "empty report"}
                )
                summary.empty_reports += 1
        summary.rows_with_entities += sum(1 for entities in batch[ENTITIES_COLUMN] if entities)
    summary.rows[name] = len(split)


def _annotate_with_llm(
    splits: Any,
    extractor: LLMExtractor,
    failures: list[dict[str, Any]],
    summary: AnnotationSummary,
    mapper: Optional[EntityMapper],
) -> dict[str, Any]:
    """Every distinct report of every split through the LLM once, then the columns from that table."""
    from datasets import Value

    reports = list(
        dict.fromkeys(
            report for split in splits.values() for report in split[REPORT_COLUMN] if report and report.strip()
        )
    )
    answers, failed = _llm_answers(reports, extractor, summary, mapper)
    annotated = {}
    for name, split in splits.items():
        split_reports = split[REPORT_COLUMN]
        column, marks = _llm_batch(split_reports, answers, failed)
        failures.extend(
            _llm_failure_record(name, _row_id(split, index), report, failed[report])
            for index, report in enumerate(split_reports) if report in failed
        )
        annotated[name] = split.add_column(ENTITIES_COLUMN, column, feature=entities_feature()).add_column(
            FAILED_COLUMN, marks, feature=Value("bool")
        )
    return annotated


def _row_id(split: Any, index: int) -> Any:
    return split.select_columns(["id"])[index]["id"] if "id" in split.column_names else index


def _write_failures(path: Path, failures: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for failure in failures:
            handle.write(json.dumps(failure, ensure_ascii=False) + "\n")


def _write_folder(splits: dict[str, Any], source: Path, out_dir: Path, shard_size: int, extractor: Any) -> None:
    """Parquet shards named like the builders' and a card with the source card's metadata."""
    from datasets import SplitInfo

    from ..dataset_builders import shard_file_name

    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    for stale in (out_dir / "data").glob("*.parquet"):
        stale.unlink()
    infos = []
    for name, split in splits.items():
        if len(split) == 0:
            continue
        shards = max(1, math.ceil(len(split) / shard_size))
        for index in range(shards):
            split.shard(shards, index, contiguous=True).to_parquet(str(out_dir / shard_file_name(name, index)))
        infos.append(SplitInfo(name=name, num_bytes=split.data.nbytes, num_examples=len(split)))
    _write_annotated_card(out_dir, source, extractor, next(iter(splits.values())).features, infos)


def _write_annotated_card(out_dir: Path, source: Path, extractor: Any, features: Any, infos: list[Any]) -> None:
    """The card of an annotated folder: the source card's metadata, the extractor named, `infos`' splits."""
    from huggingface_hub import DatasetCard

    from ..dataset_builders import DatasetDescription, write_dataset_card

    metadata: dict[str, Any] = {}
    card_path = source / "README.md"
    if card_path.exists():
        metadata = DatasetCard.load(card_path).data.to_dict()
    kind = "LLM " + extractor.model_id if isinstance(extractor, LLMExtractor) else "lexicon (modeling_supreme.entities)"
    description = DatasetDescription(
        pretty_name=f"{metadata.get('pretty_name', source.name)} with entities",
        body=(
            f"Copy of `{source.name}` with an `entities` column: the clinical statements of each `report` as "
            f"{{name, category, status}}, extracted by the {kind} extractor. Reports without entities because they are "
            f"empty or the model's answers were rejected are listed in `{FAILURES_FILE}`; rows whose extraction "
            f"failed are marked in `{FAILED_COLUMN}` (their entities are unknown, not absent: training skips them)."
        ),
        license=metadata.get("license"),
        tags=tuple(metadata.get("tags") or ("ecg", "medical", "time-series")),
        extra_metadata={
            key: value
            for key, value in metadata.items()
            if key not in {"configs", "dataset_info", "pretty_name", "license", "tags"}
        },
    )
    write_dataset_card(out_dir, description, features, infos)


def merge_annotated_parts(
    dataset_dir: "str | Path", parts: "list[str | Path]", out_dir: "str | Path",
    extractor: "LexiconExtractor | LLMExtractor",
) -> AnnotationSummary:
    """Join the folders of parts 0..K-1 of one extraction (`add_entities(num_parts=K, part_index=i)`) into `out_dir`:
    their shards in part order (hard links where possible), one card (as one run over `dataset_dir` with `extractor`
    writes it), one failures file. Rows are those one run would have written, in the same order.

    Raises:
        ValueError: a folder is not a part, or the parts are not 0..K-1 of one split, each once, in order.
    """
    import pyarrow.parquet as pq
    from datasets import Features, SplitInfo
    from huggingface_hub import DatasetCard

    from ..dataset_builders import shard_file_name
    from ..dataset_builders.parts import link_or_copy

    folders, out_dir = [Path(part) for part in parts], Path(out_dir)
    for expected, folder in enumerate(folders):
        marker = folder / PART_FILE
        if not marker.is_file():
            raise ValueError(f"{folder}: no {PART_FILE}; not a part of a split extraction (--num-shards)")
        stated = json.loads(marker.read_text())
        if stated != {"index": expected, "num_parts": len(folders)}:
            raise ValueError(f"{folder} is part {stated['index']} of {stated['num_parts']}; give every part once, "
                             f"in part order (this place is part {expected} of {len(folders)})")
    cards = [DatasetCard.load(folder / "README.md").data.to_dict() for folder in folders]
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    summary = AnnotationSummary(folder=out_dir)
    infos = []
    for split in [entry["name"] for entry in cards[0]["dataset_info"]["splits"]]:
        count = rows = num_bytes = 0
        for folder, card in zip(folders, cards):
            for shard in sorted(folder.glob(f"data/{split}-*.parquet")):
                link_or_copy(shard, out_dir / shard_file_name(split, count))
                rows += pq.ParquetFile(shard).metadata.num_rows
                count += 1
            num_bytes += sum(entry["num_bytes"] for entry in card["dataset_info"]["splits"] if entry["name"] == split)
        infos.append(SplitInfo(name=split, num_bytes=num_bytes, num_examples=rows))
        summary.rows[split] = rows
    failures = "".join((folder / FAILURES_FILE).read_text(encoding="utf-8") for folder in folders
                       if (folder / FAILURES_FILE).exists())
    summary.failures_file.write_text(failures, encoding="utf-8")
    features = Features._from_yaml_list(cards[0]["dataset_info"]["features"])
    _write_annotated_card(out_dir, Path(dataset_dir), extractor, features, infos)
    return summary


__all__ = [
    "AnnotationSummary", "ENTITIES_COLUMN", "FAILED_COLUMN", "FAILURES_FILE", "MAPPING_FILE", "add_entities",
    "entities_feature",
    "merge_annotated_parts",
]
