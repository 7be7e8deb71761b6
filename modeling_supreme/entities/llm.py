"""LLM entity extraction: a versioned prompt, JSON answers validated against the entity schema, a persistent cache.

Each distinct report text is sent once; every answer (validated entities, or a failure with the raw answer and
the error) is stored at once in an SQLite cache keyed by (report text, prompt version, model), so an interrupted
run resumes and a repeated run makes no call. Invalid JSON and out-of-schema answers are retried with the
validation error fed back to the model, then recorded as failures; a report whose model could not be reached is
reported but not cached, so the next run tries it again.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from .cache import AnswerCache, CachedAnswer, cache_key, storable_text
from .llm_backends import BackendError, ChatBackend
from .schema import (
    ANSWER_JSON_SCHEMA,
    CATEGORIES,
    MAX_ANSWER_CHARS,
    STATUSES,
    Entity,
    EntityValidationError,
    validate_answer,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned chat prompt. Change `version` whenever the text changes: it is part of the cache key."""

    version: str
    system: str
    user: str
    retry: str

    def messages(self, report: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.format(report=report)},
        ]

    def retry_messages(self, report: str, answer: str, error: str) -> list[dict[str, str]]:
        """The conversation after an invalid answer: the answer, then what was wrong with it."""
        return self.messages(report) + [
            {"role": "assistant", "content": answer},
            {"role": "user", "content": self.retry.format(error=error)},
        ]


DEFAULT_PROMPT = PromptTemplate(
    version="entities-v1",
    system=(
        "You extract the clinical statements of an ECG report. Reports are in English, German or Swedish, written "
        "by an ECG machine or a cardiologist.\n"
        'Answer with JSON only, of the form {"entities": [{"name": "...", "category": "...", "status": "..."}]}.\n'
        "- name: the statement as a short plain-English clinical term in lower case, translated when the report is "
        'German or Swedish, e.g. "sinus rhythm", "atrial fibrillation", "first degree av block", '
        '"left bundle branch block", "left anterior fascicular block", "inferior myocardial infarction", '
        '"anterolateral ischemia", "left ventricular hypertrophy", "nonspecific st changes", "prolonged qt interval", '
        '"left axis deviation", "normal ecg". Name the site of an infarction or ischemia when the report gives it.\n'
        f"- category: one of {', '.join(CATEGORIES)} (morphology covers QRS and P-wave morphology and infarction).\n"
        f"- status: one of {', '.join(STATUSES)}: present when stated; uncertain when hedged (possible, probable, "
        "consider, cannot be excluded, verdacht auf, möglich, nicht auszuschliessen, kan ej uteslutas, bör övervägas); "
        "absent when negated or ruled out.\n"
        "Leave out what states no finding: signatures, 'unconfirmed report', comparisons with earlier tracings, "
        "medication, technical remarks, and annotators' 'Edit:' notes.\n"
        'Answer {"entities": []} when the report states no finding.'
    ),
    user="ECG report:\n{report}",
    retry="That answer is not valid: {error}. Answer again with JSON only, following the required form.",
)


@dataclass(frozen=True)
class ExtractionFailure:
    """A report without entities: the model's last raw answer (if any) and why it was rejected."""

    report: str
    error: str
    raw_answer: Optional[str] = None
    attempts: int = 0
    cached: bool = True  # False for transport failures: the next run tries the report again


@dataclass
class ExtractionStats:
    """Counts of one `extract_batch` run."""

    reports: int = 0
    unique_reports: int = 0
    empty_reports: int = 0
    cache_hits: int = 0
    model_calls: int = 0
    answered: int = 0
    failures: list[ExtractionFailure] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "reports": self.reports,
            "unique_reports": self.unique_reports,
            "empty_reports": self.empty_reports,
            "cache_hits": self.cache_hits,
            "model_calls": self.model_calls,
            "answered": self.answered,
            "failures": len(self.failures),
        }


class LLMExtractor:
    """Entities of ECG reports from a chat model (see `TransformersBackend`, `OpenAIBackend`).

    Args:
        backend: the model.
        cache: an `AnswerCache` or the path of its SQLite file (None: an in-memory cache, lost at exit).
        prompt: the versioned prompt template.
        max_attempts: model answers tried per report before it is recorded as a failure.
        max_workers: concurrent reports (default: the backend's `max_workers`).
        retry_failures: ask the model again for reports whose failure is cached.
        progress: show a tqdm progress bar over the reports that need the model.
    """

    def __init__(
        self,
        backend: ChatBackend,
        cache: "AnswerCache | str | Path | None" = None,
        prompt: PromptTemplate = DEFAULT_PROMPT,
        max_attempts: int = 3,
        max_workers: Optional[int] = None,
        retry_failures: bool = False,
        progress: bool = True,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.backend = backend
        self.cache = (
            cache if isinstance(cache, AnswerCache) else AnswerCache(cache if cache is not None else ":memory:")
        )
        self.prompt = prompt
        self.max_attempts = max_attempts
        self.max_workers = max_workers if max_workers is not None else getattr(backend, "max_workers", 1)
        self.retry_failures = retry_failures
        self.progress = progress
        self.last_stats = ExtractionStats()
        self._calls_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    def key(self, report: str) -> str:
        return cache_key(report, self.prompt.version, self.model_id)

    def extract(self, report: str) -> list[Entity]:
        """Entities of one report ([] for an empty report or a recorded failure, see `last_stats.failures`)."""
        return self.extract_batch([report])[0]

    def extract_batch(self, reports: Iterable[str]) -> list[list[Entity]]:
        """Entities of many reports, each distinct text answered once (from the cache when it is there).

        Returns one list per report, in input order; failures give [] and are listed in `last_stats.failures`.
        """
        reports = list(reports)
        stats = ExtractionStats(reports=len(reports))
        self.last_stats = stats
        unique = list(dict.fromkeys(report for report in reports if isinstance(report, str) and report.strip()))
        stats.unique_reports = len(unique)
        stats.empty_reports = sum(1 for report in reports if not (isinstance(report, str) and report.strip()))
        results: dict[str, list[Entity]] = {}
        unique = self._refuse_invalid_text(unique, results, stats)
        cached = self.cache.get_many(self.key(report) for report in unique)
        pending = []
        for report in unique:
            answer = cached.get(self.key(report))
            if answer is None or (not answer.ok and self.retry_failures):
                pending.append(report)
                continue
            stats.cache_hits += 1
            results[report] = self._entities_of(answer, stats)
        self._answer_pending(pending, results, stats)
        logger.info("LLM extraction: %s", stats.summary())
        return [list(results.get(report, [])) if isinstance(report, str) else [] for report in reports]

    @staticmethod
    def _refuse_invalid_text(
        reports: list[str], results: dict[str, list[Entity]], stats: ExtractionStats
    ) -> list[str]:
        """The reports that are Unicode text; one with a lone surrogate (only Python callers can pass one: datasets
        cannot hold it) can be neither sent nor cached, and is a recorded failure."""
        valid = []
        for report in reports:
            try:
                report.encode("utf-8")
            except UnicodeEncodeError:
                error = "the report is not valid Unicode text (it holds a lone surrogate); it was not sent"
                stats.failures.append(ExtractionFailure(report=report, error=error, cached=False))
                results[report] = []
            else:
                valid.append(report)
        return valid

    def _answer_pending(self, pending: list[str], results: dict[str, list[Entity]], stats: ExtractionStats) -> None:
        if not pending:
            return
        from tqdm.auto import tqdm

        with ThreadPoolExecutor(max_workers=self.max_workers) as pool, tqdm(
            total=len(pending), desc="LLM extraction", unit="report", disable=not self.progress
        ) as bar:
            futures = {pool.submit(self._ask_model, report, stats): report for report in pending}
            for future in as_completed(futures):
                report = futures[future]
                try:
                    answer = future.result()
                except BackendError as error:
                    stats.failures.append(ExtractionFailure(report=report, error=str(error), cached=False))
                    results[report] = []
                except Exception as error:  # noqa: BLE001 - one report's unforeseen failure must not end the run
                    logger.debug("Extraction of %r failed", report[:80], exc_info=True)
                    failure = f"unexpected {type(error).__name__}: {error}"
                    stats.failures.append(ExtractionFailure(report=report, error=failure, cached=False))
                    results[report] = []
                else:
                    self.cache.put(answer)
                    results[report] = self._entities_of(answer, stats)
                bar.update()

    def _ask_model(self, report: str, stats: ExtractionStats) -> CachedAnswer:
        """Up to `max_attempts` answers, each validated; the first valid one, else a failure record."""
        messages = self.prompt.messages(report)
        raw, error = "", ""
        for attempt in range(1, self.max_attempts + 1):
            with self._calls_lock:
                stats.model_calls += 1
            answer = self.backend.complete(messages, ANSWER_JSON_SCHEMA)
            # Kept, cached and fed back as storable text: a lone surrogate would fail every UTF-8 encoding of it
            # (the cache, the failures file, the next request); an answer too long to parse is kept in part.
            raw = storable_text(_shortened(answer))
            try:
                entities = validate_answer(answer)
            except EntityValidationError as invalid:
                error = storable_text(str(invalid))
                logger.debug(
                    "Invalid answer (attempt %d/%d) for %r: %s", attempt, self.max_attempts, report[:80], error
                )
                messages = self.prompt.retry_messages(report, raw, error)
                continue
            return CachedAnswer(
                self.key(report), report, self.prompt.version, self.model_id, True, tuple(entities), raw, None, attempt
            )
        return CachedAnswer(
            self.key(report), report, self.prompt.version, self.model_id, False, (), raw, error, self.max_attempts
        )

    @staticmethod
    def _entities_of(answer: CachedAnswer, stats: ExtractionStats) -> list[Entity]:
        if answer.ok:
            stats.answered += 1
            return list(answer.entities)
        stats.failures.append(
            ExtractionFailure(
                report=answer.report, error=answer.error or "", raw_answer=answer.raw_answer, attempts=answer.attempts
            )
        )
        return []


def _shortened(answer: str) -> str:
    if len(answer) <= MAX_ANSWER_CHARS:
        return answer
    return f"{answer[:MAX_ANSWER_CHARS]}... [{len(answer)} characters in all]"


__all__ = ["DEFAULT_PROMPT", "ExtractionFailure", "ExtractionStats", "LLMExtractor", "PromptTemplate"]
