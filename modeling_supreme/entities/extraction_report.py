"""Plain-text tables of extraction scores (overall, per code, per group) and of statement agreement, as
eval/extraction.py prints them."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

from .evaluation import ExtractionScores, StatementAgreement


def format_scores(scores: ExtractionScores, title: str = "", descriptions: Optional[Mapping[str, str]] = None) -> str:
    """A plain-text table: the overall figures, then one row per code sorted by support."""
    lines = [title] if title else []
    lines.append(
        f"records {scores.records} (without any predicted code: {scores.records_without_prediction})\n"
        f"micro precision {scores.micro_precision:.4f}  micro recall {scores.micro_recall:.4f}  "
        f"micro F1 {scores.micro_f1:.4f}  macro F1 {scores.macro_f1:.4f}"
    )
    lines.append(
        f"{'code':<8} {'support':>7} {'tp':>5} {'fp':>5} {'fn':>5} "
        f"{'precision':>9} {'recall':>7} {'f1':>6}  description"
    )
    for code, score in sorted(scores.per_code.items(), key=lambda item: (-item[1].support, item[0])):
        description = (descriptions or {}).get(code, "")
        lines.append(
            f"{code:<8} {score.support:>7} {score.true_positives:>5} {score.false_positives:>5} "
            f"{score.false_negatives:>5} "
            f"{score.precision:>9.3f} {score.recall:>7.3f} {score.f1:>6.3f}  {description}"
        )
    return "\n".join(lines)


def format_group_scores(groups: Mapping[str, ExtractionScores]) -> str:
    """One line per group: records, micro precision / recall / F1 and macro F1."""
    lines = [f"{'group':<8} {'records':>7} {'precision':>9} {'recall':>7} {'micro F1':>8} {'macro F1':>8}"]
    for group, scores in groups.items():
        lines.append(
            f"{group:<8} {scores.records:>7} {scores.micro_precision:>9.3f} {scores.micro_recall:>7.3f} "
            f"{scores.micro_f1:>8.3f} {scores.macro_f1:>8.3f}"
        )
    return "\n".join(lines)


def format_codes_by_group(
    overall: ExtractionScores, groups: Mapping[str, ExtractionScores], min_support: int = 0
) -> str:
    """One line per code with at least `min_support` gold occurrences: its F1 overall and per group (support).

    A group in which the code never occurs (in gold or predictions) shows "-".
    """
    names = list(groups)
    lines = [f"{'code':<8} {'all':>13}" + "".join(f" {name:>13}" for name in names)]
    for code, score in sorted(overall.per_code.items(), key=lambda item: (-item[1].support, item[0])):
        if score.support < min_support:
            continue
        cells = [f"{score.f1:.3f} ({score.support:>4})"]
        for name in names:
            group = groups[name].per_code.get(code)
            cells.append("-" if group is None else f"{group.f1:.3f} ({group.support:>4})")
        lines.append(f"{code:<8}" + "".join(f" {cell:>13}" for cell in cells))
    return "\n".join(lines)


def weak_codes(scores: ExtractionScores, min_support: int, min_f1: float) -> list[str]:
    """Codes with at least `min_support` gold occurrences whose F1 is below `min_f1`, by support (largest first)."""
    weak = [
        (code, score) for code, score in scores.per_code.items() if score.support >= min_support and score.f1 < min_f1
    ]
    return [code for code, _ in sorted(weak, key=lambda item: (-item[1].support, item[0]))]


def format_agreement(rows: Sequence[StatementAgreement], limit: Optional[int] = None) -> str:
    """A table of `statement_agreement` rows: entity, group, code, stated, coded and the coding rate."""
    lines = [f"{'entity':<50} {'group':<5} {'code':<8} {'stated':>6} {'coded':>5} {'rate':>5}"]
    for row in rows[:limit]:
        lines.append(f"{row.entity:<50} {row.group:<5} {row.code:<8} {row.stated:>6} {row.coded:>5} {row.rate:>5.2f}")
    return "\n".join(lines)


__all__ = ["format_agreement", "format_codes_by_group", "format_group_scores", "format_scores", "weak_codes"]
