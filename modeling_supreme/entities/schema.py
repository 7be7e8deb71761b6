"""The one entity schema shared by every extractor, the vocabulary builder and the datasets.

An entity is a clinical statement of an ECG report: a canonical name ("left bundle branch block"), a category
and a status. Datasets store entities as plain dicts `{"name", "category", "status"}`; LLM answers are JSON
objects `{"entities": [...]}` validated against `ANSWER_JSON_SCHEMA` before they are accepted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

CATEGORIES: tuple[str, ...] = ("rhythm", "conduction", "morphology", "st_t", "axis", "hypertrophy", "other")
"""Entity categories. "morphology" holds QRS / P-wave morphology, infarction included."""

STATUSES: tuple[str, ...] = ("present", "uncertain", "absent")
"""present: stated; uncertain: hedged ("possible", "verdacht auf", "kan ej uteslutas"); absent: negated or normal."""

MAX_ENTITIES = 100
"""Entities one answer may list; a report states a few dozen at most, more is a broken or hostile answer."""

MAX_ANSWER_CHARS = 100_000
"""Characters of an answer that is parsed at all (an answer of a few hundred tokens takes a few thousand)."""

ENTITY_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "status": {"type": "string", "enum": list(STATUSES)},
    },
    "required": ["name", "category", "status"],
    "additionalProperties": False,
}

ANSWER_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ECG report entities",
    "type": "object",
    "properties": {"entities": {"type": "array", "items": ENTITY_JSON_SCHEMA}},
    "required": ["entities"],
    "additionalProperties": False,
}


class EntityValidationError(ValueError):
    """An answer (usually an LLM's) that is not valid JSON or does not follow `ANSWER_JSON_SCHEMA`."""


@dataclass(frozen=True)
class Entity:
    """One clinical statement of a report.

    Attributes:
        name: canonical (or, before vocabulary building, surface) name in plain English, lower case.
        category: one of `CATEGORIES`.
        status: one of `STATUSES`.
    """

    name: str
    category: str
    status: str = "present"

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise EntityValidationError("An entity needs a non-empty name.")
        if self.category not in CATEGORIES:
            raise EntityValidationError(
                f"Entity {self.name!r}: unknown category {self.category!r}; use one of {CATEGORIES}."
            )
        if self.status not in STATUSES:
            raise EntityValidationError(f"Entity {self.name!r}: unknown status {self.status!r}; use one of {STATUSES}.")

    def to_dict(self) -> dict[str, str]:
        """The dataset form `{"name", "category", "status"}`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Entity":
        """Build from the dataset form; raises `EntityValidationError` on missing or unknown fields."""
        missing = {"name", "category", "status"} - set(values)
        if missing:
            raise EntityValidationError(f"Entity {dict(values)!r} lacks {sorted(missing)}.")
        return cls(name=str(values["name"]), category=str(values["category"]), status=str(values["status"]))


def as_entity(value: "Entity | Mapping[str, Any]") -> Entity:
    """Accept an `Entity` or its dict form."""
    return value if isinstance(value, Entity) else Entity.from_dict(value)


def entities_to_dicts(entities: Iterable["Entity | Mapping[str, Any]"]) -> list[dict[str, str]]:
    """The `entities` column value of one dataset row."""
    return [as_entity(entity).to_dict() for entity in entities]


def validate_answer(answer: "str | Mapping[str, Any]") -> list[Entity]:
    """Parse and validate an extractor answer against `ANSWER_JSON_SCHEMA`.

    Args:
        answer: raw JSON text (as an LLM returns it) or an already decoded object.

    Returns:
        The entities, in answer order, with names stripped and lower-cased.

    Raises:
        EntityValidationError: the text is not JSON, or the object breaks the schema (the message says where).
    """
    import jsonschema

    if isinstance(answer, str):
        if len(answer) > MAX_ANSWER_CHARS:
            raise EntityValidationError(f"Answer has {len(answer)} characters, more than {MAX_ANSWER_CHARS}")
        answer = parse_json_text(answer, "Answer")
    listed = answer.get("entities") if isinstance(answer, Mapping) else None
    if isinstance(listed, list) and len(listed) > MAX_ENTITIES:
        raise EntityValidationError(f"Answer lists {len(listed)} entities, more than {MAX_ENTITIES}")
    validator = jsonschema.Draft202012Validator(ANSWER_JSON_SCHEMA)
    try:
        problems = sorted(validator.iter_errors(answer), key=lambda problem: list(problem.absolute_path))
    except RecursionError as error:
        raise EntityValidationError("Answer is nested too deeply to be checked against the schema") from error
    if problems:
        where = "/".join(str(part) for part in problems[0].absolute_path) or "<root>"
        raise EntityValidationError(f"Answer breaks the entity schema at {where}: {problems[0].message}")
    for index, item in enumerate(answer["entities"]):
        if not item["name"].isascii() and not _is_unicode_text(item["name"]):
            raise EntityValidationError(
                f"Answer holds text that is not valid Unicode (a lone surrogate) at entities/{index}/name"
            )
    return [
        Entity(name=" ".join(item["name"].lower().split()), category=item["category"], status=item["status"])
        for item in answer["entities"]
    ]


def parse_json_text(text: "str | bytes", what: str) -> Any:
    """`json.loads(text)` with every way it fails as one `EntityValidationError` that says what was wrong: not JSON,
    nested too deeply (RecursionError), an integer with too many digits (ValueError), bytes that are no text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise EntityValidationError(f"{what} is not valid JSON: {error}") from error
    except RecursionError as error:
        raise EntityValidationError(f"{what} is nested too deeply to be read as JSON") from error
    except ValueError as error:  # e.g. an integer of more than sys.get_int_max_str_digits() digits, or bad bytes
        raise EntityValidationError(f"{what} cannot be read as JSON: {error}") from error


def _is_unicode_text(text: str) -> bool:
    """False for a string with a lone surrogate (JSON's "\\ud800" decodes to one), which no file or database holds."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


__all__ = [
    "ANSWER_JSON_SCHEMA",
    "CATEGORIES",
    "ENTITY_JSON_SCHEMA",
    "MAX_ANSWER_CHARS",
    "MAX_ENTITIES",
    "Entity",
    "EntityValidationError",
    "STATUSES",
    "as_entity",
    "parse_json_text",
    "entities_to_dicts",
    "validate_answer",
]
