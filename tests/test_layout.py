"""The package's shape: no import cycle among its modules, nothing importing upward, one file name per job, the
checkpoint's files named and importing as the model's, one module that reads WFDB (and
the only one that parses a WFDB header or knows the storage formats' sizes), and the tree clean under the ruff
configuration in pyproject.toml."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modeling_supreme.moved_modules import MOVED_MODULES
from modeling_supreme.publishing import CODE_FILES

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "modeling_supreme"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """Package modules that `path` imports anywhere: also inside functions and under `if TYPE_CHECKING:` (a cycle
    hidden by a lazy or type-only import is still a cycle of the layers)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known and name != module}


def _import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {_module_name(path) for path in paths}
    return {_module_name(path): _imported_modules(path, known) for path in paths}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search; a package's __init__ importing its own
    submodules is not a cycle unless a submodule imports the package back)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_among_the_package_modules():
    assert _find_cycle(_import_graph()) is None


# The scripts and checks that stand on the library; the library never imports them.
_ABOVE_THE_LIBRARY = ("eval", "bench", "experiments", "datasets_scripts", "scripts", "train_accelerate", "tests")


def test_the_library_imports_nothing_above_it():
    upward = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            hits = [name for name in names if name.split(".")[0] in _ABOVE_THE_LIBRARY]
            if hits:
                upward.setdefault(path.relative_to(REPO_ROOT).as_posix(), []).extend(hits)
    assert not upward, f"library modules importing scripts or tests: {upward}"


def _package_files() -> list[Path]:
    """The package's Python files, less the old import paths kept for one release (`MOVED_MODULES`)."""
    shims = {REPO_ROOT.joinpath(*old.split(".")).with_suffix(".py") for old in MOVED_MODULES}
    return [path for path in sorted(PACKAGE.rglob("*.py")) if path not in shims]


def test_no_two_package_modules_share_a_file_name():
    """A name says one job: `cli.py` in three sub-packages, or `hub.py` for datasets and for models, did not."""
    by_name: dict[str, list[str]] = {}
    for path in _package_files():
        if path.name != "__init__.py":
            by_name.setdefault(path.name, []).append(path.relative_to(REPO_ROOT).as_posix())
    assert not {name: paths for name, paths in by_name.items() if len(paths) > 1}


def test_the_files_that_travel_with_a_checkpoint_are_named_and_import_as_the_model_s():
    """The transformers layout: `*_supreme.py` (and the `pipeline_*` file), importing no private name of each other."""
    assert all(name.endswith("_supreme.py") or name.startswith("pipeline_") for name in CODE_FILES), CODE_FILES
    private = {}
    for name in CODE_FILES:
        for node in ast.walk(ast.parse((PACKAGE / name).read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                hidden = [alias.name for alias in node.names if alias.name.startswith("_")]
                if hidden:
                    private.setdefault(name, []).extend(f"{node.module}.{hidden_name}" for hidden_name in hidden)
    assert not private, f"private names imported across the checkpoint's files: {private}"


def test_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_reader_imports_wfdb():
    importers = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in [*PACKAGE.rglob("*.py")]
        if any(
            (isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "wfdb" for alias in node.names))
            or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "wfdb" and not node.level)
            for node in ast.walk(ast.parse(path.read_text()))
        )
    }
    assert importers == {"modeling_supreme/reading_supreme.py"}


READER = "modeling_supreme/reading_supreme.py"
_FILE_READS = {"read_text", "read_bytes", "open"}
# A path expression that names a WFDB header: `header_path`, `record.with_suffix(".hea")`, `hea`.
_HEADER_PATH = re.compile(r"header|\.hea\b|\bhea\b", re.IGNORECASE)
# Two WFDB storage formats every bytes-per-sample table has (16-bit and the packed 12-bit format 212).
_FORMAT_KEYS = {16, 212}


def _header_parsing(source: str) -> list[str]:
    """What in `source` reads a WFDB header or tabulates the formats' sizes: file reads whose path names a header
    (`Path(header_path).read_text()`, `open(hea)`), a `*BYTES_PER_SAMPLE*` name, a dict keyed by formats 16 and 212."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in _FILE_READS:
                target = ast.unparse(node.func.value)
            elif isinstance(node.func, ast.Name) and node.func.id == "open" and node.args:
                target = ast.unparse(node.args[0])
            else:
                continue
            if _HEADER_PATH.search(target):
                found.append(f"reads {target}")
        elif isinstance(node, ast.Name) and "BYTES_PER_SAMPLE" in node.id.upper():
            found.append(f"names {node.id}")
        elif isinstance(node, ast.Dict):
            keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
            if _FORMAT_KEYS <= keys:
                found.append("a dict keyed by WFDB formats")
    return found


def test_only_the_reader_parses_wfdb_headers():
    parsers = {
        path.relative_to(REPO_ROOT).as_posix(): found
        for path in PACKAGE.rglob("*.py")
        if (found := _header_parsing(path.read_text()))
    }
    assert set(parsers) == {READER}, {name: found for name, found in parsers.items() if name != READER}


@pytest.mark.parametrize(
    "source",
    [
        'for line in Path(header_path).read_text(errors="replace").splitlines(): pass',
        'with open(record + ".hea") as hea: pass',
        "text = base.with_suffix('.hea').read_bytes()",
        "_BYTES_PER_SAMPLE = {}",
        "sizes = {8: 1.0, 16: 2.0, 212: 1.5}",
    ],
)
def test_header_parsing_finder_finds_a_parser(source):
    assert _header_parsing(source)


def test_header_parsing_finder_leaves_other_reads_alone():
    assert not _header_parsing('table = pd.read_csv(path, header=0)\ntext = Path(csv_path).read_text()\nx = {16: 1}')


def _ruff() -> list[str]:
    """The ruff of this environment (the dev extra), else one on PATH."""
    try:
        import ruff  # noqa: F401
    except ImportError:
        if shutil.which("ruff") is None:
            pytest.skip("ruff is not installed (pip install -e .[dev])")
        return ["ruff"]
    return [sys.executable, "-m", "ruff"]


def test_tree_passes_ruff_with_the_project_configuration():
    completed = subprocess.run([*_ruff(), "check", "--no-cache", "."], cwd=REPO_ROOT, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
