"""Where the real data of the tests lie, for every test module (a leaf module: helpers and conftest import it).

The data come through `modeling_supreme.data_sources` (`SUPREME_DATA_DIR`, the cache, or a download). The tests work
on a small, fixed view of them, built once into the cache and reused (a few milliseconds when it is there):

- `PTBXL_DIR`: PTB-XL records 1-400 at 100 Hz and 1-40 at 500 Hz (symbolic links), with their database rows;
- `SPLITS_DIR`: the benchmark's label tables cut to that sample: PTB-XL rows with `ecg_id` <= 400, the first 40 rows
  of the CPSC2018 and Chapman tables (their signals are not used);
- `REPORTS_DIR`: the 2,403 extra PTB-XL reports (`ptbxl-reports`), as the resolver gives them.

The names are resolved on first use (module `__getattr__`), so importing this module costs nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from modeling_supreme import data_sources

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_IDS_100HZ = range(1, 401)
SAMPLE_IDS_500HZ = range(1, 41)
OTHER_TABLE_ROWS = 40


def ptbxl_record(ecg_id: int, rate: int = 100) -> Path:
    """Path (without extension) of a sample PTB-XL record; 500 Hz exists for ecg_id 1-40."""
    folder, suffix = ("records100", "lr") if rate == 100 else ("records500", "hr")
    return _ptbxl_dir() / folder / f"{(ecg_id // 1000) * 1000:05d}" / f"{ecg_id:05d}_{suffix}"


def script_command(script: str, *arguments: object) -> list[str]:
    """The command that runs one of the project's scripts (`script` relative to the repository root) with this
    interpreter; arguments are turned into text (paths, numbers)."""
    return [sys.executable, script, *map(str, arguments)]


def _view(name: str, sources: tuple[Path, ...], build: Callable[[Path], None]) -> Path:
    """A folder built by `build(folder)` once for these sources, kept in the cache under a name keyed on them;
    built in a temporary folder and renamed, so that concurrent test runs never see half of it."""
    described = "\n".join(f"{source.resolve()}\t{source.stat().st_mtime_ns}" for source in sources)
    key = hashlib.sha256(described.encode()).hexdigest()[:16]
    target = data_sources.cache_dir() / "test-views" / f"{name}-{key}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        build(staging)
        os.rename(staging, target)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@functools.cache
def _ptbxl_dir() -> Path:
    # The whole sample folder: checked once against its SHA256SUMS, then by a stamp (a stat per file).
    low = data_sources.ptbxl_folder(progress=False)
    high = data_sources.ptbxl_folder(SAMPLE_IDS_500HZ, (500,), progress=False)

    def build(folder: Path) -> None:
        for source, ids, rate in ((low, SAMPLE_IDS_100HZ, 100), (high, SAMPLE_IDS_500HZ, 500)):
            for name in data_sources.record_files(ids, (rate,)):
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).symlink_to(source / name)
        shutil.copy(low / data_sources.STATEMENTS_FILE, folder / data_sources.STATEMENTS_FILE)
        data_sources.write_database_rows(
            low / data_sources.DATABASE_FILE, folder / data_sources.DATABASE_FILE,
            lambda row: int(row["ecg_id"]) in SAMPLE_IDS_100HZ,
        )

    return _view("ptbxl-sample", (low, high), build)


def _cut_table(source: Path, target: Path) -> None:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    if "ecg_id" in header and source.name.startswith("ptbxl_"):
        column = header.index("ecg_id")
        rows = [line for line in lines[1:] if int(line.split(",")[column]) in SAMPLE_IDS_100HZ]
    else:
        rows = lines[1 : OTHER_TABLE_ROWS + 1]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(lines[0] + "".join(rows), encoding="utf-8")


@functools.cache
def _splits_dir() -> Path:
    source = data_sources.benchmark_splits_folder(progress=False)

    def build(folder: Path) -> None:
        for name in data_sources.MERL_FILES[data_sources.BENCHMARK_SPLITS]:
            _cut_table(source / name, folder / name)

    return _view("benchmark-splits", (source,), build)


@functools.cache
def _reports_dir() -> Path:
    return data_sources.ptbxl_reports_folder(progress=False)


_LAZY = {
    "PTBXL_DIR": _ptbxl_dir,
    "SPLITS_DIR": _splits_dir,
    "REPORTS_DIR": _reports_dir,
    "DATA_DIR": data_sources.data_dir,  # the SUPREME_DATA_DIR folder (None when unset)
}


def __getattr__(name: str) -> Path | None:
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
