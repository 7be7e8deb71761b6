"""Negated label queries: "no X" is scored as the complement of "X" instead of being read as "X".

A SuPreME model scores every label by its own sigmoid, so the probability of "no atrial fibrillation" is one minus that
of "atrial fibrillation": the logit of a negated query is minus the logit of what it negates. A text tower cannot be
relied on for this (the default MiniLM embeds "no X" at cosine 0.91 to "X", and a model trained on its embeddings
reads "no abnormality" as an abnormality). So the negation is taken out of the text before the text tower sees it:

- "no X", "without X", "absence of X" (a cue before): the complement of X;
- "X ruled out", "X not seen" (a cue after, at the end): the complement of X;
- "A without B", "A, no B" (a cue before, with words ahead of it): A and not B, i.e. P(A) * (1 - P(B)), each label
  still scored on its own;
- a pseudo-cue ("no significant change", "no longer") is not a negation, and a text without a cue is asked as it is.

The cue phrases are the model's `config.query_negation` ({"before", "after", "pseudo"} -> phrases), which training
with `--query-negation lexicon` fills from the lexicon's negation cues (the ones that give report entities the status
"absent"), so the model is trained on the same reading of its label texts as its queries get. `None` (the default)
asks every text literally.

It is off by default because it did not help the demo's model: over three seeds of its 200 steps, the mean
super-class AUROC over all wordings of the four blind paraphrase sets was 72.0 with it and 73.1 without
(`experiments/supreme_vs_clip.py`, variant `sample-query-negation`). Negated queries are read right, but such a small
model places many unnegated wordings far from its training texts on the wrong side of normal / abnormal, and the
negated normal-class forms it no longer learns literally ("no abnormality detected") were what carried the negated
wordings that no cue catches. The complement is still exact for a label a model knows: with the cues set,
"no atrial fibrillation" scores 1 - P(atrial fibrillation).

Shapes: B = ECGs, C = clauses (texts the text tower encodes), Q = queries.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F

CUE_KINDS = ("before", "after", "pseudo")
# What may separate a clause from its cue: spaces and punctuation ("A, no B", "no: X").
_EDGE = " \t\n,;:.-"
# A conjunction between a clause and its negation ("sinus rhythm and no ST changes"), in the languages of the lexicon.
_JOINING_WORDS = ("and", "but", "with", "und", "aber", "mit", "och", "men", "med")


@dataclass(frozen=True)
class QueryClauses:
    """The clauses the text tower encodes for Q queries, and how their logits make each query's logit.

    Attributes:
        texts: (C,) the clause texts, in query order.
        query_index: (C,) the query each clause belongs to.
        negated: (C,) whether the query asks for the clause's complement.
        num_queries: Q.
    """

    texts: tuple[str, ...]
    query_index: tuple[int, ...]
    negated: tuple[bool, ...]
    num_queries: int

    @classmethod
    def literal(cls, texts: Sequence[str]) -> "QueryClauses":
        """Every query asked as it is: one clause each, none negated."""
        return cls(tuple(texts), tuple(range(len(texts))), (False,) * len(texts), len(texts))

    @property
    def is_literal(self) -> bool:
        return not any(self.negated) and len(self.texts) == self.num_queries

    def combine(self, logits: torch.Tensor) -> torch.Tensor:
        """Clause logits (B, C) -> query logits (B, Q).

        A one-clause query keeps its clause's logit, negated or not (exactly: -l is the logit of 1 - sigmoid(l)).
        A query of several clauses is their conjunction, log P = sum of the clauses' log-sigmoids, returned as a logit.
        """
        if self.is_literal:
            return logits
        signs = torch.tensor([-1.0 if flag else 1.0 for flag in self.negated], device=logits.device)
        signed = logits * signs.to(logits.dtype)
        if len(self.texts) == self.num_queries:  # one clause per query, in query order
            return signed
        index = torch.tensor(self.query_index, device=logits.device)
        log_probability = torch.zeros(logits.shape[0], self.num_queries, device=logits.device, dtype=torch.float32)
        log_probability = log_probability.index_add_(1, index, F.logsigmoid(signed.float()))
        # logit = log p - log(1 - p); p stays below 1 so that the second term is finite.
        log_probability = log_probability.clamp(max=-1e-7)
        query_logits = (log_probability - torch.log(-torch.expm1(log_probability))).to(logits.dtype)
        alone = torch.bincount(index, minlength=self.num_queries)[index] == 1  # (C,): its query's only clause
        query_logits[:, index[alone]] = signed[:, alone]
        return query_logits


@dataclass(frozen=True)
class QueryNegation:
    """Splits label queries at their negation cues (see the module docstring). Build it with `from_cues` or
    `from_config`; `clauses(texts)` gives what to encode and how to combine it."""

    before: Optional[re.Pattern[str]]
    after: Optional[re.Pattern[str]]
    pseudo: Optional[re.Pattern[str]]

    @classmethod
    def from_cues(cls, cues: Mapping[str, Sequence[str]]) -> "QueryNegation":
        """`cues`: {"before": [...], "after": [...], "pseudo": [...]} phrases (a trailing "*" matches any word end).

        Raises:
            ValueError: `cues` is not such a mapping (an unknown kind, a phrase that is not a non-empty string).
        """
        if not isinstance(cues, Mapping) or set(cues) - set(CUE_KINDS):
            raise ValueError(f"query_negation must map some of {CUE_KINDS} to lists of phrases; got {cues!r}.")
        for kind, phrases in cues.items():
            if isinstance(phrases, str) or not all(isinstance(p, str) and p.strip() for p in phrases):
                raise ValueError(f"query_negation[{kind!r}] must be a list of non-empty phrases; got {phrases!r}.")
        return cls(*(_phrase_pattern(tuple(sorted(set(cues.get(kind) or ())))) for kind in CUE_KINDS))

    @classmethod
    def from_config(cls, config: Any) -> Optional["QueryNegation"]:
        """The model's reading of negated queries, or None when its config has no `query_negation` (literal)."""
        cues = getattr(config, "query_negation", None)
        return cls.from_cues(cues) if cues else None

    def split(self, text: str) -> list[tuple[str, bool]]:
        """One query -> its clauses as (text, negated): [(text, False)] when it holds no negation cue."""
        hidden = [match.span() for match in self.pseudo.finditer(text)] if self.pseudo else []

        def free(match: re.Match[str]) -> bool:
            return not any(start < match.end() and match.start() < end for start, end in hidden)

        for match in (found for found in (self.before.finditer(text) if self.before else ()) if free(found)):
            head = _strip_joining(text[: match.start()].strip(_EDGE))
            tail = text[match.end():].strip(_EDGE)
            if not tail:
                break  # a cue at the end ("pericarditis absent") acts on what comes before it
            return [(tail, True)] if not head else [(head, False), (tail, True)]
        for match in (found for found in (self.after.finditer(text) if self.after else ()) if free(found)):
            head = text[: match.start()].strip(_EDGE)
            if head and not text[match.end():].strip(_EDGE):
                return [(head, True)]
        return [(text, False)]

    def clauses(self, texts: Sequence[str]) -> QueryClauses:
        """Queries (Q,) -> the clauses to encode and how they combine (`QueryClauses`)."""
        clause_texts, query_index, negated = [], [], []
        for index, text in enumerate(texts):
            for clause, flag in self.split(text):
                clause_texts.append(clause)
                query_index.append(index)
                negated.append(flag)
        return QueryClauses(tuple(clause_texts), tuple(query_index), tuple(negated), len(texts))


def query_clauses(config: Any, texts: Sequence[str]) -> QueryClauses:
    """The clauses of `texts` as the model with `config` reads them (literal when it has no `query_negation`)."""
    negation = QueryNegation.from_config(config)
    return negation.clauses(texts) if negation is not None else QueryClauses.literal(texts)


# Cached: the pipeline reads the model's cues for every ECG it preprocesses.
@functools.lru_cache(maxsize=64)
def _phrase_pattern(phrases: tuple[str, ...]) -> Optional[re.Pattern[str]]:
    """Any of `phrases` as whole words, any case and spacing; the longest first, so that "no evidence of" wins over
    "no"."""
    if not phrases:
        return None
    bodies = []
    for phrase in sorted(phrases, key=len, reverse=True):
        words = phrase.split()
        body = r"\s+".join(re.escape(word.rstrip("*")) + (r"\w*" if word.endswith("*") else "") for word in words)
        bodies.append(body)
    return re.compile(rf"(?<!\w)(?:{'|'.join(bodies)})(?!\w)", re.IGNORECASE)


def _strip_joining(head: str) -> str:
    """"sinus rhythm and" -> "sinus rhythm": the conjunction before a negation cue is not part of the clause."""
    words = head.split()
    while words and words[-1].lower() in _JOINING_WORDS:
        words.pop()
    return " ".join(words).strip(_EDGE)


__all__ = ["CUE_KINDS", "QueryClauses", "QueryNegation", "query_clauses"]
