"""Moved to `modeling_supreme.publishing.model_push`.

This old import path works for one more release and warns (FutureWarning)."""

from ..moved_modules import warn_moved

warn_moved(__name__)

from .model_push import *  # noqa: E402, F403
from .model_push import __all__  # noqa: E402, F401
