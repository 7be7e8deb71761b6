"""Moved to `modeling_supreme.evaluation.heldout`.

This old import path works for one more release and warns (FutureWarning)."""

from ..moved_modules import warn_moved

warn_moved(__name__)

from ..evaluation.heldout import *  # noqa: E402, F403
from ..evaluation.heldout import __all__  # noqa: E402, F401
