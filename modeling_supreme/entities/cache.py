"""Persistent SQLite cache of LLM extraction answers, keyed by report text, prompt version and model.

Every answer is stored as soon as it is known, so an interrupted run resumes where it stopped and a repeated run
makes no model call. A row holds either the validated entities or a failure record (raw answer + error).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from ..batching_supreme import batched
from .schema import Entity, entities_to_dicts

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    report TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    model TEXT NOT NULL,
    ok INTEGER NOT NULL,
    entities TEXT,
    raw_answer TEXT,
    error TEXT,
    attempts INTEGER NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(report: str, prompt_version: str, model: str) -> str:
    """sha256 over (report text, prompt version, model id); any change of the three is a new key."""
    return hashlib.sha256(json.dumps([report, prompt_version, model], ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    """One stored answer: `entities` when `ok`, else the failure (`raw_answer`, `error`)."""

    key: str
    report: str
    prompt_version: str
    model: str
    ok: bool
    entities: tuple[Entity, ...] = ()
    raw_answer: Optional[str] = None
    error: Optional[str] = None
    attempts: int = 1


class AnswerCache:
    """Thread-safe SQLite store of `CachedAnswer` rows (WAL journal, one connection guarded by a lock).

    Args:
        path: the SQLite file (created with its folder); ":memory:" for a throw-away cache.
    """

    def __init__(self, path: "str | Path") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._connection = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            if self.path != ":memory:":
                self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute(_SCHEMA)
            self._connection.commit()
        except sqlite3.DatabaseError as error:
            raise ValueError(f"{self.path}: not a usable SQLite answer cache ({error})") from error

    def get(self, key: str) -> Optional[CachedAnswer]:
        with self._lock:
            row = self._connection.execute(
                "SELECT key, report, prompt_version, model, ok, entities, raw_answer, error, attempts "
                "FROM answers WHERE key = ?",
                (key,),
            ).fetchone()
        return None if row is None else _row_to_answer(row)

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        """Stored answers of the given keys (missing keys are absent from the result)."""
        keys = list(keys)
        found: dict[str, CachedAnswer] = {}
        for chunk in batched(keys, 500):
            with self._lock:
                rows = self._connection.execute(
                    "SELECT key, report, prompt_version, model, ok, entities, raw_answer, error, attempts FROM answers "
                    f"WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            found.update((row[0], _row_to_answer(row)) for row in rows)
        return found

    def put(self, answer: CachedAnswer) -> None:
        """Store (or replace) one answer and commit at once, so that an interruption loses nothing stored."""
        entities = json.dumps(entities_to_dicts(answer.entities), ensure_ascii=False) if answer.ok else None
        with self._lock:
            self._connection.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    answer.key, answer.report, answer.prompt_version, answer.model, int(answer.ok), entities,
                    storable_text(answer.raw_answer), storable_text(answer.error), answer.attempts, time.time(),
                ),
            )
            self._connection.commit()

    def failures(self) -> list[CachedAnswer]:
        """Every stored failure, oldest first."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT key, report, prompt_version, model, ok, entities, raw_answer, error, attempts FROM answers "
                "WHERE ok = 0 ORDER BY created"
            ).fetchall()
        return [_row_to_answer(row) for row in rows]

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def storable_text(text: Optional[str]) -> Optional[str]:
    """`text` as SQLite (UTF-8) can store it: a lone surrogate, which a model's answer can hold, becomes its
    `\\udXXX` escape instead of failing the write (and the run with it)."""
    if text is None or text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _row_to_answer(row: tuple) -> CachedAnswer:
    key, report, prompt_version, model, ok, entities, raw_answer, error, attempts = row
    parsed = tuple(Entity.from_dict(item) for item in json.loads(entities)) if ok and entities else ()
    return CachedAnswer(key, report, prompt_version, model, bool(ok), parsed, raw_answer, error, int(attempts))


__all__ = ["AnswerCache", "CachedAnswer", "cache_key", "storable_text"]
