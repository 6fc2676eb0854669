"""Old import path of :mod:`VBQScoreLib.input.images` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.input.images``."""

import sys

from .input import images as _module

sys.modules[__name__] = _module
