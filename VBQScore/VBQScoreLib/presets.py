"""Old import path of :mod:`VBQScoreLib.measuring.presets` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.measuring.presets``."""

import sys

from .measuring import presets as _module

sys.modules[__name__] = _module
