"""Moved to `modeling_supreme.training.lead_set_augmentation`.

This old import path works for one more release and warns (FutureWarning)."""

from ..moved_modules import warn_moved

warn_moved(__name__)

from .lead_set_augmentation import *  # noqa: E402, F403
from .lead_set_augmentation import __all__  # noqa: E402, F401
