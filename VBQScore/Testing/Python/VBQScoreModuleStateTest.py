"""ctest: issue 20's widget decisions (VBQScoreModuleLib, VBQCohortModuleLib) with Slicer's own classes: a real
qMRMLSegmentEditorWidget gets no source volume before a segmentation, a real QProgressDialog with the modules'
options keeps a Cancel at a phase's maximum, the shipped terminology context loads into Slicer's terminology
logic, results are keyed to their inputs, and VBQ Cohort picks the selected table's file or content.
The same decisions run with plain pytest on slicer-core: Testing/test_mrml_module_state.py."""

import os
import unittest

import qt
import slicer


class VBQScoreModuleStateTest(unittest.TestCase):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def test_source_volume_only_with_a_segmentation(self):
        from VBQScoreModuleLib.state import update_segment_editor

        editorNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentEditorNode")
        editor = slicer.qMRMLSegmentEditorWidget()
        editor.setMRMLScene(slicer.mrmlScene)
        editor.setMRMLSegmentEditorNode(editorNode)
        volume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "T1")
        update_segment_editor(editor, None, volume)
        self.assertIsNone(editorNode.GetSourceVolumeNode())
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
        update_segment_editor(editor, segmentation, volume)
        self.assertEqual(editorNode.GetSegmentationNode().GetID(), segmentation.GetID())
        self.assertEqual(editorNode.GetSourceVolumeNode().GetID(), volume.GetID())

    def test_cancel_kept_at_a_phase_maximum(self):
        from VBQScoreModuleLib.state import PROGRESS_DIALOG_OPTIONS, CancelledByUser, ProgressReporter

        dialog = slicer.util.createProgressDialog(value=0, maximum=3, windowModality=qt.Qt.ApplicationModal,
                                                  **PROGRESS_DIALOG_OPTIONS)
        try:
            self.assertFalse(dialog.autoReset)
            progress = ProgressReporter(dialog, slicer.app.processEvents, final_ok=True)
            progress(1, 3, "step")
            dialog.cancel()
            progress(3, 3, "phase done")  # the maximum: an auto-resetting dialog would forget the Cancel here
            self.assertTrue(dialog.wasCanceled)
            with self.assertRaises(CancelledByUser):
                progress(0, 2, "next phase")
        finally:
            dialog.close()

    def test_terminology_context(self):
        from VBQScoreLib import mrml
        from VBQScoreModuleLib import terminology

        path = os.path.join(os.path.dirname(slicer.modules.vbqscore.path), "Resources", "Terminology",
                            terminology.FILE_NAME)
        tlogic = slicer.modules.terminologies.logic()
        self.assertEqual(terminology.load_context(tlogic, path), mrml.TERMINOLOGY_CONTEXT)
        entry = slicer.vtkSlicerTerminologyEntry()
        self.assertTrue(tlogic.FindTypeInTerminologyBy3dSlicerLabel(mrml.TERMINOLOGY_CONTEXT, "C3", entry))
        self.assertEqual(entry.GetTypeObject().GetCodeValue(), mrml.SNOMED_CODES["C3"][0])

    def test_result_key(self):
        from VBQScoreModuleLib.state import ResultHolder, result_key

        a = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "A")
        b = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "B")
        s = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
        holder = ResultHolder()
        holder.store(result_key(a, s, {"preset": "lu2024"}), "result of A")
        self.assertEqual(holder.current(result_key(a, s, {"preset": "lu2024"})), "result of A")
        self.assertIsNone(holder.current(result_key(b, s, {"preset": "lu2024"})))

    def test_cohort_source_is_the_selected_table(self):
        from VBQCohortModuleLib.source import analysis_source
        from VBQScoreLib.mrml import append_cohort_row

        table = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "VBQ cohort")
        append_cohort_row(table, {"case_id": "007", "VBQ_C3": 2.5})
        with analysis_source(table) as path:
            self.assertEqual(os.path.basename(path), "VBQ cohort.csv")
            with open(path, encoding="utf-8") as f:
                self.assertEqual(f.read().splitlines(), ["case_id,VBQ_C3", "007,2.5"])
        self.assertFalse(os.path.exists(path))


if __name__ == "__main__":
    unittest.main()
