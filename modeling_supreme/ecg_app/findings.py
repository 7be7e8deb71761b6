"""The findings box of the page: one finding a line, each optionally with several descriptions (a prompt ensemble).

    atrial fibrillation
    NORM: normal ECG | unremarkable ECG

The first line asks "atrial fibrillation" as it is; the second asks the label NORM by the mean of its two
descriptions' logits (`candidate_labels` of the `ecg-zero-shot` pipeline).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NAME_SEPARATOR = ":"
DESCRIPTION_SEPARATOR = "|"
# More findings than this make the page slow to read and to draw; the pipeline itself takes any number.
MAX_FINDINGS = 100
DEFAULT_FINDINGS = 10


def parse_findings(text: str, limit: int = MAX_FINDINGS) -> dict[str, list[str]]:
    """Findings text -> {label: [description, ...]} in the order written (blank lines skipped).

    A line `NAME: text | text` names the label NAME with its descriptions; a line without a colon is a label asked by
    its own text (`a | b` without a name: the label is `a`, asked by `a` and `b`).

    Raises:
        ValueError: no finding, more than `limit`, an empty name or description, or a label given twice; the message
            names the line.
    """
    findings: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, separator, rest = line.partition(NAME_SEPARATOR)
        descriptions = [part.strip() for part in (rest if separator else line).split(DESCRIPTION_SEPARATOR)]
        name = name.strip() if separator else descriptions[0]
        if not name:
            raise ValueError(f"Findings line {number} ({line.strip()!r}): the name before ':' is empty.")
        if not all(descriptions):
            raise ValueError(f"Findings line {number} ({line.strip()!r}): a description is empty (write 'NAME: text' "
                             "or 'NAME: text | other text').")
        if name in findings:
            raise ValueError(f"Findings line {number}: {name!r} is given twice.")
        findings[name] = descriptions
    if not findings:
        raise ValueError("No findings to score: write at least one, one per line (e.g. 'atrial fibrillation').")
    if len(findings) > limit:
        raise ValueError(f"{len(findings)} findings: this page scores at most {limit} at once.")
    return findings


def format_findings(findings: Mapping[str, Any]) -> str:
    """{label: description or [descriptions]} -> the findings text `parse_findings` reads back."""
    lines = []
    for name, descriptions in findings.items():
        texts = [descriptions] if isinstance(descriptions, str) else list(descriptions)
        lines.append(name if texts == [name] else f"{name}{NAME_SEPARATOR} {f' {DESCRIPTION_SEPARATOR} '.join(texts)}")
    return "\n".join(lines)


def default_findings(config: Any, count: int = DEFAULT_FINDINGS) -> str:
    """The first `count` labels of a model's own vocabulary (most frequent first) with their descriptions, as
    findings text; empty when the model has no vocabulary."""
    labels = [name for _, name in sorted(config.id2label.items())][:count]
    if not getattr(config, "label_descriptions", None):
        return ""
    return format_findings({name: config.label_descriptions.get(name, name) for name in labels})


__all__ = ["default_findings", "format_findings", "parse_findings"]
