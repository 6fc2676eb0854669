"""Old import path of :mod:`VBQScoreLib.measuring.api` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.measuring.api``."""

import sys

from .measuring import api as _module

sys.modules[__name__] = _module
