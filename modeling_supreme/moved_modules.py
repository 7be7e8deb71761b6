"""Modules that moved to a name that says their job, and the warning their old import paths give.

Each old path stays for one release as a small module that calls `warn_moved(__name__)` and re-exports the public
names (`__all__`) of the new module. Names that a package re-exported from a module that left it (`MOVED_NAMES`) are
given by that package's `__getattr__` (`moved_name`). `tests/test_moved_modules.py` checks every entry; the package
itself imports only the new paths.
"""

from __future__ import annotations

import importlib
import warnings
from types import MappingProxyType
from typing import Any

# old module -> new module
MOVED_MODULES = MappingProxyType({
    "modeling_supreme.signal_storage": "modeling_supreme.storage_supreme",
    "modeling_supreme.zero_shot_supreme": "modeling_supreme.label_scoring_supreme",
    "modeling_supreme.evaluation.zero_shot": "modeling_supreme.evaluation.scoring",
    "modeling_supreme.evaluation.benchmark": "modeling_supreme.evaluation.benchmark_tasks",
    "modeling_supreme.evaluation.zero_shot_benchmark": "modeling_supreme.evaluation.run_benchmark",
    "modeling_supreme.evaluation.cli": "modeling_supreme.evaluation.benchmark_arguments",
    "modeling_supreme.dataset_builders.cli": "modeling_supreme.dataset_builders.build_arguments",
    "modeling_supreme.dataset_builders.hub": "modeling_supreme.dataset_builders.dataset_push",
    "modeling_supreme.entities.cli": "modeling_supreme.entities.extractor_arguments",
    "modeling_supreme.publishing.hub": "modeling_supreme.publishing.model_push",
    "modeling_supreme.training.heldout": "modeling_supreme.evaluation.heldout",
})
# "package.name" -> the module that now holds `name`
MOVED_NAMES = MappingProxyType({
    f"modeling_supreme.training.{name}": "modeling_supreme.evaluation.heldout"
    for name in ("HeldOutResult", "evaluate_heldout", "evaluate_lead_sets", "load_heldout_set")
})


def warn_moved(old: str) -> None:
    """Warn (FutureWarning) that module `old` moved; called once, when the old module is first imported."""
    warnings.warn(
        f"{old} has moved to {MOVED_MODULES[old]}; import it from there (the old path goes in the next release)",
        FutureWarning,
        stacklevel=3,
    )


def moved_name(package: str, name: str) -> Any:
    """`name` of `package` when it moved (`MOVED_NAMES`), with a FutureWarning; for a package's `__getattr__`.

    Raises:
        AttributeError: `name` is not a moved name of `package` (what a missing attribute raises).
    """
    new = MOVED_NAMES.get(f"{package}.{name}")
    if new is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    warnings.warn(f"{package}.{name} has moved to {new}; import it from there (the old path goes in the next release)",
                  FutureWarning, stacklevel=3)
    return getattr(importlib.import_module(new), name)


__all__ = ["MOVED_MODULES", "MOVED_NAMES", "moved_name", "warn_moved"]
