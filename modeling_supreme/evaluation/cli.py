"""Moved to `modeling_supreme.evaluation.benchmark_arguments`.

This old import path works for one more release and warns (FutureWarning)."""

from ..moved_modules import warn_moved

warn_moved(__name__)

from .benchmark_arguments import *  # noqa: E402, F403
from .benchmark_arguments import __all__  # noqa: E402, F401
