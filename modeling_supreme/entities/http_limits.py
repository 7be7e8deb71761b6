"""Limits of one HTTP request to a model server that the HTTP client does not give: a deadline for the whole
request (`RequestDeadline`) and the wait a server asks for before a retry (`retry_after_seconds`)."""

from __future__ import annotations

import datetime
import email.utils
import math
import socket
import threading
from typing import Any, Optional


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """Seconds a `Retry-After` header asks to wait: a number of seconds or an HTTP date; None when absent or not
    understood (the backoff applies then)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        seconds = (moment - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class RequestDeadline:
    """Ends one request at its deadline whatever the server does. httpx's timeout bounds each read, so a server that
    sends a byte every few seconds would hold a request for ever; when the deadline passes, the socket of the
    request's connection (caught through httpcore's `trace` extension as the connection opens) is shut down, which
    ends the blocked read at once. Use as a context manager around the request; pass `trace` as its extension."""

    _OPENED = ("connection.connect_tcp.complete", "connection.start_tls.complete")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._socket: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event not in self._OPENED or info.get("return_value") is None:
            return
        connection_socket = info["return_value"].get_extra_info("socket")
        with self._lock:
            self._socket = connection_socket
            expired = self.expired
        if expired:  # the deadline passed while the connection was opening
            _shut_down(connection_socket)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connection_socket = self._socket
        _shut_down(connection_socket)

    def __enter__(self) -> "RequestDeadline":
        self._timer.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._timer.cancel()
        self._timer.join()


def _shut_down(connection_socket: Any) -> None:
    if connection_socket is None:
        return
    try:
        connection_socket.shutdown(socket.SHUT_RDWR)
    except OSError:  # closed already: the request has ended
        pass


__all__ = ["RequestDeadline", "retry_after_seconds"]
