"""Command-line options shared by the entity scripts (extract_entities.py, eval/extraction.py, bench/extraction.py):
which extractor, and for the LLM its backend, model, cache and retry settings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from .lexicon import LexiconExtractor
from .lexicon_entries import LANGUAGES
from .llm import LLMExtractor
from .llm_mapping import EntityMapper


def add_extractor_arguments(parser: argparse.ArgumentParser, default_cache: Optional[str] = None) -> None:
    """--extractor lexicon|llm and the LLM backend options."""
    parser.add_argument(
        "--extractor", choices=("lexicon", "llm"), default="lexicon", help="entity extractor (default: lexicon)"
    )
    parser.add_argument("--languages", nargs="+", choices=LANGUAGES, default=list(LANGUAGES), help="lexicon languages")
    llm = parser.add_argument_group("LLM extractor")
    llm.add_argument(
        "--backend", choices=("openai", "transformers"), default="openai", help="where the chat model runs"
    )
    llm.add_argument("--model", help="model name at the endpoint (openai) or a local folder / Hub id (transformers)")
    llm.add_argument(
        "--base-url",
        default="http://localhost:8000/v1",
        help="OpenAI-compatible API root (vLLM, TGI, llama.cpp, Ollama)",
    )
    llm.add_argument("--api-key", default=None, help="Bearer token for the endpoint, if it needs one")
    llm.add_argument("--workers", type=int, default=8, help="concurrent requests (openai)")
    llm.add_argument("--timeout", type=float, default=60.0, help="seconds per request (openai)")
    llm.add_argument(
        "--max-retries", type=int, default=4, help="retries of HTTP errors and timeouts, with exponential backoff"
    )
    llm.add_argument("--response-format", choices=("json_schema", "json_object", "none"), default="json_schema")
    llm.add_argument(
        "--max-attempts", type=int, default=3, help="answers tried per report before it is recorded as a failure"
    )
    llm.add_argument("--max-new-tokens", type=int, default=512, help="answer length limit")
    llm.add_argument(
        "--no-constrained", action="store_true", help="transformers: plain generation without lm-format-enforcer"
    )
    llm.add_argument("--cache", default=default_cache, help="SQLite answer cache (resume, no repeated calls)")
    llm.add_argument("--retry-failures", action="store_true", help="ask again for reports whose failure is cached")
    llm.add_argument(
        "--raw-llm-names", action="store_true",
        help="keep the LLM's entity names as written (default: mapped onto the lexicon's canonical names)",
    )


def extractor_from_args(
    args: argparse.Namespace, cache: "str | Path | None" = None
) -> "LexiconExtractor | LLMExtractor":
    """The extractor the options describe; `cache` is used when --cache is not given."""
    if args.extractor == "lexicon":
        return LexiconExtractor(languages=tuple(args.languages))
    if not args.model:
        raise SystemExit("--extractor llm needs --model (the endpoint's model name or a local model folder)")
    from .llm_backends import OpenAIBackend, TransformersBackend

    if args.backend == "openai":
        backend = OpenAIBackend(
            args.base_url, args.model, api_key=args.api_key, timeout=args.timeout, max_retries=args.max_retries,
            max_workers=args.workers, response_format=args.response_format, max_tokens=args.max_new_tokens,
        )
    else:
        backend = TransformersBackend(
            args.model, max_new_tokens=args.max_new_tokens, constrained=False if args.no_constrained else "auto"
        )
    return LLMExtractor(
        backend, cache=args.cache or cache, max_attempts=args.max_attempts, retry_failures=args.retry_failures
    )


def entity_mapper_from_args(args: argparse.Namespace) -> Optional[EntityMapper]:
    """The mapper of LLM names onto the lexicon's (None for the lexicon extractor or with --raw-llm-names)."""
    return EntityMapper() if args.extractor == "llm" and not args.raw_llm_names else None


__all__ = ["add_extractor_arguments", "entity_mapper_from_args", "extractor_from_args"]
