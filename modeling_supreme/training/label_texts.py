"""Label texts in training: which text the model encodes for each vocabulary label at each batch.

With `--label-text sample` (the default) every batch draws one surface form per label (name, description, the
lexicon's phrasings in every language, the extra forms of `entities/label_forms.yaml`): the fusion network then
learns a function of text rather than a fixed set of strings, so a label can later be asked in other words.
`name` and `description` encode one fixed text per label.

`--label-templates` can also set each drawn form in a carrier phrase (CLIP's prompt templates; `CARRIER_TEMPLATES`
are generic ones of ECG reports and queries). It is off by default because it did not help: over three seeds of the
demo's 200 steps, the mean super-class AUROC over the wordings of the two paraphrase sets fell from 75.9 and 76.0
(bare forms) to 72.7 and 72.1, and the inverted wordings of the normal class stayed inverted
(`bench/supreme_vs_clip.py`, variant `sample-templates`). Neither templates nor forms are wordings of the
query-robustness benchmarks (a test keeps them apart).

Negated forms with flipped targets (`--label-negation`, NegCLIP's idea) were deleted after they lowered the mean
AUROC over wordings at 276 ECGs and the fold-8 score at 3,361 (docs/experiments.md).

`--query-negation lexicon` takes the negation out of the text instead, in the queries and in the
drawn forms alike ("no abnormality detected" is drawn as "abnormality detected" with the targets flipped; a form of two
clauses is left out), and the query's logit is negated (`query_negation_supreme`). Also off by default; the figures
are in that module.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Optional

import numpy as np

from ..entities import Vocabulary
from ..query_negation_supreme import QueryNegation

logger = logging.getLogger(__name__)

# "{}": the bare form, no carrier phrase.
DEFAULT_LABEL_TEMPLATES = ("{}",)
# Generic carrier phrases of ECG reports and queries, fixed before any model was scored with them.
CARRIER_TEMPLATES = (
    "{}",
    "ecg showing {}",
    "{} on the ecg",
    "electrocardiogram: {}",
    "the tracing shows {}",
    "findings consistent with {}",
    "12-lead ecg with {}",
)


def validate_label_templates(templates: Sequence[str]) -> tuple[str, ...]:
    """`templates` as a tuple, each checked to hold exactly one `{}` (where the label's form goes)."""
    if not templates:
        raise ValueError("--label-templates needs at least one template ('{}' alone sets no carrier phrase)")
    for template in templates:
        if not isinstance(template, str) or template.count("{}") != 1 or template.replace("{}", "").count("{"):
            raise ValueError(f"--label-templates: {template!r} must contain exactly one '{{}}' and no other brace")
    return tuple(templates)


@dataclasses.dataclass(frozen=True)
class LabelTextSampler:
    """Draws one text per label for each training batch, reproducibly.

    The generator of a batch is seeded by (seed, epoch, batch index in the epoch) alone, so a resumed run, which
    restores those two counters, draws exactly the texts of an uninterrupted one, with no generator state to save.

    Attributes:
        forms: per label (in id order), its candidate texts.
        seed: the run's seed.
        templates: carrier phrases, each with one `{}` for the form; `("{}",)` draws bare forms.
        complemented: per label and form, whether the form asks for the label's complement (its targets flip when
            it is drawn); empty: none does. `from_vocabulary` sets it from the model's query negation.
    """

    forms: tuple[tuple[str, ...], ...]
    seed: int
    templates: tuple[str, ...] = DEFAULT_LABEL_TEMPLATES
    complemented: tuple[tuple[bool, ...], ...] = ()

    def __post_init__(self) -> None:
        empty = [index for index, texts in enumerate(self.forms) if not texts]
        if empty:
            raise ValueError(f"labels at positions {empty} have no surface forms to sample from")
        validate_label_templates(self.templates)
        if self.complemented and [len(flags) for flags in self.complemented] != [len(t) for t in self.forms]:
            raise ValueError("complemented must hold one flag per surface form of every label")

    @classmethod
    def from_vocabulary(
        cls, vocabulary: Vocabulary, seed: int, templates: Sequence[str] = DEFAULT_LABEL_TEMPLATES,
        query_negation: Optional[QueryNegation] = None,
    ) -> "LabelTextSampler":
        """With `query_negation` (the model's own), every form is read as its queries will be: a negated form ("no
        abnormality detected") becomes what it negates with the label's targets flipped, and a form of two clauses
        ("ecg without pathological findings") is left out, since one label text cannot carry a conjunction."""
        forms = [vocabulary.label_forms(label) for label in vocabulary.labels]
        if query_negation is None:
            return cls(tuple(map(tuple, forms)), seed, tuple(templates))
        read = [[clauses[0] for clauses in map(query_negation.split, texts) if len(clauses) == 1] for texts in forms]
        dropped = sum(map(len, forms)) - sum(map(len, read))
        logger.info("Query negation: %d negated label forms read as complements, %d forms of two clauses left out",
                    sum(flag for texts in read for _, flag in texts), dropped)
        return cls(tuple(tuple(text for text, _ in texts) for texts in read), seed, tuple(templates),
                   tuple(tuple(flag for _, flag in texts) for texts in read))

    @property
    def distinct_texts(self) -> list[str]:
        """Every text that can be drawn, each once: what a frozen text tower has to encode over the whole run."""
        return list(dict.fromkeys(
            template.replace("{}", text) for texts in self.forms for text in texts for template in self.templates
        ))

    def draw(self, epoch: int, batch: int) -> list[str]:
        """The L label texts of batch `batch` of epoch `epoch` (see `draw_with_negation`)."""
        return self.draw_with_negation(epoch, batch)[0]

    def draw_with_negation(self, epoch: int, batch: int) -> tuple[list[str], np.ndarray]:
        """The L label texts of batch `batch` of epoch `epoch` (per label one form and one template, uniformly) and
        which of them ask for their label's complement (`complemented`), shape (L,) bool."""
        generator = np.random.default_rng([self.seed, epoch, batch])
        choices = generator.integers(0, [len(texts) for texts in self.forms])
        templates = generator.integers(0, len(self.templates), size=len(self.forms))
        forms = [texts[int(choice)] for texts, choice in zip(self.forms, choices)]
        negated = np.zeros(len(self.forms), dtype=bool)
        if self.complemented:
            negated[:] = [flags[int(choice)] for flags, choice in zip(self.complemented, choices)]
        texts = [self.templates[int(template)].replace("{}", form) for form, template in zip(forms, templates)]
        return texts, negated


__all__ = [
    "CARRIER_TEMPLATES", "DEFAULT_LABEL_TEMPLATES", "LabelTextSampler", "validate_label_templates",
]
