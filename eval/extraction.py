"""Extraction quality on PTB-XL: entities of each `report` mapped to SCP-ECG codes (the `scp` table of
modeling_supreme/entities/lexicon.yaml), scored against the cardiologists' `scp_codes`.

    python eval/extraction.py [--ptbxl FOLDER ...] --folds 8,9,10 \
        [--extractor lexicon|llm ...] [--lexicon FILE] [--json scores.json] [--agreement 25] [--errors errors.jsonl]
        [--learned-reference]

`--ptbxl` takes one or more folders with a `ptbxl_database.csv` (an `ecg_id` read twice is rejected the second
time; default: the PTB-XL sample and the extra reports, from `SUPREME_DATA_DIR`, the cache or a download);
`--folds` scores only the rows of those `strat_fold`s (`8,9,10` or `1-7`). The lexicon was developed on folds 1-7 of
the 2,803 reports of the local copy (sample and extra reports); fold 8 and the sample's folds 9-10 are the held-apart
check.

Gold: every code listed for a record, whatever its likelihood. Predicted: the codes of entities whose status is
present or uncertain. Codes no report text supports (e.g. "trace only requested") stay in the gold set and
count as misses. "Edit:" notes (which hold annotators' codes) are stripped before extraction.
Micro figures pool all (record, code) pairs; macro-F1 averages over codes seen in gold or predictions.
A row with a malformed `scp_codes` (or `strat_fold`) is rejected with its id and reason, and the run goes on;
reports without any entity are scored as they are and counted by reason (empty, measurements only, unknown
language or phrasing). With `--extractor llm` the model's entity names are mapped onto the lexicon's canonical
names before scoring (`modeling_supreme.entities.llm_mapping`; `--raw-llm-names` scores them as written) and the
names that do not map are counted.

The figures are also given per report language (the language whose lexicon phrasings read the report best) and
per code and language. `--agreement N` prints the N stated entities the cardiologists most often left uncoded:
how many reports state each entity and how many of those carry its SCP code. `--learned-reference` also scores
a mapping learned from the gold codes themselves (logistic regression on the entities, the table's codes and the
language, cross-validated over the scored `strat_fold`s): what a mapping fitted to these annotators reaches on
reports it has not seen. `--errors FILE` writes one JSON line per scored record with a false positive or a false
negative (report, entities, gold and predicted codes), for auditing the lexicon on development folds.
"""

import argparse
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from modeling_supreme.data_sources import DataSourceError, ptbxl_report_folders
from modeling_supreme.entities import (
    Entity,
    Lexicon,
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
    unread_reason,
)
from modeling_supreme.entities.extraction_report import (
    format_agreement,
    format_codes_by_group,
    format_group_scores,
    format_scores,
    weak_codes,
)
from modeling_supreme.entities.extractor_arguments import add_extractor_arguments, extractor_from_args
from modeling_supreme.entities.gold_reports import GoldReports, parse_folds, read_ptbxl_reports
from modeling_supreme.entities.lexicon_entries import LANGUAGES
from modeling_supreme.entities.llm_mapping import EntityMapper

# The bar for a well-read code: no code with this many gold occurrences below this F1.
WEAK_SUPPORT, WEAK_F1 = 20, 0.40


def write_errors(
    path: Path,
    rows: GoldReports,
    entities: Sequence[Sequence[Entity]],
    predicted: Sequence[set[str]],
    languages: Sequence[str],
) -> int:
    """One JSON line per record whose predicted codes differ from the gold codes; returns the number written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", encoding="utf-8") as handle:
        for index, (found, predicted_codes, gold_codes) in enumerate(zip(entities, predicted, rows.gold)):
            if predicted_codes == gold_codes:
                continue
            record = {
                "ecg_id": rows.ecg_ids[index],
                "strat_fold": rows.folds[index],
                "language": languages[index],
                "report": rows.reports[index],
                "entities": entities_to_dicts(found),
                "gold": sorted(gold_codes),
                "predicted": sorted(predicted_codes),
                "false_positives": sorted(predicted_codes - gold_codes),
                "false_negatives": sorted(gold_codes - predicted_codes),
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    return written


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ptbxl", nargs="+", action="extend",
                        help="one or more folders with ptbxl_database.csv (and scp_statements.csv); default: the "
                        "sample's and the extra reports' (see docs/data.md)")
    parser.add_argument("--folds", type=parse_folds, default=None, help="score only these strat_folds: 8,9,10 or 1-7")
    parser.add_argument("--lexicon", default=None, help="score this lexicon YAML file instead of the packaged one")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--agreement", type=int, default=0, metavar="N",
                        help="print the N stated entities most often left uncoded by the cardiologists")
    parser.add_argument("--errors", help="write the records with false positives or negatives to this JSON-lines file")
    parser.add_argument("--learned-reference", action="store_true",
                        help="also score a mapping learned from the gold codes, cross-validated over strat_fold")
    add_extractor_arguments(parser)
    return parser.parse_args()


def language_extractors(lexicon_file: Optional[str]) -> dict[str, LexiconExtractor]:
    """One single-language extractor per lexicon language (of `lexicon_file`, else the packaged lexicon)."""
    if lexicon_file is None:
        return {language: LexiconExtractor(languages=(language,)) for language in LANGUAGES}
    return {language: LexiconExtractor(Lexicon.load(lexicon_file, languages=(language,))) for language in LANGUAGES}


def print_input_counts(rows: GoldReports, reasons: Sequence[Optional[str]]) -> dict[str, int]:
    """Rejected rows (id and reason) and the reports without any entity, by reason; returns the counts."""
    for rejected in rows.rejected:
        print(f"rejected row: {rejected.source} ecg_id {rejected.ecg_id}: {rejected.reason}")
    unread = Counter(reason for reason in reasons if reason is not None)
    print(f"rows rejected: {len(rows.rejected)}; reports without any entity: {sum(unread.values())}"
          + "".join(f"; {reason}: {count}" for reason, count in sorted(unread.items())))
    return dict(unread)


def learned_reference(
    args: argparse.Namespace,
    rows: GoldReports,
    entities: Sequence[Sequence[Entity]],
    predicted: Sequence[set[str]],
    languages: Sequence[str],
    extractor: "LexiconExtractor",
    lexicon: Lexicon,
    by_language: dict[str, LexiconExtractor],
) -> tuple[list[set[str]], str]:
    """Codes of the scored rows from a mapping fitted to the gold codes, and how it was fitted.

    Without --folds every fold is predicted by a model of the others. With --folds one model is fitted on the
    rows of the other folds of the same databases (the development folds) and predicts the scored rows.
    """
    if args.folds is None:
        learned = learned_mapping_predictions(entities, rows.gold, rows.folds, table_codes=predicted, groups=languages)
        return learned, f"{len(set(rows.folds))}-fold cross-validated"
    everything = read_ptbxl_reports(args.ptbxl)
    train = [index for index, fold in enumerate(everything.folds) if fold not in args.folds]
    if not train:
        raise SystemExit("--learned-reference with --folds needs rows outside those folds to fit the mapping on")
    train_reports = [everything.reports[index] for index in train]
    train_entities = extractor.extract_batch(train_reports)
    train_languages = [report_language(report, by_language) for report in train_reports]
    train_codes = [entities_to_scp_codes(found, lexicon, language=language)
                   for found, language in zip(train_entities, train_languages)]
    learned = learned_mapping_predictions(
        [*train_entities, *entities],
        [*(everything.gold[index] for index in train), *rows.gold],
        [0] * len(train) + [1] * len(rows.gold),
        table_codes=[*train_codes, *predicted],
        groups=[*train_languages, *languages],
        predicted_folds={1},
    )
    folds = sorted({everything.folds[index] for index in train})
    return learned[len(train):], f"fitted on the {len(train)} rows of folds {','.join(map(str, folds))}"


def main() -> None:
    args = parse_arguments()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.ptbxl:
        try:
            args.ptbxl = [str(folder) for folder in ptbxl_report_folders()]
        except DataSourceError as error:
            raise SystemExit(f"error: {error}") from None
    rows = read_ptbxl_reports(args.ptbxl, args.folds)
    if not rows.reports:
        raise SystemExit(f"No scorable rows in {args.ptbxl} for folds {args.folds}")
    if args.lexicon and args.extractor == "lexicon":
        extractor = LexiconExtractor(Lexicon.load(args.lexicon, languages=tuple(args.languages)))
    else:
        extractor = extractor_from_args(args, cache=Path("outputs") / "llm_cache.sqlite")
    lexicon = extractor.lexicon if isinstance(extractor, LexiconExtractor) else Lexicon.load(args.lexicon)
    entities = extractor.extract_batch(rows.reports)
    # The table is keyed by the lexicon's canonical names: the LLM's own names are mapped onto them first.
    mapper = EntityMapper(lexicon) if args.extractor == "llm" and not args.raw_llm_names else None
    if mapper is not None:
        entities = mapper.map_batch(entities)
    by_language = language_extractors(args.lexicon)
    languages = [report_language(report, by_language) for report in rows.reports]
    # The table may code a statement differently for the reports of one language (see the `scp` entries).
    predicted = [
        entities_to_scp_codes(found, lexicon, language=language) for found, language in zip(entities, languages)
    ]
    gold = rows.gold
    scores = score_extraction(predicted, gold)
    language_scores = scores_by_group(predicted, gold, languages)
    reasons = [unread_reason(report, found, lexicon) for report, found in zip(rows.reports, entities)]

    descriptions = {}
    statements = Path(args.ptbxl[0]) / "scp_statements.csv"
    if statements.exists():
        descriptions = pd.read_csv(statements, index_col=0)["description"].to_dict()
    folds = "all folds" if args.folds is None else "folds " + ",".join(map(str, sorted(args.folds)))
    title = (f"Extraction vs cardiologists' scp_codes: {args.extractor} extractor on {len(rows.reports)} reports "
             f"({folds}) of {', '.join(args.ptbxl)}")
    unread = print_input_counts(rows, reasons)
    print(format_scores(scores, title, descriptions))
    print("\nBy report language:\n" + format_group_scores(language_scores))
    print(f"\nF1 per code and report language (codes with >= {WEAK_SUPPORT} gold occurrences):")
    print(format_codes_by_group(scores, language_scores, min_support=WEAK_SUPPORT))
    weak = weak_codes(scores, WEAK_SUPPORT, WEAK_F1)
    print(f"\nCodes with >= {WEAK_SUPPORT} gold occurrences below F1 {WEAK_F1:.2f}: "
          + (", ".join(f"{code} ({scores.per_code[code].f1:.3f})" for code in weak) or "none"))
    if args.agreement:
        agreement = statement_agreement(entities, gold, lexicon, languages)
        print(f"\nStated entities the cardiologists coded least (top {args.agreement} by uncoded reports):")
        print(format_agreement(agreement, limit=args.agreement))
    reference = None
    if args.learned_reference:
        learned, how = learned_reference(args, rows, entities, predicted, languages, extractor, lexicon, by_language)
        reference = score_extraction(learned, gold)
        print(
            f"\nReference, a mapping learned from the gold codes ({how}): "
            f"micro precision {reference.micro_precision:.4f}  micro recall {reference.micro_recall:.4f}  "
            f"micro F1 {reference.micro_f1:.4f}  (the lexicon's table: {scores.micro_f1:.4f})"
        )
    if not isinstance(extractor, LexiconExtractor):
        print(f"LLM run: {json.dumps(extractor.last_stats.summary())}")
    if mapper is not None:
        mapping = mapper.counts.as_dict(limit=20)
        print(f"LLM names onto the lexicon's: {mapping['mentions']} mentions, {mapping['exact']} exact, "
              f"{mapping['read_by_lexicon']} read by the lexicon, {mapping['unmapped_mentions']} unmapped; "
              f"most frequent unmapped: {mapping['unmapped']}")
    if args.errors:
        written = write_errors(Path(args.errors), rows, entities, predicted, languages)
        print(f"\n{written} records with a false positive or negative written to {args.errors}")
    if args.json:
        values = {
            "extractor": args.extractor,
            "ptbxl": list(args.ptbxl),
            "folds": None if args.folds is None else sorted(args.folds),
            "lexicon": lexicon.source,
            **scores.as_dict(),
            "by_language": {language: group.as_dict() for language, group in language_scores.items()},
            "weak_codes": weak,
            "rejected": [{"source": row.source, "ecg_id": row.ecg_id, "reason": row.reason} for row in rows.rejected],
            "reports_without_entities": unread,
        }
        if not isinstance(extractor, LexiconExtractor):
            values["llm_stats"] = extractor.last_stats.summary()
        if mapper is not None:
            values["llm_entity_mapping"] = mapper.counts.as_dict()
        if reference is not None:
            values["learned_reference"] = {
                key: value for key, value in reference.as_dict().items() if key != "per_code"
            }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
