"""Old import path of :mod:`VBQScoreLib.measuring.measure` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.measuring.measure``."""

import sys

from .measuring import measure as _module

sys.modules[__name__] = _module
