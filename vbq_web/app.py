"""The ``vbq web`` application: a trame app owning a trame-slicer ``SlicerApp`` (MRML scene, views, segment
editor), its logic (:mod:`vbq_web.logic`) and its page (:mod:`vbq_web.ui`), as trame-slicer's own
``trame_slicer/app/segmentation_app.py`` is built.

    from vbq_web.app import VBQWebApp
    from vbq_web.logic import Session
    app = VBQWebApp(session=Session(options=ScoreOptions(), image="t1.nii.gz"))
    app.logic.start()                  # load what the session names
    app.server.start(host="127.0.0.1", port=8091, open_browser=False)
"""

from __future__ import annotations

from . import offscreen  # noqa: F401  (before trame-slicer loads VTK's rendering)

from trame.app import TrameApp  # noqa: E402

from typing import Optional  # noqa: E402

from .access import Access  # noqa: E402
from .logic import Session, VBQAppLogic  # noqa: E402
from .ui import VBQAppUI  # noqa: E402


class VBQWebApp(TrameApp):
    """``access``: who may connect (:class:`vbq_web.access.Access`); by default a new random token, which the
    link must carry (``app.access.link(host, port)``)."""

    def __init__(self, server=None, *, session: Session, access: Optional[Access] = None):
        from trame_slicer import module as trame_slicer_module
        from trame_slicer.core import SlicerApp

        super().__init__(server)
        self.access = access if access is not None else Access()
        self.access.install(self.server)  # before anything is served: token, Origin, trame's secret
        self.server.enable_module(trame_slicer_module)
        self.slicer_app = SlicerApp()
        self.logic = VBQAppLogic(self.server, self.slicer_app, session)
        self.ui = VBQAppUI(self.server, self.logic.layout_manager)
        self.logic.segment_editor_logic.set_ui(self.ui.segment_editor)
        self._slicer_brush_defaults()

    def _slicer_brush_defaults(self) -> None:
        """Paint and erase as Slicer's Segment Editor starts: a disc in the slice shown (not a sphere through the
        neighbouring slices), 5% of the view: ROIs on the mid-sagittal slices, and cheap strokes."""
        from trame_server.utils.typed_state import TypedState
        from trame_slicer.app.ui.segmentation.paint_effect_ui import PaintEffectState

        brush = TypedState(self.server.state, PaintEffectState).data
        brush.use_sphere_brush = False
        brush.brush_diameter_slider.value = 5
