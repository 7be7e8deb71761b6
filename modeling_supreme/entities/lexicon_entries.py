"""The data model of a lexicon file (`lexicon.yaml`): entity specs, and the YAML entries read into them (SCP code
tables, surface forms by language, the implied-normal rule), each checked with an error naming the file and entry.

`lexicon.py` compiles the forms read here into patterns and applies them to reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .schema import CATEGORIES

LANGUAGES: tuple[str, ...] = ("en", "de", "sv")


class LexiconError(ValueError):
    """A lexicon data file that cannot be used (the message names the file and the entry)."""


@dataclass(frozen=True)
class EntitySpec:
    """One canonical entity of the lexicon.

    Attributes:
        name: canonical name (plain English, lower case).
        category: one of `CATEGORIES`.
        scp_codes: PTB-XL SCP-ECG statement codes this entity maps to (may be empty).
        scp_by_language: (language, codes) pairs where the reports of one language are coded otherwise
            (PTB-XL's annotators of the Swedish reports, say, never coded ABQRS for "avvikande QRS(T) förlopp").
        not_beside: canonical names of entities beside which this one maps to no code (LVH is not coded beside a
            complete left bundle branch block, which makes its voltage criteria unusable).
        description: plain-English clinical description, the text a model encodes for this label.
        noise: statements the vocabulary drops ("abnormal ecg", "trace only").
        family: name of the family ("myocardial infarction", "ischemia") for site-specific members.
        unspecified: the family's site-less member, dropped when a site-specific member is found.
    """

    name: str
    category: str
    scp_codes: tuple[str, ...] = ()
    scp_by_language: tuple[tuple[str, tuple[str, ...]], ...] = ()
    not_beside: tuple[str, ...] = ()
    description: str = ""
    noise: bool = False
    family: Optional[str] = None
    unspecified: bool = False


def spec_from_entry(entry: Mapping[str, Any], source: str) -> EntitySpec:
    """The spec of one `entities:` entry of a lexicon file (`source` names the file in errors)."""
    name = entry.get("name")
    if not name:
        raise LexiconError(f"{source}: an entity entry lacks a name: {dict(entry)!r}")
    category = entry.get("category")
    if category not in CATEGORIES:
        raise LexiconError(f"{source}: entity {name!r} has category {category!r}; use one of {CATEGORIES}.")
    return EntitySpec(
        name=str(name).lower(),
        category=category,
        **scp_table(entry.get("scp"), f"{source}: entity {name!r}"),
        not_beside=tuple(str(other).lower() for other in entry.get("not_beside") or ()),
        description=str(entry.get("description") or name),
        noise=bool(entry.get("noise", False)),
    )


def implied_code(value: Any, source: str) -> tuple[str, dict[str, frozenset[str]]]:
    """The `implied_normal` entry: `{code: NORM, when_only: {de: [SR, ...]}}` -> ("NORM", {"de": {...}})."""
    if not value:
        return ("", {})
    if not isinstance(value, Mapping) or not value.get("code") or not isinstance(value.get("when_only"), Mapping):
        raise LexiconError(
            f"{source}: implied_normal must be {{code: NORM, when_only: {{de: [SR, ...]}}}}, got {value!r}"
        )
    unknown = set(value["when_only"]) - set(LANGUAGES)
    if unknown:
        raise LexiconError(f"{source}: implied_normal names unknown languages {sorted(unknown)}.")
    when_only = {language: frozenset(map(str, codes)) for language, codes in value["when_only"].items()}
    return (str(value["code"]), when_only)


def scp_table(value: Any, where: str) -> dict[str, Any]:
    """`scp_codes` and `scp_by_language` of an `scp` entry: a list of codes, or `{all: [...], <language>: [...]}`."""
    if value is None or isinstance(value, (list, tuple)):
        return {"scp_codes": tuple(map(str, value or ())), "scp_by_language": ()}
    if not isinstance(value, Mapping):
        raise LexiconError(
            f"{where}: scp must be a list of codes or a mapping {{all: [...], de: [...]}}, got {value!r}"
        )
    unknown = set(value) - {"all", *LANGUAGES}
    if unknown:
        raise LexiconError(f"{where}: scp has unknown keys {sorted(unknown)}; use 'all' and languages {LANGUAGES}.")
    by_language = tuple(
        (language, tuple(map(str, value[language] or ()))) for language in LANGUAGES if language in value
    )
    return {"scp_codes": tuple(map(str, value.get("all") or ())), "scp_by_language": by_language}


def forms_of(entry: Mapping[str, Any], languages: tuple[str, ...], source: str) -> list[Any]:
    """The surface forms of an entry in the chosen languages; an entry needs forms in at least one language."""
    forms = entry.get("forms") or {}
    unknown = set(forms) - set(LANGUAGES)
    if unknown:
        raise LexiconError(f"{source}: entry {entry.get('name')!r} has forms for unknown languages {sorted(unknown)}.")
    if not any(forms.values()):
        raise LexiconError(f"{source}: entry {entry.get('name')!r} has no surface forms.")
    return [form for language in languages for form in forms.get(language, [])]


__all__ = ["EntitySpec", "LANGUAGES", "LexiconError", "forms_of", "implied_code", "scp_table", "spec_from_entry"]
