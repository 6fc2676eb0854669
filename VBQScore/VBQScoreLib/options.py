"""Old import path of :mod:`VBQScoreLib.measuring.options` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.measuring.options``."""

import sys

from .measuring import options as _module

sys.modules[__name__] = _module
