"""Extraction quality against PTB-XL: entities mapped to SCP-ECG codes, scored against the cardiologists' codes.

Scoring choices (stated here once, printed by eval/extraction.py):
- Gold: every code in a record's `scp_codes`, whatever its likelihood (0 to 100).
- Prediction: the SCP codes (from the lexicon's `scp` table) of every entity whose status is present or
  uncertain; absent (negated) entities predict nothing. Entities without SCP codes are not scored.
- Codes that no report text can support (a "trace only requested" report, a code the cardiologist added
  from the signal) stay in the gold set: they count as misses. Nothing is excluded after the fact.
- Micro figures pool all (record, code) pairs; macro-F1 averages the per-code F1 over every code that
  occurs in the gold or the predicted sets.

The gold codes are read by `gold_reports`; the tables eval/extraction.py prints are in `extraction_report`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence

from .lexicon import Lexicon, LexiconExtractor
from .schema import Entity, as_entity

if TYPE_CHECKING:  # torch is imported where a model is fitted, not when the entities package is
    import torch

SCORED_STATUSES: tuple[str, ...] = ("present", "uncertain")


@dataclass(frozen=True)
class CodeScore:
    """Counts and figures of one SCP code."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def support(self) -> int:
        return self.true_positives + self.false_negatives

    @property
    def precision(self) -> float:
        return _ratio(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall(self) -> float:
        return _ratio(self.true_positives, self.support)

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)

    def as_dict(self) -> dict[str, float]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
        }


@dataclass
class ExtractionScores:
    """Micro and macro figures plus the per-code table."""

    micro_precision: float
    micro_recall: float
    micro_f1: float
    macro_f1: float
    per_code: dict[str, CodeScore] = field(default_factory=dict)
    records: int = 0
    records_without_prediction: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (keys `micro_precision`, `micro_recall`, `micro_f1`, `macro_f1`, `per_code`, ...)."""
        values = asdict(self)
        values["per_code"] = {code: score.as_dict() for code, score in sorted(self.per_code.items())}
        return values


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def entities_to_scp_codes(
    entities: Iterable["Entity | Mapping[str, Any]"],
    lexicon: Lexicon,
    statuses: Sequence[str] = SCORED_STATUSES,
    language: Optional[str] = None,
) -> set[str]:
    """SCP codes predicted by a report's entities (names not in the lexicon are first canonicalised).

    `language` (the report's, e.g. from `report_language`) selects that language's row of the `scp` table where
    an entity has one; without it every entity maps to its codes for all languages. An entity stated beside one
    of its `not_beside` entities maps to nothing. A report of a language named by the lexicon's `implied_normal`
    whose codes are all among that language's `when_only` codes also gets the implied code (NORM).
    """
    stated = [
        (name, entity.status)
        for entity in map(as_entity, entities)
        if (name := entity.name if entity.name in lexicon.specs else lexicon.lookup(entity.name)) is not None
    ]
    names = {name for name, status in stated if status in SCORED_STATUSES}
    codes: set[str] = set()
    for name, status in stated:
        if status in statuses and not set(lexicon.specs[name].not_beside) & names:
            codes.update(lexicon.scp_codes(name, language))
    implied, when_only = lexicon.implied_code
    if codes and language in when_only and codes <= when_only[language]:
        codes.add(implied)
    return codes


def score_extraction(predicted: Sequence[set[str]], gold: Sequence[set[str]]) -> ExtractionScores:
    """Precision / recall / F1 of predicted code sets against gold code sets (one set per record)."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold records.")
    codes = sorted(set().union(*predicted, *gold)) if gold else []
    counts = {code: [0, 0, 0] for code in codes}
    for predicted_codes, gold_codes in zip(predicted, gold):
        for code in predicted_codes & gold_codes:
            counts[code][0] += 1
        for code in predicted_codes - gold_codes:
            counts[code][1] += 1
        for code in gold_codes - predicted_codes:
            counts[code][2] += 1
    per_code = {code: CodeScore(*values) for code, values in counts.items()}
    total = CodeScore(*(sum(values[i] for values in counts.values()) for i in range(3)))
    macro = sum(score.f1 for score in per_code.values()) / len(per_code) if per_code else 0.0
    return ExtractionScores(
        micro_precision=total.precision,
        micro_recall=total.recall,
        micro_f1=total.f1,
        macro_f1=macro,
        per_code=per_code,
        records=len(gold),
        records_without_prediction=sum(1 for codes_ in predicted if not codes_),
    )


UNKNOWN_LANGUAGE = "unknown"


def report_language(report: str, extractors: Mapping[str, LexiconExtractor]) -> str:
    """The language whose phrasings cover most of a report: one `LexiconExtractor` per language code.

    A report that no language's lexicon reads (empty, measurements only, another language) is `UNKNOWN_LANGUAGE`;
    ties between languages go to the first language given.
    """
    covered = {language: len(extractor.extract(report)) for language, extractor in extractors.items()}
    best = max(covered, key=lambda language: covered[language])
    return best if covered[best] else UNKNOWN_LANGUAGE


# Why a report gave no entity (counted by eval/extraction.py; such a report is scored, not dropped).
UNREAD_REASONS: tuple[str, ...] = ("empty", "measurements only", "unknown language or phrasing")


def unread_reason(report: str, entities: Sequence["Entity | Mapping[str, Any]"], lexicon: Lexicon) -> Optional[str]:
    """None for a report with at least one entity; else which of `UNREAD_REASONS` explains that it has none."""
    if entities:
        return None
    if not report.strip():
        return UNREAD_REASONS[0]
    if lexicon.is_measurements_only(report):
        return UNREAD_REASONS[1]
    return UNREAD_REASONS[2]


def scores_by_group(
    predicted: Sequence[set[str]], gold: Sequence[set[str]], groups: Sequence[str]
) -> dict[str, ExtractionScores]:
    """`score_extraction` on each group of records (e.g. report languages), in order of first appearance."""
    if not len(predicted) == len(gold) == len(groups):
        raise ValueError(f"{len(predicted)} predictions, {len(gold)} gold records and {len(groups)} group names.")
    members: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    return {
        group: score_extraction([predicted[i] for i in indices], [gold[i] for i in indices])
        for group, indices in members.items()
    }


@dataclass(frozen=True)
class StatementAgreement:
    """How often the cardiologists coded what one stated entity maps to.

    Attributes:
        entity: canonical entity name; group: e.g. the report language.
        code: one SCP code of the entity; stated: reports (of the group) that state the entity (present or
            uncertain); coded: those of them whose gold codes include `code`.
    """

    entity: str
    group: str
    code: str
    stated: int
    coded: int

    @property
    def rate(self) -> float:
        return _ratio(self.coded, self.stated)


def statement_agreement(
    entities_per_record: Sequence[Sequence["Entity | Mapping[str, Any]"]],
    gold: Sequence[set[str]],
    lexicon: Lexicon,
    groups: Sequence[str],
) -> list[StatementAgreement]:
    """Per (entity, group, mapped code): how many reports state the entity and how many carry the code.

    A low rate for a statement that is read correctly means the annotators did not code it (a property of the
    gold labels); a low rate for one language only points at a phrasing or at that language's annotation.
    Rows are sorted by the number of uncoded statements, largest first.
    """
    counts: dict[tuple[str, str, str], list[int]] = {}
    for entities, gold_codes, group in zip(entities_per_record, gold, groups):
        stated = {entity.name for entity in map(as_entity, entities) if entity.status in SCORED_STATUSES}
        for name in stated:
            for code in lexicon.scp_codes(name):  # the all-language row: the evidence for a per-language one
                row = counts.setdefault((name, group, code), [0, 0])
                row[0] += 1
                row[1] += code in gold_codes
    rows = [
        StatementAgreement(name, group, code, stated, coded) for (name, group, code), (stated, coded) in counts.items()
    ]
    return sorted(rows, key=lambda row: (-(row.stated - row.coded), row.entity, row.group, row.code))


def learned_mapping_predictions(
    entities_per_record: Sequence[Sequence["Entity | Mapping[str, Any]"]],
    gold: Sequence[set[str]],
    folds: Sequence[int],
    table_codes: Optional[Sequence[set[str]]] = None,
    groups: Optional[Sequence[str]] = None,
    l2: float = 1e-4,
    steps: int = 300,
    predicted_folds: Optional[Iterable[int]] = None,
) -> list[set[str]]:
    """Codes predicted by a mapping *learned* from the gold codes, each fold predicted by a model of the others.

    A reference for the hand-written `scp` table, not a replacement for it: one multi-label logistic regression
    from the report's (entity, status) pairs, the codes the table predicts and the report's group (its language)
    to SCP codes, fit by full-batch L-BFGS on every fold but the one it predicts (threshold 0.5). It can learn
    every correction the annotators make consistently; if it does no better than the table on held-out folds,
    the remaining misses are not ones a mapping can fix.

    Args:
        entities_per_record: the extracted entities of each report.
        gold: each report's gold codes.
        folds: each report's fold (PTB-XL `strat_fold`); every fold is predicted once.
        predicted_folds: predict only these folds (each by a model of all the other folds); the records of the
            other folds get empty sets. With {1} and folds 0/1, one model of the 0 records predicts the 1 records.
        table_codes: each report's codes from the `scp` table (`entities_to_scp_codes`), as extra features.
        groups: each report's group (e.g. `report_language`), as an extra feature.
        l2: weight of the L2 penalty (per code, on the mean loss over reports).
        steps: L-BFGS iterations per fold.
    """
    import torch

    if not len(entities_per_record) == len(gold) == len(folds):
        raise ValueError(f"{len(entities_per_record)} entity lists, {len(gold)} gold records and {len(folds)} folds.")
    pairs = [{(entity.name, entity.status) for entity in map(as_entity, entities)} for entities in entities_per_record]
    if table_codes is not None:
        pairs = [
            record_pairs | {(code, "table code") for code in codes_} for record_pairs, codes_ in zip(pairs, table_codes)
        ]
    if groups is not None:
        pairs = [record_pairs | {(group, "group")} for record_pairs, group in zip(pairs, groups)]
    features = _indicator_features(pairs)
    codes = sorted(set().union(*gold))
    targets = torch.tensor([[code in codes_ for code in codes] for codes_ in gold], dtype=torch.float32)
    fold_of = torch.tensor(list(folds))
    predicted: list[set[str]] = [set() for _ in gold]
    for fold in sorted(set(folds) if predicted_folds is None else set(predicted_folds) & set(folds)):
        train, test = fold_of != fold, fold_of == fold
        weights = _fit_logistic_regression(features[train], targets[train], l2, steps)
        with torch.no_grad():
            positive = (features[test] @ weights) > 0
        for row, flags in zip(test.nonzero().flatten().tolist(), positive.tolist()):
            predicted[row] = {code for code, flag in zip(codes, flags) if flag}
    return predicted


def _indicator_features(pairs: Sequence[set[tuple[str, str]]]) -> "torch.Tensor":
    """(records, features + 1) 0/1 matrix of each record's pairs; the last column is a constant 1 (the bias)."""
    import torch

    index = {pair: i for i, pair in enumerate(sorted(set().union(*pairs)))}
    features = torch.zeros(len(pairs), len(index) + 1)
    features[:, -1] = 1.0
    for row, record_pairs in enumerate(pairs):
        features[row, [index[pair] for pair in record_pairs]] = 1.0
    return features


def _fit_logistic_regression(
    features: "torch.Tensor", targets: "torch.Tensor", l2: float, steps: int
) -> "torch.Tensor":
    """(features, codes) weights of independent per-code logistic regressions; the bias row is not penalised."""
    import torch

    weights = torch.zeros(features.shape[1], targets.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=steps, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        data = (
            torch.nn.functional.binary_cross_entropy_with_logits(features @ weights, targets, reduction="none")
            .sum(1)
            .mean()
        )
        value = data + l2 * weights[:-1].pow(2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return weights.detach()


__all__ = [
    "CodeScore",
    "ExtractionScores",
    "SCORED_STATUSES",
    "StatementAgreement",
    "UNKNOWN_LANGUAGE",
    "UNREAD_REASONS",
    "entities_to_scp_codes",
    "learned_mapping_predictions",
    "report_language",
    "score_extraction",
    "scores_by_group",
    "statement_agreement",
    "unread_reason",
]
