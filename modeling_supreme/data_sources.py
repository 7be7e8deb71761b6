"""Where the third-party data the package uses come from: one resolver for each external resource.

The package ships no dataset. PTB-XL 1.0.3 (PhysioNet, CC BY 4.0) and MERL's benchmark label tables and CKEPE prompts
(cheliu-computation/MERL, MIT) are found, in this order:

1. `SUPREME_DATA_DIR`: a local folder with the layout `ptbxl-sample/`, `ptbxl-more/`, `ptbxl-reports/`,
   `benchmark-splits/`, `ckepe-prompts/`. When it is set, it is the only source: a missing folder, a missing file or a
   file that does not match the folder's own `SHA256SUMS` is an error naming the path (never a silent download).
2. The user cache, `$SUPREME_CACHE` (default `$XDG_CACHE_HOME/modeling_supreme`, i.e. `~/.cache/modeling_supreme`).
3. A download from the original source into that cache: PhysioNet (verified against its published `SHA256SUMS.txt`),
   MERL's repository at a fixed commit (verified against the hashes kept below); resumable, atomic, with a progress
   bar. `HF_HUB_OFFLINE=1` turns downloads off; then, as when the network fails, the error names the resource, the URL
   and `SUPREME_DATA_DIR`.

`SUPREME_PTBXL_URL` and `SUPREME_MERL_URL` replace the two base URLs (a mirror, or a local server in the tests).

    python -m modeling_supreme.data_sources ptbxl-sample     # prints the folder (downloads it if needed)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .downloads import NETWORK_ERRORS, ChecksumMismatch, download_file, read_checksum_list, sha256_of

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "SUPREME_DATA_DIR"
CACHE_ENV = "SUPREME_CACHE"
PTBXL_URL_ENV = "SUPREME_PTBXL_URL"
MERL_URL_ENV = "SUPREME_MERL_URL"
OFFLINE_ENV = "HF_HUB_OFFLINE"

PTBXL_VERSION = "1.0.3"
PTBXL_URL = f"https://physionet.org/files/ptb-xl/{PTBXL_VERSION}/"
PTBXL_SUMS = "SHA256SUMS.txt"  # PhysioNet's list, at the root of the dataset
LOCAL_SUMS = "SHA256SUMS"  # a local folder's own list (sha256sum format)
MERL_COMMIT = "38799b7"
MERL_URL = f"https://raw.githubusercontent.com/cheliu-computation/MERL/{MERL_COMMIT}/"

PTBXL_SAMPLE = "ptbxl-sample"
PTBXL_MORE = "ptbxl-more"
PTBXL_REPORTS = "ptbxl-reports"
BENCHMARK_SPLITS = "benchmark-splits"
CKEPE_PROMPTS = "ckepe-prompts"
CKEPE_FILE = "CKEPE_prompt.json"

DATABASE_FILE = "ptbxl_database.csv"
STATEMENTS_FILE = "scp_statements.csv"
PTBXL_METADATA = (DATABASE_FILE, STATEMENTS_FILE)
# The sample the demo and the tests use: PTB-XL's first 400 records (both rates exist for each).
SAMPLE_ECG_IDS = range(1, 401)
# Reports for developing entity extraction: the records after the sample, in the training folds only.
REPORTS_MIN_ECG_ID, REPORTS_MAX_FOLD = 401, 8
_RATE_FOLDERS = {100: ("records100", "lr"), 500: ("records500", "hr")}

# MERL's files: path in a local folder -> (path in the MERL repository at MERL_COMMIT, SHA-256). Hashes are facts
# about those files, kept so that a download is verified; the files themselves are not redistributed.
_SPLITS_IN_MERL = "finetune/data_split/"
MERL_FILES: dict[str, dict[str, tuple[str, str]]] = {
    BENCHMARK_SPLITS: {
        name: (_SPLITS_IN_MERL + name, digest)
        for name, digest in {
            "chapman/chapman_test.csv": "a51df50676226bd7697845fc15036356a56af9379c3efaa917f1dbff274d1236",
            "chapman/chapman_train.csv": "8cb268dd4a1e87ea527c4ad57f23baafc4ba72c08edf0ffe2d13cbf6aa299572",
            "chapman/chapman_val.csv": "2f611e3447008d36eaa10a33675127d57c90a156894577167a7932057a7ef8a8",
            "icbeb/icbeb_test.csv": "ef85abba57aedba8bf857cf843457b5732f68adfd27b0f45af408870d4210a7f",
            "icbeb/icbeb_train.csv": "013fa62513598e7a141d5ea810f73b6b75cdddbab25e11bcbbcdf84a18f000de",
            "icbeb/icbeb_val.csv": "17fc4f6f95aa818e147ff3b6d5c314c9ae4301989469a0488aaa19638d3e44c8",
            "ptbxl/form/ptbxl_form_test.csv": "533fc6f96c4dde42cd7e1722a0180ee405a8b22ca75225f5700fd7012049b17c",
            "ptbxl/form/ptbxl_form_train.csv": "4b2b1d0c3398b897f15a4902f993137ecb24563a223251b6319fb64ac4fd2da7",
            "ptbxl/form/ptbxl_form_val.csv": "50c614246753bda0e123528e4d79fad861e870ae17105c136c6a0776996ff6c5",
            "ptbxl/rhythm/ptbxl_rhythm_test.csv": "da18b3ecf6c8260a9986437d3a38dd522eb1aab8f5e4439d7bbaf28d172240b0",
            "ptbxl/rhythm/ptbxl_rhythm_train.csv": "ed76e6459be242953504d2a702a383bd0593b53bc2fffa941aadb11c6d192d32",
            "ptbxl/rhythm/ptbxl_rhythm_val.csv": "a6386ab392844d7cccd358f2fac8aeb0dcff0240be0a3b0e1188807d2e3ad390",
            "ptbxl/sub_class/ptbxl_sub_class_test.csv":
                "2394d07f10150a9853fa985d30959a348c2553207367860042d48d3108a4c013",
            "ptbxl/sub_class/ptbxl_sub_class_train.csv":
                "6df73dd4a5f638525c8a346614dbf5a8992d8862efeacc8d2b11efc6addcce9a",
            "ptbxl/sub_class/ptbxl_sub_class_val.csv":
                "b79acabc92088e400273392adb87e16be3c74695572a174efe7359f97eca1c8c",
            "ptbxl/super_class/ptbxl_super_class_test.csv":
                "1646fae11e3fad3f7a98a34f4af5ab0c86e64ad06eba6861cad26831a5f0f617",
            "ptbxl/super_class/ptbxl_super_class_train.csv":
                "81c0b53f7500107cfcf3433ad7cfcbc4622d300171f9cfc8ddeeccd5e6ee53a5",
            "ptbxl/super_class/ptbxl_super_class_val.csv":
                "d852fcc62edcdd4785f64cddeb24ef1c84435350bc34ccbef9b3fedfc3bd63b1",
        }.items()
    },
    CKEPE_PROMPTS: {
        CKEPE_FILE: ("zeroshot/" + CKEPE_FILE, "468b9b23220bbc6190618db6e0138ae34d95097456214a1b12cd0d1ad30e233c"),
    },
}


class DataSourceError(RuntimeError):
    """An external resource could not be found, verified or downloaded; the message says where it was looked for."""


# ----------------------------------------------------------------------------------------------------------------------
# Locations
# ----------------------------------------------------------------------------------------------------------------------


def data_dir() -> Path | None:
    """The folder named by `SUPREME_DATA_DIR` (absolute), or None when it is unset or empty.

    Raises:
        DataSourceError: it is set but is not an existing folder.
    """
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    if not value:
        return None
    folder = Path(value).expanduser().resolve()
    if not folder.is_dir():
        raise DataSourceError(f"{DATA_DIR_ENV}={value}: {folder} is not an existing folder")
    return folder


def cache_dir() -> Path:
    """The user cache: `$SUPREME_CACHE`, else `$XDG_CACHE_HOME/modeling_supreme`, else `~/.cache/modeling_supreme`."""
    if value := os.environ.get(CACHE_ENV, "").strip():
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(base).expanduser() / "modeling_supreme"


def downloads_disabled() -> bool:
    """True when `HF_HUB_OFFLINE` asks for no network (the Hugging Face stack's switch, honoured here too)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _base_url(variable: str, default: str) -> str:
    value = os.environ.get(variable, "").strip()
    return value.rstrip("/") + "/" if value else default


def _local_folder(name: str) -> Path | None:
    """`SUPREME_DATA_DIR/name`, None when the variable is unset; an error when that folder is missing."""
    root = data_dir()
    if root is None:
        return None
    folder = root / name
    if not folder.is_dir():
        raise DataSourceError(f"{DATA_DIR_ENV}={root} has no {name}/ folder ({folder} is missing)")
    return folder


# ----------------------------------------------------------------------------------------------------------------------
# Local folders: presence and their own checksums
# ----------------------------------------------------------------------------------------------------------------------


def _first_five(names: Sequence[str]) -> str:
    """File names for a message: the first five, then how many more."""
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _require_files(folder: Path, files: Iterable[str], what: str) -> None:
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise DataSourceError(f"{folder} lacks {len(missing)} file(s) of {what}: {_first_five(missing)}")


def _stamp_key(folder: Path, names: Sequence[str]) -> str:
    """What a verification depends on: every listed file's size and modification time, and the list's."""
    digest = hashlib.sha256()
    for name in (LOCAL_SUMS, *names):
        status = (folder / name).stat()
        digest.update(f"{name}\t{status.st_size}\t{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def verify_local_folder(folder: str | Path, files: Iterable[str] | None = None) -> None:
    """Check `files` (relative paths; None: every file the list names) against `folder/SHA256SUMS`, when the folder
    has one. Requested files are hashed every time; a whole-folder check is remembered in the user cache, keyed on
    the sizes and modification times of the listed files, so that it costs only a `stat` per file when nothing moved.

    Raises:
        DataSourceError: a listed file is missing or does not match (the message names it).
    """
    folder = Path(folder)
    sums_path = folder / LOCAL_SUMS
    if not sums_path.is_file():
        return
    sums = read_checksum_list(sums_path)
    names = sorted(sums) if files is None else [name for name in files if name in sums]
    _require_files(folder, names, f"its {LOCAL_SUMS}")
    stamp = cache_dir() / "verified" / hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:32]
    key = _stamp_key(folder, names) if files is None else None
    if key is not None and stamp.is_file() and stamp.read_text() == key:
        return
    wrong = [name for name in names if sha256_of(folder / name) != sums[name]]
    if wrong:
        raise DataSourceError(f"{folder}: {len(wrong)} file(s) do not match {sums_path}: {_first_five(wrong)}")
    if key is not None:
        try:
            _write_atomically(stamp, key)
        except OSError as error:  # a read-only cache only costs the next call a full check
            logger.debug("cannot write the verification stamp %s: %s", stamp, error)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _local_files(name: str, files: Sequence[str] | None, what: str) -> Path | None:
    """The local folder `name` holding `files` (None: whatever it holds), verified; None without SUPREME_DATA_DIR."""
    folder = _local_folder(name)
    if folder is None:
        return None
    if files is not None:
        _require_files(folder, files, what)
    verify_local_folder(folder, files)
    return folder


# ----------------------------------------------------------------------------------------------------------------------
# Downloads into the cache
# ----------------------------------------------------------------------------------------------------------------------


def _fetch(resource: str, url: str, target: Path, sha256: str | None, progress: bool) -> None:
    """Download one file of `resource`, or fail with the error that names the resource, the URL and the variable."""
    hint = f"set {DATA_DIR_ENV} to a local copy (see docs/data.md), or cache the file at {target}"
    if downloads_disabled():
        raise DataSourceError(f"{resource}: {target} is not cached and downloads are off ({OFFLINE_ENV}=1); "
                              f"it comes from {url}: {hint}")
    logger.info("downloading %s", url)
    try:
        download_file(url, target, sha256, progress=progress)
    except ChecksumMismatch as error:
        raise DataSourceError(f"{resource}: {error}") from error
    except NETWORK_ERRORS as error:
        raise DataSourceError(f"{resource}: could not download {url} ({error}): {hint}") from error


def _fetch_missing(resource: str, folder: Path, files: dict[str, tuple[str, str | None]], progress: bool) -> None:
    """files: local relative path -> (URL, SHA-256); downloads those not yet in `folder`."""
    for name, (url, sha256) in files.items():
        if not (folder / name).is_file():
            _fetch(resource, url, folder / name, sha256, progress)


def _ptbxl_cache() -> Path:
    return cache_dir() / f"ptb-xl-{PTBXL_VERSION}"


def _ptbxl_downloads(names: Sequence[str], folder: Path, progress: bool) -> None:
    """PhysioNet's files `names` (paths in PTB-XL 1.0.3) into `folder` unless there, verified against the published
    SHA256SUMS.txt (fetched first, once, into the cache)."""
    resource, base = f"PTB-XL {PTBXL_VERSION}", _base_url(PTBXL_URL_ENV, PTBXL_URL)
    missing = [name for name in names if not (folder / name).is_file()]
    if not missing:
        return
    sums_path = _ptbxl_cache() / "physionet" / PTBXL_SUMS
    if not sums_path.is_file():
        _fetch(resource, base + PTBXL_SUMS, sums_path, None, progress)
    sums = read_checksum_list(sums_path)
    unknown = [name for name in missing if name not in sums]
    if unknown:
        raise DataSourceError(f"{resource}: {base + PTBXL_SUMS} lists no {', '.join(unknown[:5])}")
    _fetch_missing(resource, folder, {name: (base + name, sums[name]) for name in missing}, progress)


def record_files(ecg_ids: Iterable[int], rates: Iterable[int]) -> list[str]:
    """Relative paths of the `.hea` and `.dat` files of PTB-XL records in PTB-XL's layout."""
    files = []
    for rate in rates:
        if rate not in _RATE_FOLDERS:
            raise DataSourceError(f"PTB-XL has records at {sorted(_RATE_FOLDERS)} Hz, not {rate}")
        folder, suffix = _RATE_FOLDERS[rate]
        for ecg_id in ecg_ids:
            stem = f"{folder}/{(ecg_id // 1000) * 1000:05d}/{ecg_id:05d}_{suffix}"
            files += [f"{stem}.hea", f"{stem}.dat"]
    return files


def write_database_rows(source: Path, target: Path, keep) -> None:
    """Copy the header and the rows of `source` (a PTB-XL database CSV, one line per row) for which `keep(row)`
    is true, byte for byte."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(csv.reader(lines[:1]))
    kept = [line for line in lines[1:] if keep(dict(zip(header, next(csv.reader([line])))))]
    _write_atomically(target, lines[0] + "".join(kept))


# ----------------------------------------------------------------------------------------------------------------------
# The resources
# ----------------------------------------------------------------------------------------------------------------------


def ptbxl_folder(
    ecg_ids: Iterable[int] | None = None, rates: Sequence[int] = (100,), local_name: str = PTBXL_SAMPLE,
    progress: bool = True,
) -> Path:
    """A folder in PTB-XL 1.0.3's layout (`ptbxl_database.csv`, `scp_statements.csv`, `records100/`, `records500/`)
    holding at least the records `ecg_ids` at `rates` (Hz).

    With `SUPREME_DATA_DIR`: its `local_name` folder (`ptbxl-sample` or `ptbxl-more`) as it is, after checking that
    the requested records are there (None: whatever it holds) and match its `SHA256SUMS`. Otherwise the cache, where
    missing records are downloaded from PhysioNet (None: the 400-record sample); the cache's `ptbxl_database.csv`
    holds the rows of the records it has.
    """
    requested = None if ecg_ids is None else sorted(set(ecg_ids))
    files = None if requested is None else [*PTBXL_METADATA, *record_files(requested, rates)]
    local = _local_files(local_name, files, f"PTB-XL {PTBXL_VERSION} records at {list(rates)} Hz")
    if local is not None:
        return local
    requested = list(SAMPLE_ECG_IDS) if requested is None else requested
    mirror, folder = _ptbxl_cache() / "physionet", _ptbxl_cache() / "subset"
    records = [name for name in record_files(requested, rates) if not (folder / name).is_file()]
    _ptbxl_downloads(PTBXL_METADATA, mirror, progress)
    _ptbxl_downloads(records, folder, progress)
    if records or not (folder / DATABASE_FILE).is_file():
        present = {int(path.name[:5]) for path in folder.glob("records*/*/*.hea")}
        write_database_rows(mirror / DATABASE_FILE, folder / DATABASE_FILE,
                             lambda row: int(row["ecg_id"]) in present)
    if not (folder / STATEMENTS_FILE).is_file():
        _write_atomically(folder / STATEMENTS_FILE, (mirror / STATEMENTS_FILE).read_text(encoding="utf-8"))
    return folder


def ptbxl_reports_folder(progress: bool = True) -> Path:
    """A folder with PTB-XL reports and codes but no signals (`ptbxl_database.csv`, `scp_statements.csv`) for
    developing entity extraction: `SUPREME_DATA_DIR/ptbxl-reports`, or, from PhysioNet's database, the rows with
    `ecg_id` > 400 in folds 1-8 (the folds the benchmark does not evaluate on)."""
    local = _local_files(PTBXL_REPORTS, PTBXL_METADATA, f"PTB-XL {PTBXL_VERSION} reports")
    if local is not None:
        return local
    folder = _ptbxl_cache() / PTBXL_REPORTS
    if not all((folder / name).is_file() for name in PTBXL_METADATA):
        mirror = _ptbxl_cache() / "physionet"
        _ptbxl_downloads(PTBXL_METADATA, mirror, progress)
        _write_atomically(folder / STATEMENTS_FILE, (mirror / STATEMENTS_FILE).read_text(encoding="utf-8"))
        write_database_rows(
            mirror / DATABASE_FILE, folder / DATABASE_FILE,
            lambda row: int(row["ecg_id"]) >= REPORTS_MIN_ECG_ID and int(row["strat_fold"]) <= REPORTS_MAX_FOLD,
        )
    return folder


def ptbxl_report_folders(progress: bool = True) -> list[Path]:
    """The folders of every PTB-XL report the project develops entity extraction on: the sample's and the extra
    reports' (2,803 reports from a local copy)."""
    return [ptbxl_folder(progress=progress), ptbxl_reports_folder(progress)]


def _merl_folder(name: str, files: Sequence[str] | None, progress: bool) -> Path:
    known = MERL_FILES[name]
    wanted = list(known) if files is None else list(files)
    unknown = [file for file in wanted if file not in known]
    if unknown:
        raise DataSourceError(f"{name}: MERL's repository has no {', '.join(unknown)} (known: {', '.join(known)})")
    local = _local_files(name, wanted, f"MERL's {name}")
    if local is not None:
        return local
    folder = cache_dir() / f"merl-{MERL_COMMIT}" / name
    base = _base_url(MERL_URL_ENV, MERL_URL)
    _fetch_missing(f"MERL {name}", folder, {file: (base + known[file][0], known[file][1]) for file in wanted},
                   progress)
    return folder


def benchmark_splits_folder(tables: Sequence[str] | None = None, progress: bool = True) -> Path:
    """The zero-shot benchmark's label tables (MERL, MIT): `SUPREME_DATA_DIR/benchmark-splits`, or MERL's files at
    commit 38799b7 in the cache. `tables`: the relative paths needed (None: all 18)."""
    return _merl_folder(BENCHMARK_SPLITS, tables, progress)


def ckepe_prompts_file(progress: bool = True) -> Path:
    """MERL's zero-shot prompts (CKEPE, MIT): `SUPREME_DATA_DIR/ckepe-prompts/CKEPE_prompt.json`, or MERL's file at
    commit 38799b7 in the cache."""
    return _merl_folder(CKEPE_PROMPTS, [CKEPE_FILE], progress) / CKEPE_FILE


def resolve(name: str, rates: Sequence[int] = (100,), progress: bool = True) -> Path:
    """The path of a resource by its folder name (`ptbxl-sample`, `ptbxl-more`, `ptbxl-reports`, `benchmark-splits`,
    `ckepe-prompts`)."""
    if name in (PTBXL_SAMPLE, PTBXL_MORE):
        if name == PTBXL_MORE and _local_folder(name) is None:
            raise DataSourceError(f"{name} is a local collection (derived files PhysioNet does not publish): set "
                                  f"{DATA_DIR_ENV}, or ask ptbxl_folder() for the ecg_ids you need")
        return ptbxl_folder(None, rates, local_name=name, progress=progress)
    if name == PTBXL_REPORTS:
        return ptbxl_reports_folder(progress)
    if name == BENCHMARK_SPLITS:
        return benchmark_splits_folder(progress=progress)
    if name == CKEPE_PROMPTS:
        return ckepe_prompts_file(progress).parent
    raise DataSourceError(f"unknown resource {name!r}: one of {PTBXL_SAMPLE}, {PTBXL_MORE}, {PTBXL_REPORTS}, "
                          f"{BENCHMARK_SPLITS}, {CKEPE_PROMPTS}")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the folder of a resource, fetching it first when it is neither in SUPREME_DATA_DIR nor cached."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="ptbxl-sample, ptbxl-more, ptbxl-reports, benchmark-splits or ckepe-prompts")
    parser.add_argument("--rates", default="100", help="PTB-XL sampling rates, comma-separated (100, 500)")
    parser.add_argument("--no-progress", action="store_true")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        rates = [int(rate) for rate in arguments.rates.split(",")]
        print(resolve(arguments.name, rates, progress=not arguments.no_progress))
    except DataSourceError as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
