"""Old import path of :mod:`VBQScoreLib.measuring.levels` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.measuring.levels``."""

import sys

from .measuring import levels as _module

sys.modules[__name__] = _module
