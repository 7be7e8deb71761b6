"""Moved to `modeling_supreme.dataset_builders.dataset_push`.

This old import path works for one more release and warns (FutureWarning)."""

from ..moved_modules import warn_moved

warn_moved(__name__)

from .dataset_push import *  # noqa: E402, F403
from .dataset_push import __all__  # noqa: E402, F401
