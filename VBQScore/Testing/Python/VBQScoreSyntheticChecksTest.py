"""ctest: the synthetic MRML checks (VBQScoreSyntheticChecks.py) run in Slicer's scene with the Slicer-free
CoreLogic; the module's own VBQScoreTest runs them with VBQScoreLogic and also drives the widget."""

import os
import sys
import unittest

import slicer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import VBQScoreSyntheticChecks as checks  # noqa: E402


class VBQScoreSyntheticChecksTest(unittest.TestCase):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def test_compute_exact(self):
        result = checks.check_compute_exact(slicer.mrmlScene, checks.CoreLogic(slicer.mrmlScene))
        self.assertEqual(result.overall["vbq"], 250.0 / 80.0)

    def test_quick_rois(self):
        result = checks.check_quick_rois(slicer.mrmlScene, checks.CoreLogic(slicer.mrmlScene))
        self.assertEqual(result.level("C3").n_voxels, 48)


if __name__ == "__main__":
    unittest.main()
