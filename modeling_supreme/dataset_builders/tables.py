"""Reading the metadata tables of a source (CSV) and the record paths they list, as a hostile input.

Every problem of a table is a `ValueError` (or `FileNotFoundError`) that names the file: a missing, empty,
non-UTF-8 or unparsable CSV, and missing columns. Record paths listed in a table are resolved under the build's
root; a path that leaves it (absolute, or `..` past the root) becomes a rejection, never a read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

OUTSIDE_ROOT = "outside root"
DUPLICATE_ID = "duplicate id"
MALFORMED_ROW = "malformed row"
EMPTY_REPORT = "empty report"


def _table_error(path: Path, error: Exception) -> Exception:
    """The error a caller sees for a table pandas could not read: it names the file and the problem."""
    if isinstance(error, FileNotFoundError):
        return FileNotFoundError(f"{path}: table not found")
    if isinstance(error, pd.errors.EmptyDataError):
        return ValueError(f"{path}: the CSV is empty (no header line)")
    if isinstance(error, UnicodeDecodeError):
        return ValueError(
            f"{path}: not UTF-8 text (byte {error.start}: {error.reason}); save the table as UTF-8"
        )
    return ValueError(f"{path}: unreadable CSV ({type(error).__name__}: {error})")


# What pandas raises on a table it cannot read (a file missing, empty, in another encoding, or malformed).
_READ_ERRORS = (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError)


def read_csv_table(path: str | Path, required: Collection[str] = (), **read_options: Any) -> pd.DataFrame:
    """`pd.read_csv(path, **read_options)` with errors that name the file.

    Args:
        path: the CSV (UTF-8).
        required: columns the table must have.
        read_options: passed to `pd.read_csv` (not `chunksize`: use `read_csv_chunks`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: empty, not UTF-8, unparsable, or lacking a required column (each names `path`).
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, encoding="utf-8", **read_options)
    except _READ_ERRORS as error:
        raise _table_error(path, error) from error
    require_columns(table.columns, required, path)
    return table


def read_csv_chunks(
    path: str | Path, chunk_rows: int, required: Collection[str] = (), **read_options: Any
) -> Iterator[pd.DataFrame]:
    """The table in chunks of `chunk_rows` rows (bounded memory); errors as in `read_csv_table`, also those met
    while reading later chunks (a decoding error can sit anywhere in the file)."""
    path = Path(path)
    try:
        chunks = pd.read_csv(path, encoding="utf-8", chunksize=chunk_rows, **read_options)
    except _READ_ERRORS as error:
        raise _table_error(path, error) from error
    with chunks:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except _READ_ERRORS as error:
                raise _table_error(path, error) from error
            require_columns(chunk.columns, required, path)
            yield chunk


def row_lines(path: str | Path) -> Iterator[int]:
    """The line of `path` on which each data row starts, as pandas reads the rows: a quoted field may hold line
    breaks (the row goes on over the next lines), blank lines are no rows, and the first row is the header (not
    yielded). Messages that name a row's line then point at the right place in an editor.

    Decoding problems are left to the table reader, which names them; lines without a quote are not scanned
    character by character, so a large table without quotes costs one pass over its lines.
    """
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        quoted = False  # the previous line ended inside a quoted field
        header = True
        start = 0
        for number, line in enumerate(handle, start=1):
            if not quoted:
                if not line.strip():
                    continue
                start = number
            if quoted or '"' in line:
                quoted = _ends_inside_quotes(line, quoted)
            if quoted:
                continue
            if header:
                header = False
                continue
            yield start


def _ends_inside_quotes(line: str, quoted: bool) -> bool:
    """Whether a CSV line (default dialect: `"` quotes, `""` escapes it) ends inside a quoted field, given whether
    it starts inside one. A quote is special only at the start of a field, as in pandas and the csv module."""
    state = "quoted" if quoted else "field start"
    for character in line:
        if state == "field start":
            state = "quoted" if character == '"' else "field start" if character == "," else "unquoted"
        elif state == "unquoted":
            state = "field start" if character == "," else "unquoted"
        elif state == "quoted":
            state = "quote in quoted" if character == '"' else "quoted"
        else:  # a quote inside a quoted field: doubled (escaped) or the closing one
            state = "quoted" if character == '"' else "field start" if character == "," else "unquoted"
    return state == "quoted"


def table_lines(path: str | Path, rows: int) -> list[int]:
    """`row_lines` of a table that pandas read as `rows` rows; where the two disagree (an unusual dialect), rows
    are numbered as if each took one line, with a warning."""
    lines = list(row_lines(path))
    if len(lines) != rows:
        logger.warning("%s: %d rows but %d found by line; rows are numbered from line 2", path, rows, len(lines))
        return list(range(2, rows + 2))
    return lines


def require_columns(columns: Collection[str], required: Collection[str], path: str | Path) -> None:
    """ValueError naming `path` and the missing columns when `columns` lacks any of `required`."""
    missing = sorted(set(required) - set(columns))
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; it has {sorted(map(str, columns))}")


def record_path_under(root: str | Path, listed: str) -> Path:
    """The record a table lists as `listed` (relative to `root`), as a path under `root`.

    The check is lexical (`..` and absolute paths), so a record path a table gives can never leave the root;
    symbolic links inside the root were put there by its owner and are followed (what they point to is checked
    by `read_ecg`: regular files only).

    Raises:
        ValueError: `listed` is empty, absolute, or leaves `root` (names both).
    """
    text = str(listed).strip()
    if not text:
        raise ValueError(f"empty record path (root {root})")
    if os.path.isabs(text) or Path(text).drive:
        raise ValueError(f"record path {text!r} is absolute; paths must be relative to the root {root}")
    base = os.path.normpath(os.path.abspath(root))
    joined = os.path.normpath(os.path.join(base, text))
    if os.path.commonpath([base, joined]) != base or joined == base:
        raise ValueError(f"record path {text!r} leaves the root {root}")
    return Path(root) / os.path.relpath(joined, base)
