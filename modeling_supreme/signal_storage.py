"""Moved to `modeling_supreme.storage_supreme`.

This old import path works for one more release and warns (FutureWarning)."""

from .moved_modules import warn_moved

warn_moved(__name__)

from .storage_supreme import *  # noqa: E402, F403
from .storage_supreme import __all__  # noqa: E402, F401
