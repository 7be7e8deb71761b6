"""A chat backend for the LLM extraction tests that needs no server."""

from __future__ import annotations


class FailingBackend:
    """A chat backend that cannot be reached for the `failing` reports and states sinus rhythm for the others."""

    model_id = "stub"
    max_workers = 1

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing

    def complete(self, messages, schema) -> str:
        from modeling_supreme.entities import BackendError

        if messages[1]["content"].split("\n", 1)[1] in self.failing:
            raise BackendError("stub: the model cannot be reached")
        return '{"entities": [{"name": "sinus rhythm", "category": "rhythm", "status": "present"}]}'
