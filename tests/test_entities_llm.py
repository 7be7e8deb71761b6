"""LLM extractor: a tiny causal LM built in the test (garbage answers -> recorded failures; constrained decoding
-> schema-valid JSON), and an OpenAI-compatible server on 127.0.0.1 answering scripted responses."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from modeling_supreme.entities import AnswerCache, Entity, LLMExtractor, OpenAIBackend, TransformersBackend, cache_key

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_chat_model():
    """A byte-level BPE tokenizer trained on a few strings and a 1-layer Llama, both built without download."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>", "<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(
        ['{"entities": [{"name": "sinus rhythm", "category": "rhythm", "status": "present"}]}'], trainer
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", pad_token="<pad>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=4096, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )
    return LlamaForCausalLM(config).eval(), tokenizer


@pytest.fixture(scope="module")
def tiny_chat_model():
    return build_tiny_chat_model()


class CountingBackend:
    """Wraps a backend and counts `complete` calls."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.model_id = backend.model_id
        self.max_workers = backend.max_workers
        self.calls = 0

    def complete(self, messages, schema):
        self.calls += 1
        return self.backend.complete(messages, schema)


def test_tiny_model_garbage_ends_as_recorded_failures(tmp_path, tiny_chat_model) -> None:
    model, tokenizer = tiny_chat_model
    backend = CountingBackend(
        TransformersBackend(model, tokenizer, max_new_tokens=12, constrained=False, model_id="tiny-llama")
    )
    cache_path = tmp_path / "answers.sqlite"
    extractor = LLMExtractor(backend, cache=cache_path, max_attempts=2, progress=False)
    reports = ["sinus rhythm. normal ecg.", "atrial fibrillation.", "sinus rhythm. normal ecg.", ""]
    assert extractor.extract_batch(reports) == [[], [], [], []]
    stats = extractor.last_stats
    assert (stats.unique_reports, stats.empty_reports, stats.model_calls, stats.answered) == (2, 1, 4, 0)
    assert backend.calls == 4
    assert {failure.report for failure in stats.failures} == {"sinus rhythm. normal ecg.", "atrial fibrillation."}
    assert all(failure.raw_answer is not None and failure.error and failure.attempts == 2 for failure in stats.failures)
    stored = AnswerCache(cache_path).failures()
    assert {answer.report for answer in stored} == {"sinus rhythm. normal ecg.", "atrial fibrillation."}
    # A second run answers from the cache: no generation, the failures are still reported.
    again = LLMExtractor(backend, cache=cache_path, max_attempts=2, progress=False)
    assert again.extract_batch(reports) == [[], [], [], []]
    assert backend.calls == 4 and again.last_stats.model_calls == 0 and len(again.last_stats.failures) == 2


def test_constrained_decoding_forces_schema_valid_json(tiny_chat_model) -> None:
    """A model that prefers closing brackets and end-of-text answers garbage unconstrained, and
    `{"entities": []}` (the only short schema-valid answer) when lm-format-enforcer constrains it."""
    pytest.importorskip("lmformatenforcer")
    import copy

    import torch

    model, tokenizer = tiny_chat_model
    model = copy.deepcopy(model)
    preference = torch.full((len(tokenizer),), -5.0)
    for rank, text in enumerate(["]", "}", '"', "[", "{"]):
        preference[tokenizer.convert_tokens_to_ids(text)] = 10.0 - rank
    preference[tokenizer.eos_token_id] = 20.0
    head = torch.nn.Linear(model.config.hidden_size, len(tokenizer), bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(preference)
    model.lm_head = head

    free = LLMExtractor(
        TransformersBackend(model, tokenizer, max_new_tokens=40, constrained=False, model_id="free"), progress=False
    )
    assert free.extract("sinus rhythm") == [] and len(free.last_stats.failures) == 1
    constrained = LLMExtractor(
        TransformersBackend(model, tokenizer, max_new_tokens=40, constrained=True, model_id="json"), progress=False
    )
    assert constrained.extract("sinus rhythm") == []
    assert constrained.last_stats.failures == [] and constrained.last_stats.answered == 1
    stored = constrained.cache.get(constrained.key("sinus rhythm"))
    assert stored.ok and json.loads(stored.raw_answer) == {"entities": []}


# ---------------------------------------------------------------------------------------------- OpenAI server
VALID = '{"entities": [{"name": "sinus rhythm", "category": "rhythm", "status": "present"}]}'


class ScriptedServer:
    """An OpenAI-compatible /chat/completions on 127.0.0.1 answering, per report, a scripted list of actions:
    ("ok", content) | ("status", code) | ("sleep", seconds) then ok | ("envelope", raw body text)
    | ("handler", function) (the function writes the whole response with the request handler it is given)."""

    def __init__(self, scripts: dict[str, list[tuple]]) -> None:
        self.scripts = {report: list(actions) for report, actions in scripts.items()}
        self.requests: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                report = body["messages"][1]["content"].split("\n", 1)[1]
                with server.lock:
                    server.requests.append(report)
                    actions = server.scripts.get(report) or [("ok", VALID)]
                    action = actions.pop(0) if len(actions) > 1 else actions[0]
                kind, value = action
                if kind == "handler":
                    value(self)
                    return
                if kind == "sleep":
                    time.sleep(value)
                    kind, value = "ok", VALID
                if kind == "status":
                    self._send(value, json.dumps({"error": "scripted failure"}))
                elif kind == "envelope":
                    self._send(200, value)
                else:
                    envelope = {"choices": [{"index": 0, "message": {"role": "assistant", "content": value}}]}
                    self._send(200, json.dumps(envelope))

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def count(self, report: str) -> int:
        return self.requests.count(report)


@pytest.fixture
def serve() -> Iterator:
    started: list[ScriptedServer] = []

    def start(scripts: dict[str, list[tuple]]) -> ScriptedServer:
        server = ScriptedServer(scripts)
        server.thread.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.httpd.shutdown()
        server.httpd.server_close()


def openai_backend(server: ScriptedServer, **kwargs) -> OpenAIBackend:
    options = {"timeout": 2.0, "max_retries": 3, "backoff": 0.01, "max_workers": 4}
    options.update(kwargs)
    return OpenAIBackend(server.base_url, model="scripted-model", **options)


def test_openai_each_unique_report_once_and_rerun_makes_no_call(tmp_path, serve) -> None:
    reports = [f"report {index % 5}" for index in range(20)]
    server = serve({})
    cache_path = tmp_path / "cache.sqlite"
    extractor = LLMExtractor(openai_backend(server), cache=cache_path, progress=False)
    results = extractor.extract_batch(reports)
    assert results == [[Entity("sinus rhythm", "rhythm", "present")]] * 20
    assert len(server.requests) == 5 and sorted(set(server.requests)) == sorted(set(reports))
    assert extractor.last_stats.model_calls == 5
    rerun = LLMExtractor(openai_backend(server), cache=cache_path, progress=False)
    assert rerun.extract_batch(reports) == results
    assert len(server.requests) == 5 and rerun.last_stats.model_calls == 0 and rerun.last_stats.cache_hits == 5


def test_openai_transport_errors_are_retried_with_backoff(serve) -> None:
    server = serve({
        "flaky": [("status", 500), ("status", 503), ("ok", VALID)],
        "slow": [("sleep", 1.0), ("ok", VALID)],
        "broken envelope": [("envelope", "<html>proxy error</html>"), ("ok", VALID)],
    })
    extractor = LLMExtractor(openai_backend(server, timeout=0.3), progress=False)
    results = extractor.extract_batch(["flaky", "slow", "broken envelope"])
    assert results == [[Entity("sinus rhythm", "rhythm", "present")]] * 3
    assert (server.count("flaky"), server.count("slow"), server.count("broken envelope")) == (3, 2, 2)
    assert extractor.last_stats.failures == []


def test_openai_invalid_answers_are_retried_then_recorded(tmp_path, serve) -> None:
    out_of_schema = '{"entities": [{"name": "sinus rhythm", "category": "heart", "status": "present"}]}'
    server = serve({
        "malformed then valid": [("ok", "Sure! Here are the entities: sinus rhythm"), ("ok", VALID)],
        "always malformed": [("ok", '{"entities": [')],
        "always out of schema": [("ok", out_of_schema)],
    })
    cache_path = tmp_path / "cache.sqlite"
    extractor = LLMExtractor(openai_backend(server), cache=cache_path, max_attempts=3, progress=False)
    results = extractor.extract_batch(["malformed then valid", "always malformed", "always out of schema"])
    assert results == [[Entity("sinus rhythm", "rhythm", "present")], [], []]
    assert (
        server.count("malformed then valid"), server.count("always malformed"), server.count("always out of schema")
    ) == (2, 3, 3)
    failures = {failure.report: failure for failure in extractor.last_stats.failures}
    assert (
        failures["always malformed"].raw_answer == '{"entities": ['
        and "not valid JSON" in failures["always malformed"].error
    )
    assert (
        failures["always out of schema"].raw_answer == out_of_schema
        and "category" in failures["always out of schema"].error
    )
    stored = {answer.report: answer for answer in AnswerCache(cache_path).failures()}
    assert set(stored) == {"always malformed", "always out of schema"}
    # Recorded failures are not asked again unless requested.
    LLMExtractor(openai_backend(server), cache=cache_path, progress=False).extract_batch(["always malformed"])
    assert server.count("always malformed") == 3
    LLMExtractor(
        openai_backend(server), cache=cache_path, max_attempts=1, retry_failures=True, progress=False
    ).extract_batch(["always malformed"])
    assert server.count("always malformed") == 4


def test_openai_unreachable_reports_are_not_cached_and_resume(tmp_path, serve) -> None:
    server = serve({"down": [("status", 500)]})
    cache_path = tmp_path / "cache.sqlite"
    extractor = LLMExtractor(openai_backend(server, max_retries=1), cache=cache_path, progress=False)
    assert extractor.extract_batch(["down", "up"]) == [[], [Entity("sinus rhythm", "rhythm", "present")]]
    (failure,) = extractor.last_stats.failures
    assert failure.report == "down" and not failure.cached and "HTTP 500" in failure.error
    assert server.count("down") == 2
    cache = AnswerCache(cache_path)
    assert cache.get(extractor.key("down")) is None and cache.get(extractor.key("up")).ok
    # The server recovers: the next run asks only for the missing report.
    server.scripts["down"] = [("ok", VALID)]
    resumed = LLMExtractor(openai_backend(server), cache=cache_path, progress=False)
    assert resumed.extract_batch(["down", "up"]) == [[Entity("sinus rhythm", "rhythm", "present")]] * 2
    assert server.count("down") == 3 and server.count("up") == 1


def test_cache_key_depends_on_report_prompt_version_and_model() -> None:
    keys = {cache_key("r", "v1", "m"), cache_key("r ", "v1", "m"), cache_key("r", "v2", "m"), cache_key("r", "v1", "n")}
    assert len(keys) == 4
