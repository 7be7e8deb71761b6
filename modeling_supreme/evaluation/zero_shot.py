"""Moved to `modeling_supreme.evaluation.scoring`.

This old import path works for one more release and warns (FutureWarning)."""

from ..moved_modules import warn_moved

warn_moved(__name__)

from .scoring import *  # noqa: E402, F403
from .scoring import __all__  # noqa: E402, F401
