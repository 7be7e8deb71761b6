"""Label texts in training: which text the model encodes for each vocabulary label at each batch.

With `--label-text sample` (the default) every batch draws one surface form per label (name, description, the
lexicon's phrasings in every language, the extra forms of `entities/label_forms.yaml`): the fusion network then
learns a function of text rather than a fixed set of strings, so a label can later be asked in other words.
`name` and `description` encode one fixed text per label.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..entities import Vocabulary


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
        return cls(tuple(tuple(vocabulary.label_forms(label)) for label in vocabulary.labels), seed)

    @property
    def distinct_texts(self) -> list[str]:
        """Every text that can be drawn, each once: what a frozen text tower has to encode over the whole run."""
        return list(dict.fromkeys(text for texts in self.forms for text in texts))

    def draw(self, epoch: int, batch: int) -> list[str]:
        """The L label texts of batch `batch` of epoch `epoch`: one form per label, uniformly."""
        generator = np.random.default_rng([self.seed, epoch, batch])
        choices = generator.integers(0, [len(texts) for texts in self.forms])
        return [texts[int(choice)] for texts, choice in zip(self.forms, choices)]


def fixed_label_texts(vocabulary: Vocabulary, mode: str) -> Sequence[str]:
    """The one text per label of `--label-text name` or `description`."""
    if mode == "description":
        return [vocabulary.descriptions.get(label, label) for label in vocabulary.labels]
    return list(vocabulary.labels)


__all__ = ["LabelTextSampler", "fixed_label_texts"]
