"""Old import path of :mod:`VBQScoreLib.measuring.overlap` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.measuring.overlap``."""

import sys

from .measuring import overlap as _module

sys.modules[__name__] = _module
