"""Old import path of :mod:`VBQScoreLib.measuring.result` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.measuring.result``."""

import sys

from .measuring import result as _module

sys.modules[__name__] = _module
