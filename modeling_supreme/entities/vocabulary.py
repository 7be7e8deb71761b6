"""Label vocabulary from extracted entities: canonical names, synonyms merged, noise dropped, rare labels cut.

The result is what the model config (`config.set_labels(vocabulary.labels, vocabulary.descriptions)`) and the
training targets (`entities_to_multi_hot`) take.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import yaml

from .lexicon import Lexicon, LexiconExtractor
from .lexicon_entries import LANGUAGES
from .schema import Entity, as_entity

logger = logging.getLogger(__name__)

COUNTED_STATUSES: tuple[str, ...] = ("present", "uncertain")
DEFAULT_MIN_COUNT = 5
LABEL_FORMS_FILE = "label_forms.yaml"


@dataclass
class Vocabulary:
    """Labels of a SuPreME model, in id order.

    Attributes:
        labels: canonical entity names, most frequent first (ties by name).
        descriptions: label -> plain-English clinical description (the text the model encodes for the label).
        counts: label -> number of reports that state it (present or uncertain).
        categories: label -> entity category.
        synonyms: surface name -> label, for every surface name that was merged into a label.
        min_count: the frequency threshold used.
        forms: label -> its surface forms, the texts a label can be encoded by in training (`--label-text sample`):
            the name first, then the description, the lexicon's forms in every language and `label_forms.yaml`.
    """

    labels: list[str]
    descriptions: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)
    min_count: int = DEFAULT_MIN_COUNT
    forms: dict[str, list[str]] = field(default_factory=dict)

    def label_forms(self, label: str) -> list[str]:
        """The surface forms of `label`, name first; just the name for a label without recorded forms."""
        return list(self.forms.get(label) or [label])

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: index for index, label in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.labels)

    def multi_hot(self, entities: Iterable["Entity | Mapping[str, Any]"], uncertain_value: float = 1.0) -> np.ndarray:
        """Targets of one report, after mapping surface names through `synonyms`: shape (L,) float32."""
        return self.multi_hot_batch([entities], uncertain_value)[0]

    def multi_hot_batch(
        self, reports: Sequence[Optional[Iterable["Entity | Mapping[str, Any]"]]], uncertain_value: float = 1.0
    ) -> np.ndarray:
        """Targets of B reports' entities (None: no entity) as `entities_to_multi_hot` gives them, after mapping
        surface names through `synonyms`: shape (B, L) float32. One pass, each entity validated once (the training
        collator's path: per-report calls spent most of a batch's host time)."""
        label2id = self.label2id
        # A surface name counts as the label it is a synonym of (even when it is a label's name itself).
        index_of_name = {**label2id, **{surface: label2id.get(label) for surface, label in self.synonyms.items()}}
        if not reports:
            return np.zeros((0, len(label2id)), dtype=np.float32)
        return np.stack([entities_to_multi_hot(entities or (), index_of_name, uncertain_value, len(label2id))
                         for entities in reports])

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "id2label": {str(index): label for index, label in self.id2label.items()},
            "label2id": self.label2id,
            "descriptions": self.descriptions,
            "counts": self.counts,
            "categories": self.categories,
            "synonyms": self.synonyms,
            "min_count": self.min_count,
            "forms": self.forms,
        }

    def save(self, path: "str | Path") -> Path:
        """Write the vocabulary as JSON (labels, id2label, label2id, descriptions, counts, synonyms, forms)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: "str | Path") -> "Vocabulary":
        """Read a vocabulary written by `save`; a missing file or field raises `ValueError` naming the file."""
        path = Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                labels=list(values["labels"]),
                descriptions=dict(values.get("descriptions", {})),
                counts={label: int(count) for label, count in values.get("counts", {}).items()},
                categories=dict(values.get("categories", {})),
                synonyms=dict(values.get("synonyms", {})),
                min_count=int(values.get("min_count", DEFAULT_MIN_COUNT)),
                forms=_checked_forms(values.get("forms") or {}, str(path)),
            )
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a vocabulary file ({error!r})") from error


def _checked_forms(forms: Any, source: str) -> dict[str, list[str]]:
    """label -> non-empty list of non-empty texts; ValueError naming the source and the label otherwise."""
    if not isinstance(forms, Mapping):
        raise ValueError(f"{source}: 'forms' must map labels to lists of texts")
    for label, texts in forms.items():
        if (
            not isinstance(texts, list)
            or not texts
            or not all(isinstance(text, str) and text.strip() for text in texts)
        ):
            raise ValueError(f"{source}: the forms of label {label!r} must be a non-empty list of non-empty texts")
    return {str(label): list(texts) for label, texts in forms.items()}


@lru_cache(maxsize=1)
def extra_label_forms() -> dict[str, tuple[str, ...]]:
    """The packaged `label_forms.yaml`: label -> phrasings used only as label texts (all languages, en first)."""
    text = resources.files(__package__).joinpath(LABEL_FORMS_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    return {
        str(label): tuple(form for language in LANGUAGES for form in (by_language or {}).get(language, []))
        for label, by_language in (data.get("forms") or {}).items()
    }


def label_surface_forms(label: str, description: str, lexicon: Lexicon) -> list[str]:
    """Every text `label` can be encoded by: the name, the description, the lexicon's surface forms and the extra
    phrasings of `label_forms.yaml`, each once (compared after the lexicon's normalisation), in that order."""
    seen: set[str] = set()
    forms: list[str] = []
    for text in (label, description, *lexicon.surface_forms(label), *extra_label_forms().get(label, ())):
        key = lexicon.normalise(text)
        if key and key not in seen:
            seen.add(key)
            forms.append(text)
    return forms


class Canonicalizer:
    """Maps surface entity names (an LLM's "AFib", "inferior MI") to the lexicon's canonical names.

    Order: a canonical name as is; a surface form of the lexicon; the one entity the lexicon finds in the name;
    otherwise the name itself, lower-cased and with single spaces (an entity the lexicon does not know).
    """

    def __init__(self, lexicon: Optional[Lexicon] = None) -> None:
        self.extractor = LexiconExtractor(lexicon)
        self.lexicon = self.extractor.lexicon
        self._cache: dict[str, tuple[str, bool]] = {}

    def __call__(self, name: str) -> str:
        return self.resolve(name)[0]

    def resolve(self, name: str) -> tuple[str, bool]:
        """(canonical name, is_noise) of a surface name."""
        if name not in self._cache:
            self._cache[name] = self._resolve(name)
        return self._cache[name]

    def _resolve(self, name: str) -> tuple[str, bool]:
        cleaned = " ".join(name.lower().split())
        canonical = cleaned if cleaned in self.lexicon.specs else self.lexicon.lookup(cleaned)
        if canonical is None:
            found = {entity.name for entity in self.extractor.extract(cleaned) if entity.status != "absent"}
            if len(found) == 1:
                canonical = found.pop()
            elif found and all(self.lexicon.specs[candidate].noise for candidate in found):
                return cleaned, True
        if canonical is None:
            return cleaned, False
        return canonical, self.lexicon.specs[canonical].noise


def build_vocabulary(
    entity_lists: Iterable[Iterable["Entity | Mapping[str, Any]"]],
    min_count: int = DEFAULT_MIN_COUNT,
    lexicon: Optional[Lexicon] = None,
    drop_noise: bool = True,
) -> Vocabulary:
    """Build the label vocabulary from the entities of many reports.

    Args:
        entity_lists: one list of entities (or their dicts) per report.
        min_count: keep labels stated (present or uncertain) in at least this many reports.
        lexicon: lexicon for canonical names, noise flags and descriptions (default: the packaged one).
        drop_noise: drop statements the lexicon flags as noise ("abnormal ecg", "unconfirmed report").

    Returns:
        A `Vocabulary` whose labels are sorted by frequency (descending), then name.
    """
    canonicalizer = Canonicalizer(lexicon)
    counts: Counter[str] = Counter()
    categories: dict[str, Counter[str]] = {}
    synonyms: dict[str, str] = {}
    dropped_noise: Counter[str] = Counter()
    for entities in entity_lists:
        stated: set[str] = set()
        for entity in map(as_entity, entities):
            label, noise = canonicalizer.resolve(entity.name)
            if noise and drop_noise:
                dropped_noise[label] += 1
                continue
            if label != entity.name:
                synonyms[entity.name] = label
            categories.setdefault(label, Counter())[entity.category] += 1
            if entity.status in COUNTED_STATUSES:
                stated.add(label)
        counts.update(stated)
    kept = sorted(
        (label for label, count in counts.items() if count >= min_count), key=lambda label: (-counts[label], label)
    )
    logger.info(
        "Vocabulary: %d labels kept of %d (min_count=%d); %d noise mentions dropped", len(kept), len(counts), min_count,
        sum(dropped_noise.values()),
    )
    specs = canonicalizer.lexicon.specs
    kept_set = set(kept)
    descriptions = {label: specs[label].description if label in specs else label for label in kept}
    return Vocabulary(
        labels=kept,
        descriptions=descriptions,
        counts={label: counts[label] for label in kept},
        categories={
            label: specs[label].category if label in specs else categories[label].most_common(1)[0][0]
            for label in kept
        },
        synonyms={surface: label for surface, label in sorted(synonyms.items()) if label in kept_set},
        min_count=min_count,
        forms={label: label_surface_forms(label, descriptions[label], canonicalizer.lexicon) for label in kept},
    )


def entities_to_multi_hot(
    entities: Iterable["Entity | Mapping[str, Any]"], label2id: Mapping[str, Optional[int]],
    uncertain_value: float = 1.0, num_labels: Optional[int] = None,
) -> np.ndarray:
    """Multi-hot target of one report: shape (L,) float32 with L = `num_labels` (default len(label2id)).

    present -> 1, uncertain -> `uncertain_value`, absent -> 0; names outside `label2id` are ignored. When a label
    is mentioned more than once, the highest value wins. Names mapped to None are ignored too.
    """
    values = {"present": 1.0, "uncertain": float(uncertain_value), "absent": 0.0}
    target = np.zeros(len(label2id) if num_labels is None else num_labels, dtype=np.float32)
    for entity in map(as_entity, entities):
        index = label2id.get(entity.name)
        if index is not None:
            target[index] = max(target[index], values[entity.status])
    return target


__all__ = [
    "Canonicalizer",
    "DEFAULT_MIN_COUNT",
    "Vocabulary",
    "build_vocabulary",
    "entities_to_multi_hot",
    "extra_label_forms",
    "label_surface_forms",
]
