"""Extraction quality on PTB-XL: entities of each `report` mapped to SCP-ECG codes (the `scp` table of
modeling_supreme/entities/lexicon.yaml), scored against the cardiologists' `scp_codes`.

    python eval/extraction.py --ptbxl data/ptbxl-sample [--extractor lexicon|llm ...] [--json scores.json]

Gold: every code listed for a record, whatever its likelihood. Predicted: the codes of entities whose status is
present or uncertain. Codes no report text supports (e.g. "trace only requested") stay in the gold set and
count as misses. "Edit:" notes (which hold annotators' codes) are stripped before extraction.
Micro figures pool all (record, code) pairs; macro-F1 averages over codes seen in gold or predictions.
"""

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from modeling_supreme.dataset_builders.ptbxl import parse_scp_codes
from modeling_supreme.entities import Lexicon, LexiconExtractor, entities_to_scp_codes, score_extraction
from modeling_supreme.entities.cli import add_extractor_arguments, extractor_from_args
from modeling_supreme.entities.evaluation import format_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ptbxl", required=True, help="folder with ptbxl_database.csv (and scp_statements.csv)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    add_extractor_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = Path(args.ptbxl)
    database = pd.read_csv(folder / "ptbxl_database.csv")
    reports = database["report"].fillna("").astype(str).tolist()
    csv_path = folder / "ptbxl_database.csv"
    gold = [
        set(parse_scp_codes(value, f"{csv_path} (ecg_id {ecg_id})"))
        for ecg_id, value in zip(database["ecg_id"], database["scp_codes"])
    ]
    extractor = extractor_from_args(args, cache=Path("outputs") / "llm_cache.sqlite")
    lexicon = extractor.lexicon if isinstance(extractor, LexiconExtractor) else Lexicon.load()
    predicted = [entities_to_scp_codes(entities, lexicon) for entities in extractor.extract_batch(reports)]
    scores = score_extraction(predicted, gold)
    descriptions = {}
    if (folder / "scp_statements.csv").exists():
        descriptions = pd.read_csv(folder / "scp_statements.csv", index_col=0)["description"].to_dict()
    title = f"Extraction vs cardiologists' scp_codes: {args.extractor} extractor on {len(reports)} reports of {folder}"
    print(format_scores(scores, title, descriptions))
    if not isinstance(extractor, LexiconExtractor):
        print(f"LLM run: {json.dumps(extractor.last_stats.summary())}")
    if args.json:
        values = {"extractor": args.extractor, "ptbxl": str(folder), **scores.as_dict()}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
