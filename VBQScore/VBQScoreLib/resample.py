"""Old import path of :mod:`VBQScoreLib.input.resample` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.input.resample``."""

import sys

from .input import resample as _module

sys.modules[__name__] = _module
