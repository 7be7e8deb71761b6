"""Chat-model backends of the LLM extractor: a local `transformers` model, or any OpenAI-compatible endpoint.

A backend turns chat messages into the model's raw answer text (`complete`). It retries transport problems
itself (HTTP 5xx / 429, timeouts, broken response envelopes) and raises `BackendError` when they persist; judging
the answer (JSON, schema) is the extractor's job.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import random
import threading
import time
from typing import Any, Callable, Optional, Protocol, Sequence

from .http_limits import RequestDeadline, retry_after_seconds
from .schema import EntityValidationError, parse_json_text

logger = logging.getLogger(__name__)

Messages = Sequence[dict[str, str]]


class BackendError(RuntimeError):
    """The model could not be reached or did not answer (after the backend's own retries)."""


class ChatBackend(Protocol):
    """What the extractor needs from a backend."""

    model_id: str
    max_workers: int

    def complete(self, messages: Messages, schema: dict[str, Any]) -> str:
        """The model's answer text to `messages`; `schema` is the JSON schema the answer should follow."""


class _TransportProblem(Exception):
    """One request got no usable response (timeout, deadline, connection, undecodable body); it is retried."""


def _excerpt(body: bytes, limit: int = 200) -> str:
    return body[:limit].decode("utf-8", "replace")


def _check_options(**values: float) -> None:
    """ValueError naming every option of `OpenAIBackend` whose value is out of range, before any request."""
    low = {"timeout": 0.0, "max_retries": 0, "backoff": 0.0, "max_backoff": 0.0, "max_workers": 1, "max_tokens": 1,
           "max_response_bytes": 1, "temperature": 0.0}
    open_low = {"timeout"}
    problems = [
        f"{name} must be {'above' if name in open_low else 'at least'} {low[name]}, got {value}"
        for name, value in values.items()
        if not (math.isfinite(value) and (value > low[name] if name in open_low else value >= low[name]))
    ]
    if problems:
        raise ValueError("; ".join(problems))


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint (vLLM, TGI, llama.cpp server, Ollama, ...), through httpx.

    Args:
        base_url: the API root, e.g. "http://localhost:8000/v1" (requests go to `{base_url}/chat/completions`).
        model: the model name the server expects; also the cache's model id.
        api_key: sent as a Bearer token when given.
        timeout: seconds for one request, from connecting to the last byte of the answer (a deadline: a server that
            drip-feeds its answer is cut off too).
        max_retries: extra tries after an HTTP 429 / 5xx, a timeout, a connection error or a broken envelope.
        backoff: first wait in seconds; doubled at each retry (with jitter), capped by `max_backoff`.
        max_backoff: the longest wait; a server's `Retry-After` (HTTP 429 / 5xx) is honoured up to it.
        max_workers: concurrent requests the extractor may send.
        response_format: "json_schema" (the server constrains decoding to the schema), "json_object" or "none".
        max_tokens: answer length limit.
        max_response_bytes: the largest response body read (decompressed); a larger one is refused as it arrives
            (never held whole) and the report is a recorded failure.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: Optional[str] = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_workers: int = 8,
        response_format: str = "json_schema",
        max_tokens: int = 1024,
        temperature: float = 0.0,
        max_response_bytes: int = 1 << 20,
    ) -> None:
        import httpx

        _check_options(
            timeout=timeout, max_retries=max_retries, backoff=backoff, max_backoff=max_backoff, max_workers=max_workers,
            max_tokens=max_tokens, max_response_bytes=max_response_bytes, temperature=temperature,
        )
        if response_format not in ("json_schema", "json_object", "none"):
            raise ValueError(f"response_format must be json_schema, json_object or none, got {response_format!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model_id = model
        self.max_workers = max_workers
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.response_format = response_format
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_response_bytes = max_response_bytes
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._httpx = httpx
        self.timeout = timeout
        # httpx's timeout bounds each read, `RequestDeadline` the whole request. It needs the socket of each
        # request's connection, seen when the connection opens: one connection per request (no keep-alive), which
        # costs a TCP (and TLS) set-up per report, little beside the model's answer.
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout), headers=headers, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def _payload(self, messages: Messages, schema: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model_id,
            "messages": list(messages),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.response_format == "json_schema":
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "ecg_entities", "schema": schema, "strict": True},
            }
        elif self.response_format == "json_object":
            payload["response_format"] = {"type": "json_object"}
        return payload

    def complete(self, messages: Messages, schema: dict[str, Any]) -> str:
        payload = self._payload(messages, schema)
        problem, retry_after = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._wait(attempt, problem, retry_after)
            retry_after = None
            try:
                status, headers, body = self._post(payload)
            except _TransportProblem as error:
                problem = str(error)
                continue
            if status == 429 or status >= 500:
                problem = f"HTTP {status}: {_excerpt(body)}"
                retry_after = headers.get("retry-after")
                continue
            if status >= 400:
                raise BackendError(f"{self.url} refused the request: HTTP {status}: {_excerpt(body, 500)}")
            try:
                return answer_content(body)
            except EntityValidationError as error:
                problem = f"broken response envelope ({error}): {_excerpt(body)}"
        raise BackendError(f"{self.url}: no answer after {self.max_retries + 1} tries; last problem: {problem}")

    def _post(self, payload: dict[str, Any]) -> tuple[int, Any, bytes]:
        """Status, headers and body of one request, within its deadline (`timeout`).

        Raises:
            _TransportProblem: a timeout, the deadline, a connection error or an undecodable body (retried).
        """
        httpx = self._httpx
        with RequestDeadline(self.timeout) as deadline:
            try:
                with self._client.stream(
                    "POST", self.url, json=payload, extensions={"trace": deadline.trace}
                ) as response:
                    return response.status_code, response.headers, self._bounded_body(response)
            except httpx.TransportError as error:  # timeouts included
                if deadline.expired:
                    raise _TransportProblem(f"no complete answer within the deadline of {self.timeout:g} s") from error
                kind = "timeout" if isinstance(error, httpx.TimeoutException) else "connection error"
                raise _TransportProblem(f"{kind} ({error!r})") from error
            except httpx.DecodingError as error:
                raise _TransportProblem(
                    f"the response body cannot be decoded as its Content-Encoding says ({error})"
                ) from error

    def _bounded_body(self, response: Any) -> bytes:
        """The (decoded) body, read only while it stays within `max_response_bytes`; BackendError beyond."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise BackendError(self._too_large(f"announces {declared} bytes"))
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise BackendError(self._too_large(f"sent more than {self.max_response_bytes} bytes"))
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, what: str) -> str:
        return (f"{self.url}: the response {what}, larger than max_response_bytes={self.max_response_bytes} "
                f"(an answer of max_tokens={self.max_tokens} takes a few kB); refused")

    def _wait(self, attempt: int, problem: str, retry_after: Optional[str] = None) -> None:
        """Sleep before retry `attempt`: exponential backoff with jitter, or longer when the server's `Retry-After`
        asks so (honoured up to `max_backoff`; beyond it the wait is capped and the log says so)."""
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        asked = retry_after_seconds(retry_after)
        note = ""
        if asked is not None:
            note = f" (Retry-After: {retry_after[:40]}"
            if asked > self.max_backoff:
                note += f", capped at {self.max_backoff:g} s)"
                delay = self.max_backoff
            else:
                note += ")"
                delay = max(delay, asked)
        logger.warning("%s: %s; retry %d/%d in %.2f s%s", self.url, problem, attempt, self.max_retries, delay, note)
        time.sleep(delay)

    def close(self) -> None:
        self._client.close()


class TransformersBackend:
    """A local chat model through transformers, prompted with its chat template; greedy decoding.

    Constrained decoding: with `constrained=True` (or "auto" and `lm-format-enforcer` installed, the `llm`
    extra) only tokens that keep the answer a valid prefix of the JSON schema are allowed, so a finished answer
    always parses. lm-format-enforcer's own transformers integration imports a module that transformers 5
    removed, so its core (`TokenEnforcer`, `JsonSchemaParser`) is wired here with the same token table it builds.
    An answer cut by `max_new_tokens` is still invalid; the extractor retries and then records it.

    Args:
        model: a causal LM or a local folder / Hub id to load one from.
        tokenizer: its tokenizer (loaded from `model` when a path is given); it needs a chat template.
        max_new_tokens: answer length limit.
        constrained: True, False or "auto".
        model_id: the cache's model id (default: the model's `name_or_path`).
    """

    max_workers = 1

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        max_new_tokens: int = 512,
        constrained: "bool | str" = "auto",
        model_id: Optional[str] = None,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(model, str):
            tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(model)
            model = AutoModelForCausalLM.from_pretrained(model)
        if tokenizer is None:
            raise ValueError("TransformersBackend needs the model's tokenizer when given a model object.")
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                f"The tokenizer of {model.name_or_path!r} has no chat template; set tokenizer.chat_template."
            )
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.model_id = model_id or str(getattr(model, "name_or_path", "") or type(model).__name__)
        self.constrained = _resolve_constrained(constrained)
        self._tokenizer_data: Any = None
        self._lock = threading.Lock()

    def complete(self, messages: Messages, schema: dict[str, Any]) -> str:
        import torch

        inputs = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        inputs = {name: value.to(self.model.device) for name, value in inputs.items()}
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": False}
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        if pad_id is not None:
            kwargs["pad_token_id"] = pad_id
        if self.constrained:
            kwargs["prefix_allowed_tokens_fn"] = self._allowed_tokens_function(schema)
        # generate() is not re-entrant on one model; the extractor uses one worker, the lock makes it safe anyway.
        with self._lock, torch.no_grad():
            output = self.model.generate(**inputs, **kwargs)
        prompt_length = inputs["input_ids"].shape[1]
        return self.tokenizer.decode(output[0, prompt_length:], skip_special_tokens=True)

    def _allowed_tokens_function(self, schema: dict[str, Any]) -> Callable[[int, Any], list[int]]:
        from lmformatenforcer import JsonSchemaParser, TokenEnforcer

        if self._tokenizer_data is None:
            self._tokenizer_data = _token_enforcer_data(self.tokenizer)
        enforcer = TokenEnforcer(self._tokenizer_data, JsonSchemaParser(schema))

        def allowed_tokens(batch_id: int, sequence: Any) -> list[int]:
            return enforcer.get_allowed_tokens(sequence.tolist()).allowed_tokens

        return allowed_tokens


def answer_content(body: bytes) -> str:
    """The answer text of an OpenAI chat completion body, `choices[0].message.content`.

    Raises:
        EntityValidationError: the body is not JSON (also: nested too deeply, huge integers) or lacks the field.
    """
    envelope = parse_json_text(body, "The response body")
    try:
        return str(envelope["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError) as error:
        raise EntityValidationError(f"the response has no choices[0].message.content ({error!r})") from error


def _resolve_constrained(constrained: "bool | str") -> bool:
    if constrained not in (True, False, "auto"):
        raise ValueError(f"constrained must be True, False or 'auto', got {constrained!r}")
    available = importlib.util.find_spec("lmformatenforcer") is not None
    if constrained is True and not available:
        raise ImportError("Constrained decoding needs lm-format-enforcer: pip install 'modeling-supreme[llm]'.")
    if constrained == "auto" and not available:
        logger.warning("lm-format-enforcer is not installed: plain generation, answers are validated and retried.")
    return bool(constrained) and available


def _token_enforcer_data(tokenizer: Any) -> Any:
    """lm-format-enforcer's token table: (id, text when it follows another token, starts a word) per token."""
    from lmformatenforcer import TokenEnforcerTokenizerData

    anchor = tokenizer.encode("0", add_special_tokens=False)[-1]
    special = set(tokenizer.all_special_ids)
    regular = []
    for token_id in range(len(tokenizer)):
        if token_id in special:
            continue
        # Decoding after an anchor token keeps the leading space a word-start token carries.
        after_anchor = tokenizer.decode([anchor, token_id])[1:]
        alone = tokenizer.decode([token_id])
        regular.append((token_id, after_anchor, len(after_anchor) > len(alone)))
    if tokenizer.eos_token_id is None:
        raise ValueError("Constrained decoding needs a tokenizer with an end-of-sequence token.")

    def decode(token_ids: list[int]) -> str:
        return tokenizer.decode(token_ids).rstrip("\ufffd")

    return TokenEnforcerTokenizerData(regular, decode, tokenizer.eos_token_id, False, len(tokenizer))


__all__ = ["BackendError", "ChatBackend", "Messages", "OpenAIBackend", "TransformersBackend"]
