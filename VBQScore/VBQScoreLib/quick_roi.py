"""Old import path of :mod:`VBQScoreLib.measuring.quick_roi` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.measuring.quick_roi``."""

import sys

from .measuring import quick_roi as _module

sys.modules[__name__] = _module
