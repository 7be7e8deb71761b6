"""Moved to `modeling_supreme.evaluation.run_benchmark`.

This old import path works for one more release and warns (FutureWarning)."""

from ..moved_modules import warn_moved

warn_moved(__name__)

from .run_benchmark import *  # noqa: E402, F403
from .run_benchmark import __all__  # noqa: E402, F401
