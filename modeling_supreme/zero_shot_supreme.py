"""Moved to `modeling_supreme.label_scoring_supreme`.

This old import path works for one more release and warns (FutureWarning)."""

from .moved_modules import warn_moved

warn_moved(__name__)

from .label_scoring_supreme import *  # noqa: E402, F403
from .label_scoring_supreme import __all__  # noqa: E402, F401
