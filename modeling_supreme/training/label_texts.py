"""Label texts in training: which text the model encodes for each vocabulary label at each batch.

With `--label-text sample` (the default) every batch draws one surface form per label (name, description, the
lexicon's phrasings in every language, the extra forms of `entities/label_forms.yaml`): the fusion network then
learns a function of text rather than a fixed set of strings, so a label can later be asked in other words.
`name` and `description` encode one fixed text per label.

`--label-templates` can also set each drawn form in a carrier phrase (CLIP's prompt templates; `CARRIER_TEMPLATES`
are generic ones of ECG reports and queries). It is off by default because it did not help: over three seeds of the
demo's 200 steps, the mean super-class AUROC over the wordings of the two paraphrase sets fell from 75.9 and 76.0
(bare forms) to 72.7 and 72.1, and the inverted wordings of the normal class stayed inverted
(`experiments/supreme_vs_clip.py`, variant `sample-templates`). Neither templates nor forms are wordings of the
query-robustness benchmarks (a test keeps them apart).

Negated forms with flipped targets (`--label-negation`, NegCLIP's idea) were deleted after they lowered the mean
AUROC over wordings at 276 ECGs and the fold-8 score at 3,361 (docs/experiments.md).

Taking the negation out of the text instead (`--query-negation lexicon`: "no X" scored as the complement of "X", in
training and in the queries) was deleted after it lost at 276 ECGs and at 3,361 (docs/experiments.md).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np

from ..entities import Vocabulary

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
    """

    forms: tuple[tuple[str, ...], ...]
    seed: int
    templates: tuple[str, ...] = DEFAULT_LABEL_TEMPLATES

    def __post_init__(self) -> None:
        empty = [index for index, texts in enumerate(self.forms) if not texts]
        if empty:
            raise ValueError(f"labels at positions {empty} have no surface forms to sample from")
        validate_label_templates(self.templates)

    @classmethod
    def from_vocabulary(
        cls, vocabulary: Vocabulary, seed: int, templates: Sequence[str] = DEFAULT_LABEL_TEMPLATES,
    ) -> "LabelTextSampler":
        """The sampler of `vocabulary`'s labels, each drawn among its surface forms."""
        forms = [vocabulary.label_forms(label) for label in vocabulary.labels]
        return cls(tuple(map(tuple, forms)), seed, tuple(templates))

    @property
    def distinct_texts(self) -> list[str]:
        """Every text that can be drawn, each once: what a frozen text tower has to encode over the whole run."""
        return list(dict.fromkeys(
            template.replace("{}", text) for texts in self.forms for text in texts for template in self.templates
        ))

    def draw(self, epoch: int, batch: int) -> list[str]:
        """The L label texts of batch `batch` of epoch `epoch`: per label one form and one template, uniformly."""
        generator = np.random.default_rng([self.seed, epoch, batch])
        choices = generator.integers(0, [len(texts) for texts in self.forms])
        templates = generator.integers(0, len(self.templates), size=len(self.forms))
        forms = [texts[int(choice)] for texts, choice in zip(self.forms, choices)]
        return [self.templates[int(template)].replace("{}", form) for form, template in zip(forms, templates)]


__all__ = [
    "CARRIER_TEMPLATES", "DEFAULT_LABEL_TEMPLATES", "LabelTextSampler", "validate_label_templates",
]
