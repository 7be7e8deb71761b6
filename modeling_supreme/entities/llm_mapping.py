"""An LLM's entity names onto the lexicon's canonical names, so that an LLM-built dataset has the lexicon's labels.

An LLM names a statement in its own words ("1st degree AV block", "Sinusrhythmus", "possible inferior infarct",
"no ST changes"). `EntityMapper` maps each name, deterministically, to the lexicon's canonical entities:

1. the name is a canonical name, or a surface form of the lexicon written exactly (after the lexicon's
   normalisation): that entity, with the LLM's status;
2. else the lexicon is run over the name itself, in all its languages: every entity it finds there, each with
   the least assertive of the LLM's status and the status the lexicon reads in the name (present > uncertain >
   absent), so "no st changes" stays absent even if the model called it present;
3. else the name is kept as the LLM wrote it (lower case, single spaces) and counted as unmapped.

The category of a mapped entity is the lexicon's. Nothing is dropped: an unmapped name stays an entity (the
vocabulary builder counts it like any other name) and `MappingCounts` lists it, with how often it was seen.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from .lexicon import Lexicon, LexiconExtractor
from .schema import STATUSES, Entity, as_entity

# present > uncertain > absent: index in STATUSES is the order of assertiveness, most assertive first.
_ASSERTIVENESS = {status: rank for rank, status in enumerate(STATUSES)}


def least_assertive(*statuses: str) -> str:
    """The least assertive of some statuses ("present", "uncertain", "absent"): absent beats uncertain beats present."""
    return max(statuses, key=_ASSERTIVENESS.__getitem__)


def most_assertive(*statuses: str) -> str:
    """The most assertive of some statuses: present beats uncertain beats absent."""
    return min(statuses, key=_ASSERTIVENESS.__getitem__)


@dataclass
class MappingCounts:
    """What `EntityMapper` did: entity mentions seen, how each was mapped, and the names left unmapped."""

    mentions: int = 0
    exact: int = 0
    read_by_lexicon: int = 0
    unmapped: Counter = field(default_factory=Counter)

    @property
    def unmapped_mentions(self) -> int:
        return sum(self.unmapped.values())

    def as_dict(self, limit: Optional[int] = None) -> dict[str, Any]:
        """JSON-ready counts; `unmapped` lists (name, count), most frequent first (the first `limit` of them)."""
        return {
            "mentions": self.mentions,
            "exact": self.exact,
            "read_by_lexicon": self.read_by_lexicon,
            "unmapped_mentions": self.unmapped_mentions,
            "unmapped_names": len(self.unmapped),
            "unmapped": self.unmapped.most_common(limit),
        }


class EntityMapper:
    """Maps an LLM's entities to the lexicon's canonical entities (see the module docstring for the rules).

    Args:
        lexicon: the lexicon whose names are the target (default: the packaged one, all languages).

    Example:
        >>> mapper = EntityMapper()
        >>> mapper.map_entities([Entity("1st degree av block", "conduction", "present")])
        [Entity(name='first degree av block', category='conduction', status='present')]
    """

    def __init__(self, lexicon: Optional[Lexicon] = None) -> None:
        self.extractor = LexiconExtractor(lexicon)
        self.lexicon = self.extractor.lexicon
        self.counts = MappingCounts()
        self._mapped: dict[tuple[str, str], tuple[tuple[Entity, ...], str]] = {}

    def map_entity(self, entity: "Entity | Mapping[str, Any]") -> list[Entity]:
        """The canonical entities one LLM entity stands for (itself, cleaned, when the lexicon reads none)."""
        entity = as_entity(entity)
        key = (entity.name, entity.status)
        if key not in self._mapped:
            self._mapped[key] = self._map(entity)
        mapped, how = self._mapped[key]
        self.counts.mentions += 1
        if how == "exact":
            self.counts.exact += 1
        elif how == "lexicon":
            self.counts.read_by_lexicon += 1
        else:
            self.counts.unmapped[mapped[0].name] += 1
        return list(mapped)

    def map_entities(self, entities: Iterable["Entity | Mapping[str, Any]"]) -> list[Entity]:
        """One report's LLM entities as canonical entities; a name stated twice keeps its most assertive status."""
        merged: dict[str, Entity] = {}
        for entity in entities:
            for mapped in self.map_entity(entity):
                earlier = merged.get(mapped.name)
                if earlier is None or most_assertive(earlier.status, mapped.status) != earlier.status:
                    merged[mapped.name] = mapped
        return list(merged.values())

    def map_batch(self, entity_lists: Sequence[Iterable["Entity | Mapping[str, Any]"]]) -> list[list[Entity]]:
        """`map_entities` over many reports."""
        return [self.map_entities(entities) for entities in entity_lists]

    def _map(self, entity: Entity) -> tuple[tuple[Entity, ...], str]:
        cleaned = " ".join(entity.name.lower().split()).strip(" .;:,")
        canonical = cleaned if cleaned in self.lexicon.specs else self.lexicon.lookup(cleaned)
        if canonical is not None:
            category = self.lexicon.specs[canonical].category
            return (Entity(canonical, category, entity.status),), "exact"
        read = self.extractor.extract(cleaned) if cleaned else []
        if read:
            return tuple(
                Entity(found.name, found.category, least_assertive(found.status, entity.status)) for found in read
            ), "lexicon"
        return (Entity(cleaned or entity.name, entity.category, entity.status),), "unmapped"


HYBRID_MODES: tuple[str, ...] = ("union", "fill", "arbitrate")
"""How lexicon and LLM entities of one report combine (`hybrid_entities`):

- union: the lexicon's entities plus the LLM's (mapped) entities the lexicon did not find;
- fill: the lexicon's entities; the LLM's only for reports where the lexicon found none;
- arbitrate: "fill", and where the lexicon reads a statement as uncertain the LLM decides: kept with the LLM's
  status when the LLM states it, dropped when the LLM does not mention it.
"""


def hybrid_entities(lexicon_entities: Sequence[Entity], llm_entities: Sequence[Entity], mode: str) -> list[Entity]:
    """One report's entities from the lexicon's and the (already mapped) LLM's, combined by `mode` (HYBRID_MODES)."""
    if mode not in HYBRID_MODES:
        raise ValueError(f"Unknown hybrid mode {mode!r}; use one of {HYBRID_MODES}.")
    if mode in ("fill", "arbitrate") and not lexicon_entities:
        return list(llm_entities)
    if mode == "union":
        found = {entity.name for entity in lexicon_entities}
        return [*lexicon_entities, *(entity for entity in llm_entities if entity.name not in found)]
    if mode == "fill":
        return list(lexicon_entities)
    llm_status = {entity.name: entity.status for entity in llm_entities}
    combined = []
    for entity in lexicon_entities:
        if entity.status != "uncertain":
            combined.append(entity)
        elif entity.name in llm_status:
            combined.append(Entity(entity.name, entity.category, llm_status[entity.name]))
    return combined


__all__ = [
    "EntityMapper",
    "HYBRID_MODES",
    "MappingCounts",
    "hybrid_entities",
    "least_assertive",
    "most_assertive",
]
