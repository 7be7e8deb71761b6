"""Modules that moved keep their old import path for one release: it gives the new module's public names and a
FutureWarning naming the new path, once; nothing in the repository imports an old path any more."""

from __future__ import annotations

import ast
import importlib
import re
import sys
import warnings
from pathlib import Path

import pytest

from modeling_supreme.moved_modules import MOVED_MODULES, MOVED_NAMES

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "modeling_supreme"
# Where the repository's own code lives (this file names the old paths on purpose).
_CODE = ("modeling_supreme", "eval", "bench", "experiments", "datasets_scripts", "scripts", "tests")


def _module_path(module: str) -> Path:
    return REPO_ROOT.joinpath(*module.split(".")).with_suffix(".py")


@pytest.mark.parametrize("old, new", sorted(MOVED_MODULES.items()))
def test_old_path_warns_once_and_gives_the_new_names(old, new):
    sys.modules.pop(old, None)
    with pytest.warns(FutureWarning, match=rf"{old} has moved to {new}"):
        shim = importlib.import_module(old)
    target = importlib.import_module(new)
    assert target.__all__, f"{new} has no public names"
    assert list(shim.__all__) == list(target.__all__)
    assert all(getattr(shim, name) is getattr(target, name) for name in target.__all__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert importlib.import_module(old) is shim  # a second import neither runs it again nor warns


@pytest.mark.parametrize("old, new", sorted(MOVED_NAMES.items()))
def test_moved_name_of_a_package_warns_and_is_the_new_object(old, new):
    package, name = old.rsplit(".", 1)
    with pytest.warns(FutureWarning, match=rf"{old} has moved to {new}"):
        value = getattr(importlib.import_module(package), name)
    assert value is getattr(importlib.import_module(new), name)


def test_a_missing_name_of_a_package_with_moved_names_is_an_attribute_error():
    package = importlib.import_module(sorted(MOVED_NAMES)[0].rsplit(".", 1)[0])
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name  # noqa: B018


def _shim_modules() -> set[str]:
    """Modules of the package that call `warn_moved`: the old paths on disk."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name != "moved_modules.py" and "warn_moved(" in path.read_text():
            found.add(".".join(path.relative_to(REPO_ROOT).with_suffix("").parts))
    return found


def test_every_old_path_is_a_shim_and_every_shim_is_listed():
    assert _shim_modules() == set(MOVED_MODULES)
    assert all(_module_path(new).is_file() for new in MOVED_MODULES.values())


def _imported_names(path: Path) -> set[str]:
    """Absolute dotted names that `path` imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


def test_nothing_in_the_repository_imports_an_old_path():
    shims = {_module_path(old) for old in MOVED_MODULES}
    users = {}
    for folder in _CODE:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")) if (REPO_ROOT / folder).is_dir() else []:
            if path in shims or path == Path(__file__).resolve() or ".venv" in path.parts:
                continue
            old = sorted(_imported_names(path) & set(MOVED_MODULES))
            if old:
                users[path.relative_to(REPO_ROOT).as_posix()] = old
    assert not users, f"imports of moved modules' old paths: {users}"


def test_the_documentation_names_no_old_path():
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    old_names = {old for old in MOVED_MODULES} | {_module_path(old).relative_to(REPO_ROOT).as_posix()
                                                   for old in MOVED_MODULES}
    mentions = {page.name: sorted(name for name in old_names if re.search(rf"{re.escape(name)}(?![\w/])",
                                                                          page.read_text()))
                for page in pages}
    assert not {page: names for page, names in mentions.items() if names}
