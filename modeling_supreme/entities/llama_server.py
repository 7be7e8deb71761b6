"""Serve a local GGUF chat model over the OpenAI API with llama-cpp-python's server, for the LLM extractor.

    with llama_cpp_server("/models/qwen2.5-1.5b-instruct-q4_k_m.gguf", n_threads=1) as base_url:
        backend = OpenAIBackend(base_url, model=LLAMA_CPP_MODEL_ALIAS, response_format="json_object", max_workers=2)

The server (`python -m llama_cpp.server`, `pip install 'llama-cpp-python[server]'`) runs in its own process group on
127.0.0.1 and a free port; leaving the block stops it (SIGTERM, then SIGKILL), so no process survives. It answers one
request at a time; a second concurrent request waits in its queue, which keeps the model busy between requests.
llama-cpp-python constrains answers with `response_format={"type": "json_object"}` (a JSON grammar); it does not
know the `json_schema` type, which it refuses with HTTP 500 (a validation error; 0.3.36).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

logger = logging.getLogger(__name__)

LLAMA_CPP_MODEL_ALIAS = "local-gguf"
"""Default model name the server answers to (and the cache's model id unless another alias is given)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def llama_cpp_server_command(
    gguf: "str | Path", port: int, model_alias: str = LLAMA_CPP_MODEL_ALIAS, n_threads: int = 1, n_ctx: int = 4096,
    python: str = sys.executable,
) -> list[str]:
    """The command line of `llama_cpp.server` for one GGUF file on 127.0.0.1:`port`."""
    return [
        python, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", model_alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(n_threads), "--n_threads_batch", str(n_threads),
        "--n_ctx", str(n_ctx),
    ]


@contextmanager
def llama_cpp_server(
    gguf: "str | Path",
    model_alias: str = LLAMA_CPP_MODEL_ALIAS,
    n_threads: int = 1,
    n_ctx: int = 4096,
    startup_timeout: float = 600.0,
    log_file: "str | Path | None" = None,
    python: str = sys.executable,
) -> Iterator[str]:
    """Run `llama_cpp.server` on a GGUF file for the duration of the block; yields the API root (".../v1").

    Args:
        gguf: the model file.
        model_alias: the model name requests must use.
        n_threads: CPU threads for prompt processing and generation (1 leaves the other cores to other work).
        n_ctx: context length in tokens (prompt + answer).
        startup_timeout: seconds to wait for the model to load.
        log_file: where the server's output goes (default: discarded).
        python: the interpreter that has llama-cpp-python installed.

    Raises:
        FileNotFoundError: no such GGUF file.
        RuntimeError: the server exited or did not answer within `startup_timeout` (its log is named).
    """
    import httpx

    gguf = Path(gguf)
    if not gguf.is_file():
        raise FileNotFoundError(f"{gguf}: no such GGUF model file")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = llama_cpp_server_command(gguf, port, model_alias, n_threads, n_ctx, python)
    log = open(log_file, "ab") if log_file is not None else subprocess.DEVNULL
    logger.info("Starting %s", " ".join(command))
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_ready(process, base_url, startup_timeout, log_file, httpx)
        yield base_url
    finally:
        stop_process_group(process)
        if log_file is not None:
            log.close()


def _wait_until_ready(
    process: subprocess.Popen, base_url: str, timeout: float, log_file: "str | Path | None", httpx: object
) -> None:
    where = f" (its output: {log_file})" if log_file else ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"llama_cpp.server exited with status {process.returncode} before answering{where}; "
                "is llama-cpp-python[server] installed in this interpreter?"
            )
        try:
            if httpx.get(f"{base_url}/models", timeout=5.0).status_code == 200:  # type: ignore[attr-defined]
                return
        except httpx.TransportError:  # type: ignore[attr-defined]
            pass
        time.sleep(0.5)
    raise RuntimeError(f"llama_cpp.server did not answer at {base_url} within {timeout:.0f} s{where}")


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> Optional[int]:
    """SIGTERM the process group of `process` (started with `start_new_session=True`), SIGKILL after `grace` s."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass
    return process.returncode


__all__ = ["LLAMA_CPP_MODEL_ALIAS", "free_port", "llama_cpp_server", "llama_cpp_server_command", "stop_process_group"]
