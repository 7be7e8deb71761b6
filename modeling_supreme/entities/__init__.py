"""Clinical entities of ECG reports: one schema, a lexicon extractor, an LLM extractor and a vocabulary builder."""

from .cache import AnswerCache, CachedAnswer, cache_key
from .evaluation import ExtractionScores, entities_to_scp_codes, score_extraction
from .lexicon import Lexicon, LexiconExtractor
from .lexicon_entries import EntitySpec, LexiconError
from .llm import DEFAULT_PROMPT, ExtractionFailure, ExtractionStats, LLMExtractor, PromptTemplate
from .llm_backends import BackendError, OpenAIBackend, TransformersBackend
from .schema import (
    ANSWER_JSON_SCHEMA,
    CATEGORIES,
    STATUSES,
    Entity,
    EntityValidationError,
    entities_to_dicts,
    validate_answer,
)
from .vocabulary import (
    Canonicalizer,
    Vocabulary,
    build_vocabulary,
    entities_to_multi_hot,
    extra_label_forms,
    label_surface_forms,
)

__all__ = [
    "ANSWER_JSON_SCHEMA",
    "AnswerCache",
    "BackendError",
    "CATEGORIES",
    "CachedAnswer",
    "Canonicalizer",
    "DEFAULT_PROMPT",
    "Entity",
    "EntitySpec",
    "EntityValidationError",
    "ExtractionFailure",
    "ExtractionScores",
    "ExtractionStats",
    "LLMExtractor",
    "Lexicon",
    "LexiconError",
    "LexiconExtractor",
    "OpenAIBackend",
    "PromptTemplate",
    "STATUSES",
    "TransformersBackend",
    "Vocabulary",
    "build_vocabulary",
    "cache_key",
    "entities_to_dicts",
    "entities_to_multi_hot",
    "extra_label_forms",
    "label_surface_forms",
    "entities_to_scp_codes",
    "score_extraction",
    "validate_answer",
]
