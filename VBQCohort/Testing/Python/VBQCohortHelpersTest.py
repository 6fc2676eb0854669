"""ctest: the VBQCohort module's Slicer-free helpers import and work inside Slicer's Python (no extra
packages needed for the column guesses), and a table node round-trips a DataFrame when pandas is present."""

import math
import unittest

import slicer


class VBQCohortHelpersTest(unittest.TestCase):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def test_guess_columns(self):
        from VBQCohortModuleLib.helpers import guess_columns

        cols = ["patient_id", "diagnosis", "sex", "age", "VBQ_C3", "VBQ_C2", "flags"]
        values = {"patient_id": ["a", "b"], "diagnosis": ["OPLL", "CSM"]}
        g = guess_columns(cols, values)
        self.assertEqual((g["id"], g["group"], g["sex"]), ("patient_id", "diagnosis", "sex"))
        self.assertEqual((g["treated"], g["control"]), ("OPLL", "CSM"))
        self.assertEqual(g["levels"], ["VBQ_C2", "VBQ_C3"])
        self.assertEqual(g["covariates"], ["sex", "age"])

    def test_dataframe_to_table_node(self):
        try:
            import pandas as pd
        except ImportError:
            self.skipTest("pandas not installed (VBQ Cohort installs it on first use)")
        from VBQCohort import VBQCohortLogic

        df = pd.DataFrame({"id": ["a", "b"], "x": [1.25, None]})
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "t")
        VBQCohortLogic.dataframeToTableNode(df, node)
        self.assertEqual(node.GetNumberOfRows(), 2)
        self.assertEqual(node.GetTable().GetValueByName(0, "x").ToDouble(), 1.25)
        self.assertTrue(math.isnan(node.GetTable().GetValueByName(1, "x").ToDouble()))
        self.assertEqual(node.GetTable().GetValueByName(1, "id").ToString(), "b")


if __name__ == "__main__":
    unittest.main()
