"""Deterministic, offline entity extraction from ECG reports with a phrase lexicon.

The phrasings live in `lexicon.yaml` (English MIMIC-IV-ECG / PTB-XL statements, German and Swedish PTB-XL
statements, negation and uncertainty cues per language); this module compiles and applies them
(`lexicon_entries` reads the file's entries, `lexicon_matching` turns mentions and cues into statuses):

1. normalise the report (lower case, umlaut folding, PTB-XL export artefacts, "Edit:" notes stripped);
2. find every surface form of every entity; where matches overlap, the longer one wins;
3. give each match a status from the cues of its sentence (NegEx-style, scoped to the nearest entity);
4. merge repeated mentions of one entity (the most assertive status wins).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import yaml

from .lexicon_entries import (
    LANGUAGES,
    EntitySpec,
    LexiconError,
    forms_of,
    implied_code,
    scp_table,
    spec_from_entry,
)
from .lexicon_matching import Cue, ListWords, Mention, drop_contained, hides, mention_statuses, merge_statuses
from .schema import CATEGORIES, STATUSES, Entity

logger = logging.getLogger(__name__)

DEFAULT_LEXICON_FILE = "lexicon.yaml"

# Up to five words of the same sentence (the "..." of a surface form); cues inside a gap count for the mention.
_GAP = r"(?P<gap>(?:[^\s.;!?]+ ){0,5}?)"
_PLURAL_MARK = re.compile(r"(?<=\w)\((?:n|s|en|er|e|a|es|ies|na)\)")
_SEPARATORS = re.compile(r"[()\[\]\"'/\\_\-\u2013\u2014]")
_PUNCTUATION = re.compile(r"([.,;:!?])(?= |$)")
_SPECIAL_TOKEN = re.compile(r"(\{\w+\}|\.\.\.|\*)")
# A measured value with an optional unit glued to it: 72, 0.12, 160ms, 72bpm, -30°.
_MEASURED_VALUE = re.compile(r"[+\-]?\d+(?:[.,]\d+)*(?:ms|bpm|mv|s|hz|°|%)?")


@dataclass
class Lexicon:
    """A loaded lexicon data file: entity specs, their compiled surface forms and the status cues.

    Build it with `Lexicon.load()` (the packaged `lexicon.yaml`) or `Lexicon.load(path)`.
    """

    specs: dict[str, EntitySpec]
    version: str
    source: str
    _strip_after: tuple[str, ...] = ()
    _replacements: tuple[tuple[re.Pattern[str], str], ...] = ()
    _fold: dict[int, str] = field(default_factory=dict)
    _entity_patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)
    _form_status: dict[tuple[str, str], str] = field(default_factory=dict)
    _cue_patterns: list[tuple[str, str, re.Pattern[str]]] = field(default_factory=list)
    _surface_index: dict[str, str] = field(default_factory=dict)
    _pending_forms: dict[str, list[str]] = field(default_factory=dict)  # form regexes per entity, until compiled
    _readable_forms: dict[str, list[str]] = field(default_factory=dict)  # plain-text forms per entity, as written
    _list_words: ListWords = field(default_factory=lambda: ListWords(frozenset({","}), frozenset()))
    _measurement_words: frozenset[str] = frozenset()
    # (code, {language: codes}): a report of that language whose codes are all among these also gets the code.
    implied_code: tuple[str, dict[str, frozenset[str]]] = ("", {})

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: "str | Path | None" = None, languages: Sequence[str] = LANGUAGES) -> "Lexicon":
        """Load and compile a lexicon file (default: the packaged `lexicon.yaml`) for the given languages."""
        if path is None:
            text = resources.files(__package__).joinpath(DEFAULT_LEXICON_FILE).read_text(encoding="utf-8")
            source = f"{__package__}/{DEFAULT_LEXICON_FILE}"
        else:
            source = str(path)
            text = Path(path).read_text(encoding="utf-8")
        unknown = set(languages) - set(LANGUAGES)
        if unknown:
            raise LexiconError(f"{source}: unknown languages {sorted(unknown)}; the lexicon knows {LANGUAGES}.")
        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as error:
            raise LexiconError(f"{source}: not valid YAML: {error}") from error
        return cls._from_data(data, source, tuple(languages))

    @classmethod
    def _from_data(cls, data: Mapping[str, Any], source: str, languages: tuple[str, ...]) -> "Lexicon":
        normalisation = data.get("normalisation", {})
        lexicon = cls(
            specs={},
            version=str(data.get("version", "0")),
            source=source,
            _strip_after=tuple(marker.lower() for marker in normalisation.get("strip_after", [])),
            _replacements=tuple(
                (re.compile(pattern), replacement) for pattern, replacement in normalisation.get("replacements", [])
            ),
            _fold=str.maketrans(dict(normalisation.get("fold", {}))),
        )
        raw_slots = {name: list(forms) for name, forms in (data.get("slots") or {}).items()}
        slots = {name: lexicon._compile_alternatives(forms, {}) for name, forms in raw_slots.items()}
        for entry in data.get("entities") or []:
            spec = spec_from_entry(entry, source)
            lexicon._add_spec(spec, source)
            for form in forms_of(entry, languages, source):
                lexicon._register_form(spec.name, form, slots, source)
                lexicon._add_readable_forms(spec.name, form, raw_slots)
        for family in data.get("families") or []:
            expanded = lexicon._expand_family(family, data.get("locations") or {}, languages, source)
            for spec, forms, location_slot, raw_location in expanded:
                lexicon._add_spec(spec, source)
                for form in forms:
                    lexicon._register_form(spec.name, form, {**slots, **location_slot}, source)
                    lexicon._add_readable_forms(spec.name, form, {**raw_slots, **raw_location})
        lexicon._check_references()
        lexicon._compile_entity_patterns()
        lexicon._compile_cues(data.get("cues") or {}, languages)
        lexicon._measurement_words = frozenset(lexicon.normalise(str(word)) for word in data.get("measurements") or [])
        lexicon.implied_code = implied_code(data.get("implied_normal"), source)
        return lexicon

    def _add_spec(self, spec: EntitySpec, source: str) -> None:
        if spec.name in self.specs:
            raise LexiconError(f"{source}: entity {spec.name!r} is defined twice.")
        self.specs[spec.name] = spec
        self._surface_index[self.normalise(spec.name)] = spec.name

    def _check_references(self) -> None:
        """Every `not_beside` entry names an entity of the file."""
        for spec in self.specs.values():
            unknown = sorted(set(spec.not_beside) - set(self.specs))
            if unknown:
                raise LexiconError(f"{self.source}: entity {spec.name!r}: not_beside names unknown entities {unknown}.")

    def _expand_family(
        self, family: Mapping[str, Any], locations: Mapping[str, Any], languages: tuple[str, ...], source: str
    ) -> Iterable[tuple[EntitySpec, list[Any], dict[str, str], dict[str, list[str]]]]:
        """Site-specific members ("inferior myocardial infarction") and the site-less one of a family, each with its
        forms, its compiled `{location}` slot and that slot's forms as written."""
        family_name = family.get("family")
        category = family.get("category")
        if not family_name or category not in CATEGORIES:
            raise LexiconError(f"{source}: family {family_name!r} needs a name and a category from {CATEGORIES}.")
        for location, codes in (family.get("members") or {}).items():
            if location not in locations:
                raise LexiconError(f"{source}: family {family_name!r} names unknown location {location!r}.")
            location_forms = [form for language in languages for form in locations[location].get(language, [])]
            spec = EntitySpec(
                name=family["name"].format(location=location),
                category=category,
                **scp_table(codes, f"{source}: family {family_name!r}, member {location!r}"),
                description=family.get("description", family["name"]).format(location=location),
                family=family_name,
            )
            slot = {"location": self._compile_alternatives(location_forms, {})}
            yield spec, forms_of(family, languages, source), slot, {"location": location_forms}
        unspecified = family.get("unspecified")
        if unspecified:
            spec = EntitySpec(
                name=str(unspecified["name"]).lower(),
                category=category,
                **scp_table(unspecified.get("scp"), f"{source}: family {family_name!r}, unspecified member"),
                description=str(unspecified.get("description") or unspecified["name"]),
                family=family_name,
                unspecified=True,
            )
            yield spec, forms_of(unspecified, languages, source), {}, {}

    # ------------------------------------------------------------------ compiling forms
    def normalise(self, text: str) -> str:
        """The canonical spelling that reports and surface forms are matched in.

        Lower case; text after a `strip_after` marker dropped; the file's replacements (PTB-XL export artefacts);
        umlauts folded; plural marks "(n)" removed; brackets, hyphens and slashes as spaces; sentence punctuation
        as words of its own; single spaces.
        """
        text = text.lower()
        for marker in self._strip_after:
            cut = text.find(marker)
            if cut >= 0:
                text = text[:cut]
        for pattern, replacement in self._replacements:
            text = pattern.sub(replacement, text)
        text = text.translate(self._fold)
        text = _PLURAL_MARK.sub("", text)
        text = _SEPARATORS.sub(" ", text)
        text = text.replace("&", " & ")
        text = _PUNCTUATION.sub(r" \1 ", text)
        return " ".join(text.split())

    def _compile_form(self, form: str, slots: Mapping[str, str]) -> str:
        """Regular expression (without word boundaries) of one surface form; see the syntax in lexicon.yaml."""
        pieces: list[str] = []
        for part in _SPECIAL_TOKEN.split(form):
            if part == "*":
                pieces.append(r"\w*")
            elif part == "...":
                pieces.append(_GAP)
            elif part.startswith("{") and part.endswith("}") and len(part) > 2:
                slot = part[1:-1]
                if slot not in slots:
                    raise LexiconError(f"{self.source}: form {form!r} uses unknown slot {{{slot}}}.")
                pieces.append(slots[slot])
            elif part:
                literal = re.escape(self.normalise(part)) if part.strip() else ""
                lead = " " if part[0].isspace() and not (pieces and pieces[-1] == _GAP) else ""
                trail = " " if part[-1].isspace() and literal else ""
                pieces.append(lead + literal + trail)
        return "".join(pieces)

    def _compile_alternatives(self, forms: Iterable[str], slots: Mapping[str, str]) -> str:
        compiled = sorted({self._compile_form(form, slots) for form in forms}, key=len, reverse=True)
        return "(?:" + "|".join(compiled) + ")"

    def _register_form(self, name: str, form: Any, slots: Mapping[str, str], source: str) -> None:
        status = None
        if isinstance(form, Mapping):
            status = form.get("status")
            if status not in STATUSES:
                raise LexiconError(
                    f"{source}: entity {name!r}: form {dict(form)!r} has status {status!r}; use {STATUSES}."
                )
            form = form.get("form", "")
        if not isinstance(form, str) or not form.strip():
            raise LexiconError(f"{source}: entity {name!r} has an empty or non-text form {form!r}.")
        regex = self._compile_form(form, slots)
        self._pending_forms.setdefault(name, []).append(regex)
        if status:
            self._form_status[(name, regex)] = status
        if not _SPECIAL_TOKEN.search(form):
            self._surface_index.setdefault(self.normalise(form), name)

    def _add_readable_forms(self, name: str, form: Any, raw_slots: Mapping[str, Sequence[str]]) -> None:
        """Record the plain-text versions of a form (see `surface_forms`); hedged forms ({form, status}) are not
        statements of the entity itself and are left out."""
        if isinstance(form, str):
            known = self._readable_forms.setdefault(name, [])
            known.extend(text for text in readable_forms(form, raw_slots) if text not in known)

    def _compile_entity_patterns(self) -> None:
        """One regex per entity: its forms as alternatives, longest first, each in a named group by status."""
        for name, regexes in self._pending_forms.items():
            ordered = sorted(set(regexes), key=len, reverse=True)
            alternatives = []
            for regex in ordered:
                status = self._form_status.get((name, regex))
                alternatives.append(f"(?P<{status}>{regex})" if status else regex)
            body = _number_groups("|".join(alternatives))
            self._entity_patterns[name] = re.compile(rf"(?<!\w)(?:{body})(?!\w)")
        missing = set(self.specs) - set(self._entity_patterns)
        if missing:
            logger.debug("%s: no surface forms in the chosen languages for %s", self.source, sorted(missing))

    def _compile_cues(self, cues: Mapping[str, Any], languages: tuple[str, ...]) -> None:
        for kind in ("negation", "uncertainty"):
            for direction in ("before", "after"):
                by_language = cues.get(kind, {}).get(direction, {}) or {}
                phrases = [phrase for language in languages for phrase in by_language.get(language, [])]
                if phrases:
                    self._cue_patterns.append((kind, direction, self._compile_bounded(phrases)))
        phrases = [phrase for language in languages for phrase in (cues.get("pseudo") or {}).get(language, [])]
        if phrases:
            self._cue_patterns.append(("pseudo", "none", self._compile_bounded(phrases)))

        def words(kind: str) -> frozenset[str]:
            by_language = cues.get(kind) or {}
            return frozenset(self.normalise(word) for language in languages for word in by_language.get(language, []))

        self._list_words = ListWords(joining=words("list") | {","}, alternative=words("alternative"))

    def _compile_bounded(self, phrases: Iterable[str]) -> re.Pattern[str]:
        return re.compile(_number_groups(rf"(?<!\w){self._compile_alternatives(phrases, {})}(?!\w)"))

    # ------------------------------------------------------------------ queries
    def spec(self, name: str) -> EntitySpec:
        """The spec of a canonical name; `KeyError` naming the lexicon when unknown."""
        try:
            return self.specs[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a canonical entity of {self.source}") from None

    def scp_codes(self, name: str, language: Optional[str] = None) -> tuple[str, ...]:
        """SCP-ECG codes of a canonical name (empty for names without a PTB-XL counterpart or unknown names).

        With a report language, that language's row of the table where it has one (`scp: {all: [...], sv: []}`).
        """
        spec = self.specs.get(name)
        if spec is None:
            return ()
        return dict(spec.scp_by_language).get(language, spec.scp_codes) if language else spec.scp_codes

    def surface_forms(self, name: str) -> list[str]:
        """The entity's surface forms as readable text, in the lexicon's order of languages (en, de, sv): wildcards
        and plural marks dropped, slots filled with their first plain alternatives, forms with "..." gaps left out.
        These are the phrasings a label can be asked by, e.g. as label texts in training. Unknown names: []."""
        return list(self._readable_forms.get(name, ()))

    def lookup(self, surface: str) -> Optional[str]:
        """Canonical name of a surface form written exactly as in the lexicon (after normalisation), else None."""
        return self._surface_index.get(self.normalise(surface))

    def is_measurements_only(self, report: str) -> bool:
        """True for a non-empty report of measured values and their names only ("HR 72 PR 160 QRS 90 QT 380").

        The names are the file's `measurements` words; such a report states no finding.
        """
        words = self.normalise(report).split()
        return bool(words) and all(word in self._measurement_words or _MEASURED_VALUE.fullmatch(word) for word in words)

    def _find_mentions(self, text: str) -> list[Mention]:
        """All entity mentions of an already normalised text, overlaps resolved (longest wins)."""
        matches: list[Mention] = []
        for name, pattern in self._entity_patterns.items():
            for found in pattern.finditer(text):
                groups = {
                    group.rsplit("_", 1)[0]: group for group, value in found.groupdict().items() if value is not None
                }
                status = next((kind for kind in STATUSES if kind in groups), None)
                gaps = tuple(
                    found.span(group) for group, value in found.groupdict().items() if value and group.startswith("gap")
                )
                matches.append(Mention(found.start(), found.end(), name, status, gaps))
        kept = drop_contained(matches)
        specs = self.specs
        located_families = {
            specs[m.name].family for m in kept if specs[m.name].family and not specs[m.name].unspecified
        }
        return [m for m in kept if not (specs[m.name].unspecified and specs[m.name].family in located_families)]

    def _find_cues(self, text: str, mentions: Sequence[Mention]) -> list[Cue]:
        """Status cues of a normalised text outside entity mentions; overlapping cues: the longest wins."""
        cues = [
            Cue(found.start(), found.end(), kind, direction)
            for kind, direction, pattern in self._cue_patterns
            for found in pattern.finditer(text)
            if not any(hides(mention, found.start(), found.end()) for mention in mentions)
        ]
        cues.sort(key=lambda cue: (cue.start, -(cue.end - cue.start)))
        kept: list[Cue] = []
        for cue in cues:
            if kept and cue.start < kept[-1].end:
                if cue.end - cue.start > kept[-1].end - kept[-1].start:
                    kept[-1] = cue
                continue
            kept.append(cue)
        return [cue for cue in kept if cue.kind != "pseudo"]


def readable_forms(form: str, raw_slots: Mapping[str, Sequence[str]]) -> list[str]:
    """The plain-text version of one lexicon form, as a list of zero or one text: "ventrikuläre extrasystole(n)" ->
    ["ventrikuläre extrasystole"], "{location} {mi_en}" -> ["inferior myocardial infarction"] (each slot filled with
    its first plain alternative, which the lexicon lists as the standard phrasing; later ones are often fragments
    glued to a suffix, "inferior wall" + "sinfarkt"); [] for a form with a "..." gap or an unknown slot."""
    text = ""
    for part in _SPECIAL_TOKEN.split(form):
        if part == "...":
            return []
        if part.startswith("{") and part.endswith("}") and len(part) > 2:
            alternatives = [text for option in raw_slots.get(part[1:-1], ()) for text in readable_forms(option, {})]
            if not alternatives:
                return []
            text += alternatives[0]
        elif part != "*":
            text += part
    text = " ".join(_PLURAL_MARK.sub("", text).split())
    return [text] if text else []


def _number_groups(regex: str) -> str:
    """Named groups must be unique in one regex: number them (gap_0, gap_1, uncertain_2, ...)."""
    counter = iter(range(1_000_000))
    return re.sub(r"\(\?P<(\w+)>", lambda found: f"(?P<{found.group(1)}_{next(counter)}>", regex)


class LexiconExtractor:
    """Extract entities from ECG reports with the phrase lexicon; deterministic, offline, no model.

    Args:
        lexicon: a loaded `Lexicon` (default: the packaged lexicon.yaml, all languages).
        languages: restrict the default lexicon to these languages ("en", "de", "sv").
        keep_noise: also return noise statements ("abnormal ecg", "trace only"); the vocabulary builder drops
            them, but keeping them shows that a report was read.

    Example:
        >>> LexiconExtractor().extract("Sinus rhythm. Possible anterior infarct - age undetermined")
        [Entity(name='sinus rhythm', ...), Entity(name='anterior myocardial infarction', ..., status='uncertain')]
    """

    def __init__(
        self, lexicon: Optional[Lexicon] = None, languages: Sequence[str] = LANGUAGES, keep_noise: bool = True
    ) -> None:
        self.lexicon = lexicon if lexicon is not None else _default_lexicon(tuple(languages))
        self.keep_noise = keep_noise

    def extract(self, report: str) -> list[Entity]:
        """Entities of one report, in order of first mention; an empty or blank report gives []."""
        if not isinstance(report, str):
            raise TypeError(f"A report must be a string, got {type(report).__name__}: {report!r}")
        text = self.lexicon.normalise(report)
        if not text:
            return []
        mentions = self.lexicon._find_mentions(text)
        cues = self.lexicon._find_cues(text, mentions)
        statuses = mention_statuses(text, mentions, cues, self.lexicon._list_words)
        merged = merge_statuses(mentions, statuses)
        entities = []
        for name, status in merged.items():
            spec = self.lexicon.specs[name]
            if spec.noise and not self.keep_noise:
                continue
            entities.append(Entity(name=name, category=spec.category, status=status))
        return entities

    def extract_batch(self, reports: Iterable[str]) -> list[list[Entity]]:
        """`extract` over many reports; each distinct text is processed once."""
        done: dict[str, list[Entity]] = {}
        results = []
        for report in reports:
            if report not in done:
                done[report] = self.extract(report)
            results.append(list(done[report]))
        return results


@lru_cache(maxsize=4)
def _default_lexicon(languages: tuple[str, ...]) -> Lexicon:
    return Lexicon.load(languages=languages)


__all__ = ["Lexicon", "LexiconExtractor", "readable_forms"]
