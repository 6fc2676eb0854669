"""Old import path of :mod:`VBQScoreLib.measuring.flags` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.measuring.flags``."""

import sys

from .measuring import flags as _module

sys.modules[__name__] = _module
