"""Moved to `modeling_supreme.entities.extractor_arguments`.

This old import path works for one more release and warns (FutureWarning)."""

from ..moved_modules import warn_moved

warn_moved(__name__)

from .extractor_arguments import *  # noqa: E402, F403
from .extractor_arguments import __all__  # noqa: E402, F401
