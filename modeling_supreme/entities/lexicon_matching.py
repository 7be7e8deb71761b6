"""Where the entity mentions and status cues of a normalised report lie, and which status each mention gets
(NegEx-style, scoped to the nearest entity; mentions joined into a list share their cues).

The patterns that find them are compiled by `lexicon.Lexicon`; this module holds what they find and the rules that
turn it into statuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

_SENTENCE_END = re.compile(r"(?:^| )[.;!?](?= |$)")
# Assertion strength, used when one entity is mentioned more than once.
_STATUS_RANK = {"absent": 0, "uncertain": 1, "present": 2}


@dataclass(frozen=True)
class Mention:
    """One entity mention in a normalised report: its span, canonical name, the status its form fixes, and its gaps."""

    start: int
    end: int
    name: str
    status: Optional[str] = None  # a status fixed by the form itself
    gaps: tuple[tuple[int, int], ...] = ()  # spans of the form's "..." words, where cues still count

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Cue:
    """One status cue (negation, uncertainty, or a pseudo-cue that hides them) in a normalised report."""

    start: int
    end: int
    kind: str  # "negation", "uncertainty" or "pseudo"
    direction: str  # "before" (acts on the next entity), "after" (on the previous one) or "none"


def hides(mention: Mention, start: int, end: int) -> bool:
    """True when a cue at start:end lies in the mention's words (not in one of its "..." gaps)."""
    if end <= mention.start or mention.end <= start:
        return False
    return not any(gap_start <= start and end <= gap_end for gap_start, gap_end in mention.gaps)


def drop_contained(matches: list[Mention]) -> list[Mention]:
    """Drop every match lying strictly inside a longer one; equal spans of different entities all stay."""
    matches = sorted(set(matches), key=lambda m: (m.start, -m.length, m.name))
    kept = []
    for match in matches:
        inside = any(
            other.start <= match.start and match.end <= other.end and other.length > match.length for other in matches
        )
        if not inside:
            kept.append(match)
    return kept


def merge_statuses(mentions: Sequence[Mention], statuses: Sequence[str]) -> dict[str, str]:
    """Canonical name -> status over repeated mentions (the most assertive status wins), in order of first mention."""
    merged: dict[str, str] = {}
    for mention, status in zip(mentions, statuses):
        previous = merged.get(mention.name)
        if previous is None or _STATUS_RANK[status] > _STATUS_RANK[previous]:
            merged[mention.name] = status
    return merged


def mention_statuses(text: str, mentions: Sequence[Mention], cues: Sequence[Cue], lists: "ListWords") -> list[str]:
    """Status of each mention from the cues between it and its neighbours in the same sentence.

    Mentions joined only by list words ("A, B or C", "A oder B") share their cues: a "before" cue reaches the
    whole list, an "after" cue reaches back over it; a list with an alternative word ("or") is uncertain.
    """
    sentence_ends = [found.start() for found in _SENTENCE_END.finditer(text)]
    before: list[set[str]] = []
    after: list[set[str]] = []
    own: list[set[str]] = []
    for index, mention in enumerate(mentions):
        left = max(
            [0]
            + [end for end in sentence_ends if end < mention.start]
            + [m.end for m in mentions[:index] if m.end <= mention.start]
        )
        right = min(
            [len(text)]
            + [end for end in sentence_ends if end >= mention.end]
            + [m.start for m in mentions[index + 1 :] if m.start >= mention.end]
        )
        before.append(
            {cue.kind for cue in cues if cue.direction == "before" and left <= cue.start and cue.end <= mention.start}
        )
        after.append(
            {cue.kind for cue in cues if cue.direction == "after" and mention.end <= cue.start and cue.end <= right}
        )
        own.append(
            {cue.kind for cue in cues if any(start <= cue.start and cue.end <= end for start, end in mention.gaps)}
        )
    links = [lists.link(text[first.end : second.start]) for first, second in zip(mentions, mentions[1:])]
    for index, link in enumerate(links):
        if link:
            before[index + 1] |= before[index]
    for index in reversed(range(len(links))):
        if links[index]:
            after[index] |= after[index + 1]
    statuses = []
    for index, mention in enumerate(mentions):
        kinds = before[index] | after[index] | own[index]
        alternative = (index > 0 and links[index - 1] == "alternative") or (
            index < len(links) and links[index] == "alternative"
        )
        if "negation" in kinds:
            statuses.append("absent")
        elif "uncertainty" in kinds or alternative or mention.status == "uncertain":
            statuses.append("uncertain")
        else:
            statuses.append(mention.status or "present")
    return statuses


@dataclass(frozen=True)
class ListWords:
    """Words that join mentions into a list: conjunctions and articles (list) and "or" words (alternative)."""

    joining: frozenset[str]
    alternative: frozenset[str]

    def link(self, gap: str) -> Optional[str]:
        """"alternative", "list" or None for the words between two mentions; an empty gap joins nothing."""
        words = gap.split()
        if not words or not all(word in self.joining or word in self.alternative for word in words):
            return None
        return "alternative" if any(word in self.alternative for word in words) else "list"


__all__ = ["Cue", "ListWords", "Mention", "drop_contained", "hides", "merge_statuses", "mention_statuses"]
