"""The "Quick ROI" tool: a trame-slicer segment editor effect whose only job is to report where the user
clicked in a slice view (world RAS). What happens with the point -- an ROI grown with
:func:`VBQScoreLib.mrml.quick_roi_at` into the selected level's segment -- is decided by :mod:`vbq_web.logic`.
"""

from __future__ import annotations

from slicer import vtkMRMLAbstractViewNode, vtkMRMLInteractionEventData, vtkMRMLNode, vtkMRMLSliceNode
from trame_slicer.segmentation import SegmentationEffect
from trame_slicer.segmentation.segmentation_effect_pipeline import SegmentationEffectPipeline
from undo_stack import Signal
from vtkmodules.vtkCommonCore import vtkCommand


class QuickRoiEffect(SegmentationEffect):
    #: emitted with the world (RAS) position of a left click in a slice view while the effect is active
    clicked = Signal(object)

    def _create_pipeline(self, view_node: vtkMRMLAbstractViewNode, _parameter: vtkMRMLNode):
        if isinstance(view_node, vtkMRMLSliceNode):
            return QuickRoiPipeline()
        return None


class QuickRoiPipeline(SegmentationEffectPipeline[QuickRoiEffect]):
    """Consumes left clicks in its slice view while the effect is active (like trame-slicer's islands pipeline)."""

    def CanProcessInteractionEvent(self, event_data: vtkMRMLInteractionEventData) -> tuple[bool, float]:
        return bool(self.IsActive() and event_data.GetType() == int(vtkCommand.LeftButtonPressEvent)), 0

    def ProcessInteractionEvent(self, event_data: vtkMRMLInteractionEventData) -> bool:
        if event_data.GetType() != int(vtkCommand.LeftButtonPressEvent):
            return False
        self._effect.clicked(tuple(float(v) for v in event_data.GetWorldPosition()))
        return True
