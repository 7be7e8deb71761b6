"""Label texts in training: which text the model encodes for each vocabulary label at each batch.

With `--label-text sample` (the default) every batch draws one surface form per label (name, description, the
lexicon's phrasings in every language, the extra forms of `entities/label_forms.yaml`): the fusion network then
learns a function of text rather than a fixed set of strings, so a label can later be asked in other words.
`--label-text description` encodes one fixed text per label. No form is a wording of the query-robustness benchmarks
(a test keeps them apart).

Carrier phrases around each drawn form (`--label-templates`, CLIP's prompt templates) were deleted because they
never won: at 276 ECGs they lowered the mean AUROC over wordings (75.9 to 72.7, 76.0 to 72.1 on the blind set), and
at 3,361 ECGs the fold-8 score rose 0.3 points, inside the rule's inconclusive band (docs/experiments.md).

Negated forms with flipped targets (`--label-negation`, NegCLIP's idea) were deleted after they lowered the mean
AUROC over wordings at 276 ECGs and the fold-8 score at 3,361 (docs/experiments.md).

Taking the negation out of the text instead (`--query-negation lexicon`: "no X" scored as the complement of "X", in
training and in the queries) was deleted after it lost at 276 ECGs and at 3,361 (docs/experiments.md).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ..entities import Vocabulary

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LabelTextSampler:
    """Draws one text per label for each training batch, reproducibly.

    The generator of a batch is seeded by (seed, epoch, batch index in the epoch) alone, so a resumed run, which
    restores those two counters, draws exactly the texts of an uninterrupted one, with no generator state to save.

    Attributes:
        forms: per label (in id order), its candidate texts.
        seed: the run's seed.
    """

    forms: tuple[tuple[str, ...], ...]
    seed: int

    def __post_init__(self) -> None:
        empty = [index for index, texts in enumerate(self.forms) if not texts]
        if empty:
            raise ValueError(f"labels at positions {empty} have no surface forms to sample from")

    @classmethod
    def from_vocabulary(cls, vocabulary: Vocabulary, seed: int) -> "LabelTextSampler":
        """The sampler of `vocabulary`'s labels, each drawn among its surface forms."""
        forms = [vocabulary.label_forms(label) for label in vocabulary.labels]
        return cls(tuple(map(tuple, forms)), seed)

    @property
    def distinct_texts(self) -> list[str]:
        """Every text that can be drawn, each once: what a frozen text tower has to encode over the whole run."""
        return list(dict.fromkeys(text for texts in self.forms for text in texts))

    def draw(self, epoch: int, batch: int) -> list[str]:
        """The L label texts of batch `batch` of epoch `epoch`: per label one form, uniformly."""
        generator = np.random.default_rng([self.seed, epoch, batch])
        choices = generator.integers(0, [len(texts) for texts in self.forms])
        return [texts[int(choice)] for texts, choice in zip(self.forms, choices)]


__all__ = ["LabelTextSampler"]
