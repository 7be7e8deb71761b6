"""Extraction quality on PTB-XL: entities of each `report` mapped to SCP-ECG codes (the `scp` table of
modeling_supreme/entities/lexicon.yaml), scored against the cardiologists' `scp_codes`.

    python eval/extraction.py --ptbxl data/ptbxl-sample [--extractor lexicon|llm ...] [--json scores.json]
        [--agreement 25] [--errors errors.jsonl] [--learned-reference]

Gold: every code listed for a record, whatever its likelihood. Predicted: the codes of entities whose status is
present or uncertain. Codes no report text supports (e.g. "trace only requested") stay in the gold set and
count as misses. "Edit:" notes (which hold annotators' codes) are stripped before extraction.
Micro figures pool all (record, code) pairs; macro-F1 averages over codes seen in gold or predictions.

The figures are also given per report language (the language whose lexicon phrasings read the report best).
`--agreement N` prints the N stated entities the cardiologists most often left uncoded: how many reports state
each entity and how many of those carry its SCP code. `--learned-reference` also scores a mapping learned from
the gold codes themselves (logistic regression on the entities, the table's codes and the language, 10-fold
cross-validated over `strat_fold`): what a mapping fitted to these annotators reaches on reports it has not seen. `--errors FILE` writes one JSON line per record with a
false positive or a false negative (report, entities, gold and predicted codes), for auditing the lexicon.
"""

import argparse
import json
import logging
from pathlib import Path
from typing import Sequence

import pandas as pd

from modeling_supreme.dataset_builders.ptbxl import parse_scp_codes
from modeling_supreme.entities import Entity, Lexicon, LexiconExtractor, entities_to_dicts, entities_to_scp_codes, score_extraction
from modeling_supreme.entities.cli import add_extractor_arguments, extractor_from_args
from modeling_supreme.entities.evaluation import (
    format_agreement,
    format_group_scores,
    format_scores,
    learned_mapping_predictions,
    report_language,
    scores_by_group,
    statement_agreement,
)
from modeling_supreme.entities.lexicon import LANGUAGES


def write_errors(
    path: Path,
    database: pd.DataFrame,
    entities: Sequence[Sequence[Entity]],
    predicted: Sequence[set[str]],
    gold: Sequence[set[str]],
    languages: Sequence[str],
) -> int:
    """One JSON line per record whose predicted codes differ from the gold codes; returns the number written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", encoding="utf-8") as handle:
        for ecg_id, report, found, predicted_codes, gold_codes, language in zip(
            database["ecg_id"], database["report"].fillna(""), entities, predicted, gold, languages
        ):
            if predicted_codes == gold_codes:
                continue
            record = {
                "ecg_id": int(ecg_id),
                "language": language,
                "report": report,
                "entities": entities_to_dicts(found),
                "gold": sorted(gold_codes),
                "predicted": sorted(predicted_codes),
                "false_positives": sorted(predicted_codes - gold_codes),
                "false_negatives": sorted(gold_codes - predicted_codes),
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ptbxl", required=True, help="folder with ptbxl_database.csv (and scp_statements.csv)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--agreement", type=int, default=0, metavar="N",
                        help="print the N stated entities most often left uncoded by the cardiologists")
    parser.add_argument("--errors", help="write the records with false positives or negatives to this JSON-lines file")
    parser.add_argument("--learned-reference", action="store_true",
                        help="also score a mapping learned from the gold codes, cross-validated over strat_fold")
    add_extractor_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = Path(args.ptbxl)
    csv_path = folder / "ptbxl_database.csv"
    database = pd.read_csv(csv_path)
    reports = database["report"].fillna("").astype(str).tolist()
    gold = [
        set(parse_scp_codes(value, f"{csv_path} (ecg_id {ecg_id})"))
        for ecg_id, value in zip(database["ecg_id"], database["scp_codes"])
    ]
    extractor = extractor_from_args(args, cache=Path("outputs") / "llm_cache.sqlite")
    lexicon = extractor.lexicon if isinstance(extractor, LexiconExtractor) else Lexicon.load()
    entities = extractor.extract_batch(reports)
    predicted = [entities_to_scp_codes(found, lexicon) for found in entities]
    scores = score_extraction(predicted, gold)
    by_language = {language: LexiconExtractor(languages=(language,)) for language in LANGUAGES}
    languages = [report_language(report, by_language) for report in reports]
    language_scores = scores_by_group(predicted, gold, languages)

    descriptions = {}
    if (folder / "scp_statements.csv").exists():
        descriptions = pd.read_csv(folder / "scp_statements.csv", index_col=0)["description"].to_dict()
    title = f"Extraction vs cardiologists' scp_codes: {args.extractor} extractor on {len(reports)} reports of {folder}"
    print(format_scores(scores, title, descriptions))
    print("\nBy report language:\n" + format_group_scores(language_scores))
    if args.agreement:
        rows = statement_agreement(entities, gold, lexicon, languages)
        print(f"\nStated entities the cardiologists coded least (top {args.agreement} by uncoded reports):")
        print(format_agreement(rows, limit=args.agreement))
    reference = None
    if args.learned_reference:
        learned = learned_mapping_predictions(entities, gold, database["strat_fold"].tolist(), table_codes=predicted, groups=languages)
        reference = score_extraction(learned, gold)
        print(
            f"\nReference, a mapping learned from the gold codes ({database['strat_fold'].nunique()}-fold cross-validated): "
            f"micro precision {reference.micro_precision:.4f}  micro recall {reference.micro_recall:.4f}  "
            f"micro F1 {reference.micro_f1:.4f}  (the lexicon's table: {scores.micro_f1:.4f})"
        )
    if not isinstance(extractor, LexiconExtractor):
        print(f"LLM run: {json.dumps(extractor.last_stats.summary())}")
    if args.errors:
        written = write_errors(Path(args.errors), database, entities, predicted, gold, languages)
        print(f"\n{written} records with a false positive or negative written to {args.errors}")
    if args.json:
        values = {
            "extractor": args.extractor,
            "ptbxl": str(folder),
            **scores.as_dict(),
            "by_language": {language: group.as_dict() for language, group in language_scores.items()},
        }
        if reference is not None:
            values["learned_reference"] = {key: value for key, value in reference.as_dict().items() if key != "per_code"}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
