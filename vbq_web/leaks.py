"""Memory that trame-slicer 2.0 never gives back, over the case loads of a worklist (benchmarks/bench_web_loads.py).

A Python object that hands one of its bound methods to a VTK observer (``vtkMRMLLayerDMObjectEventObserverScripted``)
forms a reference cycle through C++ that Python's garbage collector cannot see: it lives for ever.

1. ``Segmentation.get_display()`` wraps the segmentation's display node in a new ``SegmentationDisplay`` (such an
   observer) on every call, and the segment list asks for it for every segment on every refresh: ~180 objects
   per case. :func:`install` makes it return one wrapper per display node (re-made when the node changes).
2. ``Segmentation`` observes its node's ModifiedEvent with a lambda on itself: the node, its labelmaps, the
   volume and the wrapper keep each other alive after the scene is cleared. :func:`release_segmentation` (before
   each clear) removes that observer and the wrapper's references.

Not fixed here: after a scene clear the segment editor adds its effects' parameter nodes again and the layer
displayable manager builds new effect pipelines for every view (brush and threshold previews with their image
filters) while the old ones stay alive (C++ holds them). Emptying them from Python crashed VTK (segfault in the
server tests), so they stay: about 1.2 MB per case load is left (benchmarks/bench_web_loads.py).

Hand-written (no upstream fix in trame-slicer 2.0.0); remove when trame-slicer frees these itself.
"""

from __future__ import annotations

import logging

log = logging.getLogger("vbq_web")


def install() -> None:
    from trame_slicer.segmentation import segmentation as seg_module

    cls = seg_module.Segmentation
    if getattr(cls, "_vbq_display_cached", False):
        return

    def get_display(self):
        node = self._segmentation_node.GetDisplayNode() if self._segmentation_node else None
        if node is None:
            return None
        cached = self.__dict__.get("_vbq_display")
        if cached is None or cached._slicer_obj is not node:
            if cached is not None:
                cached.set_wrapped_obj(None)
            cached = seg_module.SegmentationDisplay(node)
            self.__dict__["_vbq_display"] = cached
        return cached

    cls.get_display = get_display
    cls._vbq_display_cached = True


def release_segmentation(editor) -> bool:
    """Break the reference cycles of ``editor``'s active ``Segmentation`` wrapper (before the scene is cleared)."""
    modifier = getattr(editor, "_active_modifier", None)
    seg = getattr(modifier, "segmentation", None) if modifier is not None else None
    if seg is None:
        return False
    try:
        node = seg.__dict__.get("_segmentation_node")
        if node is not None and seg.__dict__.get("_node_obs") is not None:
            node.RemoveObserver(seg._node_obs)
        seg.set_undo_stack(None)
        display = seg.__dict__.pop("_vbq_display", None)
        if display is not None:
            display.set_wrapped_obj(None)
        seg._segmentation_node = None
        seg._volume_node = None
    except Exception:  # noqa: BLE001 - freeing memory never breaks a case load
        log.debug("could not release the segmentation wrapper", exc_info=True)
        return False
    return True
