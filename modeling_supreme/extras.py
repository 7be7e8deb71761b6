"""Which install extra each part of the package needs: `pip install modeling-supreme` gives the model, the processor
and the pipeline; training, dataset building and evaluation need `[train]` or `[eval]` (see setup.cfg)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence


def require_extra(extra: str, part: str, modules: Sequence[str]) -> None:
    """Raise an ImportError that names the extra to install when any of `modules` cannot be imported.

    Args:
        extra: the setup.cfg extra that brings the modules ("train", "eval", "llm").
        part: what needs them, for the message (e.g. "modeling_supreme.training").
        modules: top-level import names.
    """
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise ImportError(
            f"{part} needs {', '.join(missing)}, which the core install leaves out: "
            f"pip install 'modeling-supreme[{extra}]'"
        )


__all__ = ["require_extra"]
