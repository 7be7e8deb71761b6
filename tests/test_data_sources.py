"""The data resolver: a local SUPREME_DATA_DIR first (checked, never silently bypassed), then the cache, then a
verified, resumable, atomic download, here from a local HTTP server on 127.0.0.1 serving a PhysioNet-shaped and a
MERL-shaped tree (no test touches the network)."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from modeling_supreme import data_sources
from modeling_supreme.data_sources import DataSourceError
from modeling_supreme.dataset_builders import build_arguments as builder_arguments
from modeling_supreme.evaluation import benchmark_arguments
from modeling_supreme.evaluation.scoring import load_label_descriptions
from tests.sample_data import PTBXL_DIR, SPLITS_DIR

PACKAGE = Path(data_sources.__file__).parent
DATABASE = (
    "ecg_id,patient_id,strat_fold,report,filename_lr,filename_hr\n"
    '1,10.0,3,"sinus rhythm, normal ecg",records100/00000/00001_lr,records500/00000/00001_hr\n'
    "2,11.0,10,sinusrhythmus,records100/00000/00002_lr,records500/00000/00002_hr\n"
    "401,12.0,5,atrial fibrillation,records100/00000/00401_lr,records500/00000/00401_hr\n"
    "402,13.0,9,sinus bradycardia,records100/00000/00402_lr,records500/00000/00402_hr\n"
)


def _sums(files: dict[str, bytes]) -> bytes:
    return "".join(f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in sorted(files.items())).encode()


def physionet_tree() -> dict[str, bytes]:
    """PTB-XL 1.0.3's shape: database, statements, two records at 100 Hz, and the published SHA256SUMS.txt."""
    files = {"ptbxl_database.csv": DATABASE.encode(), "scp_statements.csv": b",description\nNORM,normal ECG\n"}
    for ecg_id in (1, 2, 401):
        stem = f"records100/00000/{ecg_id:05d}_lr"
        files[f"{stem}.hea"] = f"{ecg_id:05d}_lr 12 100 1000\n".encode()
        files[f"{stem}.dat"] = bytes(range(256)) * (40 + ecg_id % 7)
    return {**files, "SHA256SUMS.txt": _sums(files)}


class TreeServer(http.server.ThreadingHTTPServer):
    """Serves `files` (path -> bytes) with HTTP Range support; paths in `drop_once` are cut mid-body once."""

    def __init__(self, files: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.files, self.drop_once, self.requests = dict(files), set(), []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class RangeHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path, wanted = self.path.lstrip("/"), self.headers.get("Range")
        self.server.requests.append((path, wanted))
        body = self.server.files.get(path)
        if body is None:
            self.send_error(404)
            return
        start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if path in self.server.drop_once:
            self.server.drop_once.discard(path)
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve(monkeypatch):
    """serve(files) -> a running TreeServer; every server is shut down (and its thread joined) after the test."""
    running = []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    def start(files: dict[str, bytes]) -> TreeServer:
        server = TreeServer(files)
        # A short poll interval: shutdown() waits up to one interval, half a second per test by default.
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        running.append((server, thread))
        return server

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.fixture
def no_local_copy(monkeypatch, tmp_path) -> Path:
    """No SUPREME_DATA_DIR, an empty cache in tmp_path, downloads allowed; returns the cache."""
    monkeypatch.delenv(data_sources.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(data_sources.OFFLINE_ENV, raising=False)
    monkeypatch.setenv(data_sources.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _point_at(monkeypatch, server: TreeServer) -> None:
    monkeypatch.setenv(data_sources.PTBXL_URL_ENV, server.url)
    monkeypatch.setenv(data_sources.MERL_URL_ENV, server.url)


def _leftovers(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.name.endswith((".part", ".tmp"))]


def test_ptbxl_download_is_verified_cached_and_not_fetched_twice(serve, monkeypatch, no_local_copy):
    tree = physionet_tree()
    server = serve(tree)
    _point_at(monkeypatch, server)
    folder = data_sources.ptbxl_folder([1, 2], (100,), progress=False)
    for name in data_sources.record_files([1, 2], (100,)):
        assert (folder / name).read_bytes() == tree[name]
    # The folder's database holds the rows of the records it has, byte for byte.
    assert (folder / "ptbxl_database.csv").read_text().splitlines() == DATABASE.splitlines()[:3]
    assert (folder / "scp_statements.csv").read_bytes() == tree["scp_statements.csv"]
    fetched = len(server.requests)
    assert data_sources.ptbxl_folder([1, 2], (100,), progress=False) == folder
    assert len(server.requests) == fetched
    data_sources.ptbxl_folder([1, 2, 401], (100,), progress=False)
    assert {path for path, _ in server.requests[fetched:]} == {"records100/00000/00401_lr.hea",
                                                                 "records100/00000/00401_lr.dat"}
    assert [line.split(",")[0] for line in (folder / "ptbxl_database.csv").read_text().splitlines()[1:]] == [
        "1", "2", "401"]
    assert not _leftovers(no_local_copy)


def test_reports_download_keeps_the_training_folds_after_the_sample(serve, monkeypatch, no_local_copy):
    _point_at(monkeypatch, serve(physionet_tree()))
    folder = data_sources.ptbxl_reports_folder(progress=False)
    rows = (folder / "ptbxl_database.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["401"]  # 1-2: the sample; 402: fold 9


def test_a_wrong_checksum_is_refused_and_leaves_nothing_behind(serve, monkeypatch, no_local_copy):
    tree = physionet_tree()
    tree["records100/00000/00002_lr.dat"] = b"not the published bytes"
    _point_at(monkeypatch, serve(tree))
    with pytest.raises(DataSourceError, match=r"00002_lr\.dat: SHA-256 .* is not the published"):
        data_sources.ptbxl_folder([2], (100,), progress=False)
    assert not list(no_local_copy.rglob("00002_lr.dat*"))
    assert not _leftovers(no_local_copy)


def test_an_interrupted_download_resumes_where_it_stopped(serve, monkeypatch, no_local_copy):
    tree = physionet_tree()
    server = serve(tree)
    name = "records100/00000/00001_lr.dat"
    server.drop_once.add(name)
    _point_at(monkeypatch, server)
    folder = data_sources.ptbxl_folder([1], (100,), progress=False)
    assert (folder / name).read_bytes() == tree[name]
    attempts = [wanted for path, wanted in server.requests if path == name]
    assert attempts == [None, f"bytes={len(tree[name]) // 2}-"]


@pytest.mark.parametrize("case", ["404", "refused", "offline"])
def test_failed_or_disabled_download_names_resource_url_and_variable(case, serve, monkeypatch, no_local_copy):
    tree = physionet_tree()
    server = serve(tree)
    if case == "404":
        del tree["records100/00000/00002_lr.hea"]
        server.files = tree
        url = server.url
    elif case == "refused":
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    else:
        monkeypatch.setenv(data_sources.OFFLINE_ENV, "1")
        url = server.url
    monkeypatch.setenv(data_sources.PTBXL_URL_ENV, url)
    with pytest.raises(DataSourceError) as caught:
        data_sources.ptbxl_folder([2], (100,), progress=False)
    message = str(caught.value)
    assert "PTB-XL 1.0.3" in message and url in message and "SUPREME_DATA_DIR" in message
    if case == "offline":
        assert "HF_HUB_OFFLINE=1" in message and not server.requests
    assert not _leftovers(no_local_copy)


@pytest.fixture(scope="module")
def real_ckepe() -> bytes:
    """The real CKEPE file as the resolver finds it for the test run (the same bytes as MERL's)."""
    return data_sources.ckepe_prompts_file(progress=False).read_bytes()


def test_merl_files_download_against_the_packaged_hashes(real_ckepe, serve, monkeypatch, no_local_copy):
    merl_path = data_sources.MERL_FILES[data_sources.CKEPE_PROMPTS][data_sources.CKEPE_FILE][0]
    server = serve({merl_path: real_ckepe})
    _point_at(monkeypatch, server)
    path = data_sources.ckepe_prompts_file(progress=False)
    assert path.read_bytes() == real_ckepe and path.is_relative_to(no_local_copy)
    assert load_label_descriptions("ckepe")["ptbxl_super"]  # the evaluation reads it through the resolver
    server.files[merl_path] = real_ckepe.replace(b"a", b"b", 1)
    path.unlink()
    with pytest.raises(DataSourceError, match="is not the published"):
        data_sources.ckepe_prompts_file(progress=False)
    assert not path.exists() and not _leftovers(no_local_copy)


@pytest.fixture(scope="module")
def real_tables() -> dict[str, bytes]:
    """MERL's real label tables as the resolver finds them for the test run, by their path in MERL's repository."""
    folder = data_sources.benchmark_splits_folder(progress=False)
    return {merl: (folder / name).read_bytes()
            for name, (merl, _) in data_sources.MERL_FILES[data_sources.BENCHMARK_SPLITS].items()}


def test_scripts_without_splits_fetch_only_the_tables_of_their_tasks(real_tables, serve, monkeypatch, no_local_copy):
    server = serve(real_tables)
    _point_at(monkeypatch, server)
    parser = argparse.ArgumentParser()
    benchmark_arguments.add_benchmark_arguments(parser)
    args = parser.parse_args(["--model", "m", "--out", "o", "--tasks", "ptbxl_super", "--no-progress"])
    folder = benchmark_arguments.splits_from_args(args, benchmark_arguments.tasks_from_args(args))
    assert sorted(path.rsplit("/", 1)[-1] for path, _ in server.requests) == [
        "ptbxl_super_class_test.csv", "ptbxl_super_class_train.csv", "ptbxl_super_class_val.csv"]
    assert (folder / "ptbxl/super_class/ptbxl_super_class_test.csv").is_file()
    assert benchmark_arguments.splits_from_args(parser.parse_args(["--model", "m", "--out", "o", "--splits", "x"]),
                                           ["ptbxl_super"]) == Path("x")
    builder = argparse.ArgumentParser()
    builder_arguments.add_splits_argument(builder, "icbeb")
    icbeb = builder_arguments.splits_from_args(builder.parse_args(["--splits"]), "icbeb")
    assert icbeb == folder / "icbeb" and len(list(icbeb.glob("*.csv"))) == 3
    assert builder_arguments.splits_from_args(builder.parse_args([]), "icbeb") is None
    monkeypatch.setenv(data_sources.OFFLINE_ENV, "1")
    with pytest.raises(SystemExit, match=r"MERL benchmark-splits: .*chapman_test.csv is not cached .*SUPREME_DATA_DIR"):
        builder_arguments.splits_from_args(builder.parse_args(["--splits"]), "chapman")


# ----------------------------------------------------------------------------------------------------------------------
# A local copy: used as it is, checked, and never bypassed
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def local_copy(monkeypatch, tmp_path, serve) -> Path:
    """SUPREME_DATA_DIR = tmp_path/data with a one-record PTB-XL sample and its SHA256SUMS; the download URLs point
    at a server that records any request (there must be none)."""
    root = tmp_path / "data"
    tree = {name: body for name, body in physionet_tree().items() if name != "SHA256SUMS.txt"}
    for name, body in tree.items():
        (root / "ptbxl-sample" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "ptbxl-sample" / name).write_bytes(body)
    (root / "ptbxl-sample" / "SHA256SUMS").write_bytes(_sums(tree))
    monkeypatch.setenv(data_sources.DATA_DIR_ENV, str(root))
    monkeypatch.setenv(data_sources.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(data_sources.OFFLINE_ENV, raising=False)
    server = serve(physionet_tree())
    _point_at(monkeypatch, server)
    yield root
    assert not server.requests


def test_a_local_copy_is_used_as_it_is(local_copy):
    assert data_sources.ptbxl_folder([1, 401], (100,), progress=False) == local_copy / "ptbxl-sample"
    assert data_sources.ptbxl_folder(progress=False) == local_copy / "ptbxl-sample"


def test_the_command_line_prints_the_folder_or_the_error(local_copy, capsys):
    data_sources.main(["ptbxl-sample", "--no-progress"])
    assert capsys.readouterr().out.strip() == str(local_copy / "ptbxl-sample")
    with pytest.raises(SystemExit, match=r"error: .*has no ptbxl-reports/ folder"):
        data_sources.main(["ptbxl-reports"])


def test_a_missing_local_folder_is_an_error_naming_it(local_copy, monkeypatch):
    monkeypatch.setenv(data_sources.DATA_DIR_ENV, str(local_copy / "nowhere"))
    with pytest.raises(DataSourceError, match=r"SUPREME_DATA_DIR=.*nowhere is not an existing folder"):
        data_sources.ptbxl_folder([1], progress=False)


def test_a_local_copy_without_the_resource_is_an_error_naming_it(local_copy):
    with pytest.raises(DataSourceError, match=r"has no benchmark-splits/ folder .*benchmark-splits is missing"):
        data_sources.benchmark_splits_folder(progress=False)
    with pytest.raises(DataSourceError, match=r"lacks 2 file\(s\) of PTB-XL .*00002_hr\.hea, .*00002_hr\.dat"):
        data_sources.ptbxl_folder([2], (500,), progress=False)


def test_a_local_file_that_does_not_match_its_sums_is_an_error_naming_it(local_copy):
    target = local_copy / "ptbxl-sample" / "records100" / "00000" / "00002_lr.dat"
    target.write_bytes(b"changed")
    with pytest.raises(DataSourceError, match=r"1 file\(s\) do not match .*SHA256SUMS: records100/00000/00002_lr"):
        data_sources.ptbxl_folder([2], progress=False)
    data_sources.ptbxl_folder([1], progress=False)  # the files asked for are the ones checked


def test_a_whole_folder_check_is_remembered_until_a_file_changes(local_copy):
    folder = local_copy / "ptbxl-sample"
    data_sources.verify_local_folder(folder)
    (folder / "ptbxl_database.csv").write_text("ecg_id\n")
    with pytest.raises(DataSourceError, match="ptbxl_database.csv"):
        data_sources.verify_local_folder(folder)


# ----------------------------------------------------------------------------------------------------------------------
# What the tests and the wheel see
# ----------------------------------------------------------------------------------------------------------------------


def test_the_test_sample_is_400_records_at_100_hz_and_40_at_500_hz():
    assert len(list((PTBXL_DIR / "records100").rglob("*.hea"))) == 400
    assert len(list((PTBXL_DIR / "records500").rglob("*.hea"))) == 40
    table = (SPLITS_DIR / "ptbxl" / "super_class" / "ptbxl_super_class_test.csv").read_text().splitlines()
    assert 1 < len(table) and all(int(row.split(",")[0]) <= 400 for row in table[1:])


def test_the_package_carries_no_third_party_data():
    assert not list(PACKAGE.rglob("CKEPE*")) and not list(PACKAGE.rglob("ptbxl_database.csv"))
    assert not list(PACKAGE.rglob("*_lr.dat")) and not list(PACKAGE.rglob("ptbxl_*_test.csv"))
