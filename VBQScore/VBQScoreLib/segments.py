"""Old import path of :mod:`VBQScoreLib.input.segmentations` (kept working): this name is that module itself, so every
name, including module state and test patches, is shared. New code imports ``VBQScoreLib.input.segmentations``."""

import sys

from .input import segmentations as _module

sys.modules[__name__] = _module
