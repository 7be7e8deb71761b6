"""Verified, resumable, atomic downloads of single files over HTTP(S), for `data_sources.py`.

A file is written to `<target>.part` (resumed with an HTTP Range request when a part is already there, or after the
connection drops mid-body), its SHA-256 is checked, and only then is it renamed to `target`: a partial or corrupt file
never sits at the final path, and a file whose checksum does not match is deleted.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
# A dropped connection is resumed from the bytes already on disk; this many tries in all for one file.
MAX_ATTEMPTS = 3
TIMEOUT_SECONDS = 60.0
# Errors of the network or of the server: the caller turns them into an error naming the resource.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError)


class ChecksumMismatch(ValueError):
    """A downloaded file's SHA-256 is not the published one (the file has been deleted)."""


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _partial_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _fetch_into(url: str, partial: Path, progress: bool) -> None:
    """Append the bytes of `url` that `partial` lacks (a Range request from its size); restarts from zero when the
    server ignores the range (200 instead of 206). Raises on a dropped connection, leaving what arrived in place."""
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the part already holds the whole file
            return
        raise
    with response:
        resumed = offset and response.status == 206
        length = response.headers.get("Content-Length")
        total = (int(length) + (offset if resumed else 0)) if length is not None else None
        with (
            open(partial, "ab" if resumed else "wb") as stream,
            tqdm(total=total, initial=offset if resumed else 0, unit="B", unit_scale=True, desc=Path(url).name,
                 disable=not progress, leave=False) as bar,
        ):
            while chunk := response.read(CHUNK_BYTES):
                stream.write(chunk)
                bar.update(len(chunk))
    if total is not None and partial.stat().st_size < total:
        raise http.client.IncompleteRead(b"", total - partial.stat().st_size)


def download_file(url: str, target: str | Path, sha256: str | None, progress: bool = True) -> Path:
    """Download `url` to `target`, verified against `sha256` (hex; None only for a checksum list itself), resuming
    an earlier partial download. Returns `target`.

    Raises:
        ChecksumMismatch: the downloaded bytes do not hash to `sha256` (nothing is left behind).
        urllib.error.URLError, http.client.HTTPException, OSError: the network or the server failed (a partial
            file is kept at `<target>.part` for the next try).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(target)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            _fetch_into(url, partial, progress)
            break
        except (http.client.IncompleteRead, ConnectionResetError, TimeoutError) as error:
            if attempt == MAX_ATTEMPTS:
                raise
            logger.warning("%s: connection dropped (%s); resuming from byte %d", url, error, partial.stat().st_size)
    if sha256 is not None:
        found = sha256_of(partial)
        if found != sha256.lower():
            partial.unlink()
            raise ChecksumMismatch(f"{url}: SHA-256 {found} is not the published {sha256}; the download was deleted")
    os.replace(partial, target)
    return target


def read_checksum_list(path: str | Path) -> dict[str, str]:
    """`sha256sum`-style file (`<hex>  <relative path>` per line) -> {relative path: hex}."""
    sums: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) != 64 or not name:
            raise ValueError(f"{path}, line {number}: not '<sha256>  <path>': {line[:80]!r}")
        sums[name.removeprefix("./")] = digest.lower()
    return sums
