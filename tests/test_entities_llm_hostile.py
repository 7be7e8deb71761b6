"""LLM extraction against a broken or hostile OpenAI-compatible server (a fake one on 127.0.0.1): malformed answers,
a server that drip-feeds its answer, `Retry-After`, answers too large to keep, and runs in which every request
fails. Each malformed answer is a recorded failure of its report and the run goes on; nothing is left running."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable, Iterator

import pytest

from modeling_supreme.entities import AnswerCache, Entity, LLMExtractor, OpenAIBackend
from modeling_supreme.entities.schema import MAX_ENTITIES, EntityValidationError, validate_answer

from . import test_entities_llm
from .test_entities_llm import VALID, openai_backend

serve = test_entities_llm.serve  # the scripted-server fixture, shared with the well-behaved server's tests

SINUS = [Entity("sinus rhythm", "rhythm", "present")]


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    """Every thread a test starts (server, handlers, watchdogs, workers) is gone soon after it ends."""
    def started() -> set[threading.Thread]:  # tqdm's monitor is one daemon per process, started by any bar
        return {thread for thread in threading.enumerate() if thread.name != "tqdm_monitor"} - before

    before: set[threading.Thread] = set()
    before = started()
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and started():
        time.sleep(0.05)
    assert not started(), sorted(thread.name for thread in started())


def respond(status: int, body: bytes, headers: "dict[str, str | None] | None" = None, log: "list | None" = None):
    """A scripted action writing `status`, `headers` (None: leave the header out) and `body` as they are."""

    def write(handler) -> None:
        if log is not None:
            log.append(time.monotonic())
        handler.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                            **(headers or {})}.items():
            if value is not None:
                handler.send_header(name, value)
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up

    return ("handler", write)


def envelope(content: str) -> bytes:
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).encode()


def drip(interval: float, whole_response: bool) -> tuple[str, Callable]:
    """Send a valid answer one byte every `interval` s: the body only, or the status line and headers too."""

    def write(handler) -> None:
        body = envelope(VALID)
        head = f"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        if not whole_response:
            handler.wfile.write(head)
            head = b""
        try:
            for byte in head + body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(interval)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: stop dripping

    return ("handler", write)


# -- malformed answers --------------------------------------------------------------------------------------------

ENTITY = '{"name": "%s", "category": "rhythm", "status": "present"}'
MALFORMED = {
    "lone surrogate": [("ok", '{"entities": [%s]}' % (ENTITY % "sinus \ud800 rhythm"))],
    "escaped lone surrogate": [("ok", '{"entities": [%s]}' % (ENTITY % "sinus \\udc00 rhythm"))],
    "gzip header on a plain body": [respond(200, envelope(VALID), {"Content-Encoding": "gzip"})],
    "deeply nested answer": [("ok", "[" * 40_000 + "]" * 40_000)],
    "deeply nested envelope": [respond(200, b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")],
    "50,000-digit integer": [("ok", '{"entities": %s}' % ("7" * 50_000))],
    "100,000-digit integer in the envelope": [respond(200, b'{"choices": %s}' % (b"7" * 100_000))],
}


def test_malformed_answers_are_recorded_failures_and_the_run_goes_on(tmp_path, serve) -> None:
    server = serve(MALFORMED)
    cache_path = tmp_path / "cache.sqlite"
    extractor = LLMExtractor(openai_backend(server, max_retries=1), cache=cache_path, max_attempts=2, progress=False)
    reports = [*MALFORMED, "fine", "also fine"]
    results = extractor.extract_batch(reports)
    assert results == [[]] * len(MALFORMED) + [SINUS, SINUS]
    failures = {failure.report: failure.error for failure in extractor.last_stats.failures}
    assert set(failures) == set(MALFORMED)
    assert "Unicode" in failures["lone surrogate"] and "Unicode" in failures["escaped lone surrogate"]
    assert "cannot be decoded" in failures["gzip header on a plain body"]
    assert "nested" in failures["deeply nested answer"] and "nested" in failures["deeply nested envelope"]
    assert "digits" in failures["50,000-digit integer"]
    assert "digits" in failures["100,000-digit integer in the envelope"]
    for failure in extractor.last_stats.failures:  # what the failures file and the cache write must encode
        json.dumps([failure.raw_answer, failure.error], ensure_ascii=False).encode("utf-8")
    # Every answer is stored: the valid ones and the invalid answers (as failures, with a storable raw answer).
    cache = AnswerCache(cache_path)
    assert cache.get(extractor.key("fine")).ok and cache.get(extractor.key("also fine")).ok
    stored = {answer.report: answer for answer in cache.failures()}
    assert {"lone surrogate", "deeply nested answer", "50,000-digit integer"} <= set(stored)
    assert "\\ud800" in stored["lone surrogate"].raw_answer
    cache.close()


def test_a_report_that_is_not_valid_unicode_is_a_recorded_failure(serve) -> None:
    server = serve({})
    extractor = LLMExtractor(openai_backend(server), progress=False)
    assert extractor.extract_batch(["bad \udfff text", "fine"]) == [[], SINUS]
    (failure,) = extractor.last_stats.failures
    assert "Unicode" in failure.error and not failure.cached
    assert server.requests == ["fine"]


# -- deadline per request -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("whole_response", [False, True], ids=["body", "status-line-and-headers"])
def test_a_drip_feeding_server_meets_the_deadline_of_the_request(serve, whole_response) -> None:
    server = serve({"drip": [drip(0.2, whole_response)]})
    extractor = LLMExtractor(openai_backend(server, timeout=1.0, max_retries=0), progress=False)
    started = time.monotonic()
    assert extractor.extract_batch(["drip", "fine"]) == [[], SINUS]
    elapsed = time.monotonic() - started
    (failure,) = extractor.last_stats.failures
    assert "deadline of 1 s" in failure.error
    assert elapsed < 3.0  # the whole answer would take len(response) * 0.2 s > 20 s


# -- Retry-After ----------------------------------------------------------------------------------------------------


def test_retry_after_is_honoured_and_logged(serve, caplog) -> None:
    times: list[float] = []
    server = serve({"busy": [
        respond(429, b'{"error": "slow down"}', {"Retry-After": "1"}, times), respond(200, envelope(VALID), log=times),
    ]})
    extractor = LLMExtractor(openai_backend(server, backoff=0.01), progress=False)
    with caplog.at_level(logging.WARNING, logger="modeling_supreme.entities.llm_backends"):
        assert extractor.extract_batch(["busy"]) == [SINUS]
    assert times[1] - times[0] >= 0.95
    assert any("Retry-After: 1" in record.getMessage() for record in caplog.records)


def test_retry_after_is_capped(serve, caplog) -> None:
    times: list[float] = []
    server = serve({"busy": [
        respond(503, b"{}", {"Retry-After": "3600"}, times), respond(200, envelope(VALID), log=times),
    ]})
    extractor = LLMExtractor(openai_backend(server, backoff=0.01, max_backoff=0.3), progress=False)
    with caplog.at_level(logging.WARNING, logger="modeling_supreme.entities.llm_backends"):
        assert extractor.extract_batch(["busy"]) == [SINUS]
    assert 0.25 <= times[1] - times[0] < 2.0
    assert any("Retry-After: 3600" in record.getMessage() and "capped" in record.getMessage()
               for record in caplog.records)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from email.utils import formatdate

    from modeling_supreme.entities.http_limits import retry_after_seconds

    assert retry_after_seconds("2") == 2.0 and retry_after_seconds("-3") == 0.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("nan") is None and retry_after_seconds("inf") is None
    assert 3.0 <= retry_after_seconds(formatdate(time.time() + 5, usegmt=True)) <= 5.0


# -- bounded answers ------------------------------------------------------------------------------------------------


def test_answers_over_the_size_bound_are_recorded_failures(serve) -> None:
    huge = envelope('{"entities": []}' + " " * (3 << 20))
    many = '{"entities": [%s]}' % ", ".join([ENTITY % "sinus rhythm"] * (MAX_ENTITIES + 1))
    server = serve({
        "huge": [respond(200, huge)],
        "long": [("ok", '{"entities": []}' + " " * 500_000)],
        "huge without length": [respond(200, huge, {"Content-Length": None})],
        "many": [("ok", many)],
    })
    extractor = LLMExtractor(openai_backend(server, max_retries=0), max_attempts=1, progress=False)
    reports = ["huge", "huge without length", "long", "many", "fine"]
    assert extractor.extract_batch(reports) == [[], [], [], [], SINUS]
    failures = {failure.report: failure for failure in extractor.last_stats.failures}
    assert "more than 100000" in failures["long"].error and len(failures["long"].raw_answer) < 100_100
    assert "larger than" in failures["huge"].error and "larger than" in failures["huge without length"].error
    assert f"lists {MAX_ENTITIES + 1} entities, more than {MAX_ENTITIES}" in failures["many"].error


def test_validate_answer_refuses_oversized_text_before_parsing() -> None:
    with pytest.raises(EntityValidationError, match="characters"):
        validate_answer('{"entities": []}' + " " * (1 << 20))


# -- option values --------------------------------------------------------------------------------------------------


def test_zero_workers_are_refused_with_a_clear_error(serve) -> None:
    with pytest.raises(ValueError, match="max_workers must be at least 1, got 0"):
        LLMExtractor(openai_backend(serve({})), max_workers=0, progress=False)
    with pytest.raises(ValueError, match="max_workers must be at least 1, got 0"):
        OpenAIBackend("http://127.0.0.1:9/v1", "m", max_workers=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 0}, "timeout must be above 0.0, got 0"),
        ({"timeout": float("nan")}, "timeout must be above 0.0, got nan"),
        ({"max_retries": -1}, "max_retries must be at least 0, got -1"),
        ({"max_workers": 0}, "max_workers must be at least 1, got 0"),
        ({"backoff": -1}, "backoff must be at least 0.0, got -1"),
        ({"max_tokens": 0}, "max_tokens must be at least 1, got 0"),
        ({"max_response_bytes": 0}, "max_response_bytes must be at least 1, got 0"),
    ],
)
def test_backend_refuses_invalid_options(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        OpenAIBackend("http://127.0.0.1:9/v1", "m", **options)
