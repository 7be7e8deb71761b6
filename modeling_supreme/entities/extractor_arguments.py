"""Command-line options shared by the entity scripts (extract_entities.py, eval/extraction.py,
bench/extraction_cost.py): which extractor, and for the LLM its backend, model, cache and retry settings."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Callable, Optional

from .lexicon import LexiconExtractor
from .lexicon_entries import LANGUAGES
from .llm import LLMExtractor
from .llm_mapping import EntityMapper


def number_in(kind: type, low: float, high: float = math.inf, low_open: bool = False) -> Callable[[str], Any]:
    """An argparse `type`: a finite `kind` number (int or float) from `low` (excluded when `low_open`) to `high`.
    argparse turns a refusal into a usage error naming the option, before any request is sent."""
    bounds = f"{'above' if low_open else 'at least'} {low:g}" + (f" and at most {high:g}" if high < math.inf else "")
    what = "an integer" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (math.isfinite(value) and (value > low if low_open else value >= low) and value <= high):
            raise argparse.ArgumentTypeError(f"must be {what} {bounds}, got {text}")
        return value

    return parse


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
    llm.add_argument("--workers", type=number_in(int, 1), default=8, help="concurrent requests (openai)")
    llm.add_argument(
        "--timeout", type=number_in(float, 0.0, low_open=True), default=60.0,
        help="seconds per request, from connecting to the last byte of the answer (openai)",
    )
    llm.add_argument(
        "--max-retries", type=number_in(int, 0), default=4,
        help="retries of HTTP errors and timeouts, with exponential backoff (Retry-After honoured up to 30 s)",
    )
    llm.add_argument("--response-format", choices=("json_schema", "json_object", "none"), default="json_schema")
    llm.add_argument(
        "--max-attempts", type=number_in(int, 1), default=3,
        help="answers tried per report before it is recorded as a failure",
    )
    llm.add_argument("--max-new-tokens", type=number_in(int, 1), default=512, help="answer length limit")
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
