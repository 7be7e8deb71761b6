r"""Add an `entities` column (list of {name, category, status}) to a dataset folder built by datasets_scripts/.

    python datasets_scripts/extract_entities.py --dataset outputs/ptbxl-100 --extractor lexicon --num-proc 2 \
        --out outputs/ptbxl-100-entities
    python datasets_scripts/extract_entities.py --dataset outputs/mimic-iv-ecg --extractor llm --backend openai \
        --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct --workers 16 --out outputs/mimic-entities

The LLM answers go to an SQLite cache (default: <out>/llm_cache.sqlite): re-run the same command after an
interruption and only the missing reports are sent. The LLM's entity names are mapped onto the lexicon's canonical
names (so the dataset has the labels a lexicon-built one has; --raw-llm-names keeps them as written); the names
that do not map are counted and listed in <out>/llm_entity_mapping.json. Reports left without entities (empty, or
answers rejected) are listed in <out>/extraction_failures.jsonl; rows whose extraction failed are marked in the
`entities_failed` column (training skips them). The dataset is written in any case; the command exits with status 1
when the extraction failed for more than --max-failure-fraction of the distinct reports (of the part, with
--num-shards).

On several machines, each annotates one contiguous part of the rows into its own folder, then one command joins the
parts into what a single run would have written (same --dataset and extractor options):

    python datasets_scripts/extract_entities.py --dataset D --out parts/$I --num-shards 3 --shard-index $I
    python datasets_scripts/extract_entities.py --dataset D --out D-entities --merge-parts parts/0 parts/1 parts/2
"""

import argparse
import json
import logging
import time
from pathlib import Path

from modeling_supreme.entities.annotate import MAPPING_FILE, add_entities, merge_annotated_parts
from modeling_supreme.entities.extractor_arguments import (
    add_extractor_arguments,
    entity_mapper_from_args,
    extractor_from_args,
    number_in,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dataset", required=True, help="dataset folder (Parquet shards + README.md) with a `report` column"
    )
    parser.add_argument("--out", required=True, help="output dataset folder")
    parser.add_argument("--num-proc", type=number_in(int, 1), default=1, help="processes for the lexicon extractor")
    parser.add_argument("--shard-size", type=number_in(int, 1), default=1000, help="rows per output Parquet shard")
    parser.add_argument(
        "--max-failure-fraction",
        type=number_in(float, 0.0, 1.0),
        default=0.01,
        help="exit with status 1 when the extraction fails for more than this share of the distinct reports "
        "(default 0.01)",
    )
    parser.add_argument("--num-shards", type=int, default=1, help="parts the rows are cut into, one per machine")
    parser.add_argument("--shard-index", type=int, default=0, help="the part this run annotates, 0..K-1")
    parser.add_argument("--merge-parts", nargs="+", metavar="PART", help="join these part folders (part 0 first) "
                        "into --out instead of extracting")
    add_extractor_arguments(parser)
    args = parser.parse_args()
    if args.num_shards < 1 or not 0 <= args.shard_index < args.num_shards:
        parser.error(f"--shard-index must be in 0..{args.num_shards - 1} and --num-shards >= 1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    extractor = extractor_from_args(args, cache=Path(args.out) / "llm_cache.sqlite")
    if args.merge_parts:
        merged = merge_annotated_parts(args.dataset, args.merge_parts, args.out, extractor)
        print(f"Dataset with entities in {merged.folder}: rows {json.dumps(merged.rows)} from "
              f"{len(args.merge_parts)} parts; reports without entities are listed in {merged.failures_file}")
        return
    started = time.perf_counter()
    summary = add_entities(
        args.dataset, args.out, extractor, num_proc=args.num_proc, shard_size=args.shard_size,
        num_parts=args.num_shards, part_index=args.shard_index, mapper=entity_mapper_from_args(args),
    )
    seconds = time.perf_counter() - started
    rows = sum(summary.rows.values())
    print(f"Dataset with entities in {summary.folder}")
    print(f"  {rows} rows annotated in {seconds:.1f} s ({rows / max(seconds, 1e-9):.1f} rows/s)")
    print(f"  rows: {json.dumps(summary.rows)}; rows with at least one entity: {summary.rows_with_entities}")
    print(f"  empty reports: {summary.empty_reports}; reports whose extraction failed: {summary.failed_reports}")
    if summary.llm_stats is not None:
        print(f"  LLM: {json.dumps(summary.llm_stats)}")
    if summary.mapping is not None:
        mapping = summary.mapping
        print(f"  LLM names onto the lexicon's: {mapping['mentions']} mentions, {mapping['unmapped_mentions']} "
              f"unmapped ({mapping['unmapped_names']} names, listed in {summary.folder / MAPPING_FILE})")
    print(f"  reports without entities are listed in {summary.failures_file}")
    if summary.failure_fraction > args.max_failure_fraction:
        raise SystemExit(
            f"error: the extraction failed for {summary.failed_reports} of {summary.distinct_reports} distinct reports "
            f"({summary.failure_fraction:.1%}), more than --max-failure-fraction {args.max_failure_fraction:g}. "
            f"They are listed in {summary.failures_file} and marked in the `entities_failed` column (training skips "
            "them). Fix the cause and run the command again: cached answers are not asked again, failures whose "
            "model could not be reached are, and --retry-failures asks again for rejected answers."
        )


if __name__ == "__main__":
    main()
