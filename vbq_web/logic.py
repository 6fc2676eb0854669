"""The logic of ``vbq web``: reacts to the page (trame ``state`` and ``ctrl``) and does the scene work.

Everything about VBQ goes through :mod:`VBQScoreLib` -- reading files (:mod:`VBQScoreLib.input.images`,
:func:`VBQScoreLib.mrml.read_segmentation_node`), level segments (:func:`VBQScoreLib.mrml.create_preset_segments`),
Quick ROIs (:func:`VBQScoreLib.mrml.quick_roi_at`), measuring (:func:`VBQScoreLib.mrml.measure_nodes`, the
scorer of ``vbq score``), the table rows (:func:`VBQScoreLib.mrml.result_rows`), saving
(:func:`VBQScoreLib.mrml.write_seg_nrrd`, then :func:`VBQScoreLib.measuring.api.score_files` on the saved files) --
the same functions the VBQ Score Slicer module's Logic calls. Painting, erasing, threshold painting and undo are
trame-slicer's segment editor (Slicer's own segment editor logic).

State keys (all ``vbq_*``) and controller functions (``ctrl.vbq_*``) are the app's API: the page uses them, and so
do the tests and the screenshot script (:meth:`VBQAppLogic.api` lists the controller functions).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from VBQScoreLib.errors import VBQInputError

from .throttle import Throttle
from .uploads import KINDS as UPLOAD_KINDS
from .uploads import UploadStore
from .worklist import Worklist, case_files, check_name

log = logging.getLogger("vbq_web")

#: tool name in the page -> trame-slicer effect (Quick ROI is this app's own)
TOOLS = ("none", "paint", "erase", "threshold", "islands", "quick_roi")


@dataclass
class Session:
    """What ``vbq web`` was started with."""

    options: object  # VBQScoreLib.measuring.options.ScoreOptions
    out_dir: Path = Path(".")
    image: Optional[str] = None
    segmentation: Optional[str] = None
    labels: Optional[str] = None
    case_id: Optional[str] = None
    worklist: Optional[Worklist] = None
    max_upload: int = 2 * 1024 ** 3  # bytes per uploaded file (--max-upload)
    quick_roi: dict = field(default_factory=lambda: {"radius_mm": 8.0, "sagittal_slices": 3, "erode_mm": 1.0})


def _fmt(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def slicer_labelmap_name() -> str:
    from slicer import vtkSegmentationConverter

    return vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()


def _case_id_of(path) -> str:
    from VBQScoreLib.input.images import file_stem

    return file_stem(path) or "case"


class VBQAppLogic:
    def __init__(self, server, slicer_app, session: Session):
        from trame_slicer.app.logic import SegmentEditorLogic
        from trame_slicer.core import LayoutManager
        from trame_slicer.rca_view import register_rca_factories

        from .quick_roi_effect import QuickRoiEffect

        self.server = server
        self.slicer_app = slicer_app
        self.session = session
        self.options = session.options
        self.preset = self.options.resolve_preset()

        register_rca_factories(slicer_app.view_manager, server)
        self.segment_editor_logic = SegmentEditorLogic(server, slicer_app)
        self.editor = slicer_app.segmentation_editor
        self.layout_manager = LayoutManager(slicer_app.scene, slicer_app.view_manager, server)
        self.layout_manager.register_layout_dict(self.layouts())
        self.layout_manager.set_layout("Sagittal + axial")
        for view in slicer_app.view_manager.get_slice_views():
            # the image fills its view whenever the page sizes the view (trame-slicer fits only when asked)
            view.interactor().AddObserver("WindowResizeEvent", lambda *_, view=view: self._fit(view))

        self.editor.register_effect_type(QuickRoiEffect)
        self._quick_roi_effect = self.editor.get_effect(QuickRoiEffect)
        self._quick_roi_effect.clicked.connect(self._on_quick_roi_click)
        self.editor.segmentation_modified.connect(self._on_segmentation_modified)
        self.editor.active_segment_id_changed.connect(self._on_active_segment_changed)
        self.editor.active_effect_name_changed.connect(self._on_effect_changed)

        self.throttle = Throttle(self._measure)
        self._measured_content = None
        self.volume_node = None
        self.image_path: Optional[str] = None
        self.input_segmentation: Optional[str] = None
        self.case_id: Optional[str] = None
        self.case_index: Optional[int] = None
        self._loading = False
        self.last_result = None
        self._init_state()
        # the Open dialog's files: streamed to a private folder over HTTP (vbq_web.uploads), never in memory
        self.uploads = UploadStore(session.max_upload, on_change=self._uploads_changed,
                                   enabled=session.worklist is None)  # a worklist opens only its manifest's cases
        self.uploads.install(server)
        server.controller.on_server_exited.add(self._exited)
        for name, fn in self.api().items():  # as ctrl.<name> for widgets and Python, and trigger('<name>') for JS
            setattr(server.controller, name, fn)
            server.trigger(name)(self.client_api().get(name, fn))
        server.trigger("vbq_upload_reset")(self.reset_upload)
        server.trigger("vbq_upload_done")(self._uploads_changed)
        server.trigger("vbq_upload_failed")(self.upload_failed)

    # ------------------------------------------------------------------ state and API
    @property
    def state(self):
        return self.server.state

    @property
    def scene(self):
        return self.slicer_app.scene

    @property
    def segmentation_node(self):
        return self.editor.active_segmentation_node

    def api(self) -> dict:
        """The controller functions (``ctrl.<name>``) the page, the tests and scripts use."""
        return {
            "vbq_create_segments": self.create_segments,
            "vbq_set_tool": self.set_tool,
            "vbq_select_level": self.select_level,
            "vbq_quick_roi_at": self.quick_roi_at,
            "vbq_paint_sphere": self.paint_sphere,
            "vbq_undo": self.undo,
            "vbq_redo": self.redo,
            "vbq_save": self.save,
            "vbq_next": self.next_case,
            "vbq_previous": self.previous_case,
            "vbq_go_to": self.go_to,
            "vbq_measure_now": self.measure_now,
            "vbq_load": self.load_case,
            "vbq_open_uploads": self.open_uploads,
            "vbq_clear_uploads": self.clear_uploads,
            "vbq_dismiss": self.dismiss,
        }

    def client_api(self) -> dict:
        """The controller functions whose arguments come from the page, checked before they run (the Python
        ``ctrl.<name>`` stays the unchecked API for the tests and scripts in this process)."""
        return {"vbq_load": self.load_from_page}

    def _init_state(self) -> None:
        p = self.preset
        wl = self.session.worklist
        self.state.update({
            "trame__title": "VBQ",
            "vbq_title": "",
            "vbq_preset_text": (f"{p.name}: {', '.join(p.levels)}; {p.level_stat} SI; overall = {p.aggregate}; "
                                f"CSF at {p.csf_reference}"),
            "vbq_preset_levels": list(p.levels),
            "vbq_ready": False,
            "vbq_rows": [],
            "vbq_overall": None,
            "vbq_overall_text": "–",
            "vbq_flags": [],
            "vbq_not_computed": "Open an MRI to start.",
            "vbq_update_ms": None,
            "vbq_measure_ms": None,
            "vbq_table_version": 0,
            "vbq_error": "",
            "vbq_info": "",
            "vbq_dirty": False,
            "vbq_saved": False,
            "vbq_tool": "none",
            "vbq_active_level": "",
            "vbq_worklist": wl is not None,
            "vbq_reader": wl.reader if wl is not None else "",
            "vbq_progress": "",
            "vbq_n_read": 0,
            "vbq_n_cases": len(wl) if wl is not None else 0,
            "vbq_can_previous": False,
            "vbq_can_next": False,
            "vbq_out": "",
            "vbq_roi_radius": float(self.session.quick_roi["radius_mm"]),
            "vbq_roi_slices": int(self.session.quick_roi["sagittal_slices"]),
            "vbq_roi_erosion": float(self.session.quick_roi["erode_mm"]),
            "vbq_open_dialog": False,
            **{f"vbq_upload_{kind}_names": [] for kind in self.UPLOAD_KINDS},
        })

    def _error(self, exc) -> None:
        """A problem the user must see: one line in the page; the server goes on."""
        text = " ".join(str(exc).split()) if isinstance(exc, VBQInputError) else \
            f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())})"
        if not isinstance(exc, VBQInputError):
            log.exception("vbq web: %s", text)
        self.state.vbq_error = text
        self.state.vbq_info = ""

    def _guard(fn):  # noqa: N805 - decorator for the controller functions
        """Controller functions never raise into trame: bad input and bugs become the page's error line."""
        import functools

        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            with self.state:
                try:
                    self.state.vbq_error = ""
                    return fn(self, *args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - shown in the page, the server keeps running
                    self._error(exc)
                    return None

        return wrapper

    def dismiss(self) -> None:
        self.state.vbq_error = ""
        self.state.vbq_info = ""

    # ------------------------------------------------------------------ layouts
    @staticmethod
    def layouts() -> dict:
        from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition

        sagittal, axial = ViewLayoutDefinition.sagittal_view(), ViewLayoutDefinition.axial_view()
        return {
            "Sagittal + axial": Layout(LayoutDirection.Horizontal, [sagittal, axial], flex_sizes=["2", "1"]),
            "Sagittal": Layout(LayoutDirection.Vertical, [sagittal]),
        }

    def _fit(self, view) -> None:
        if self.volume_node is not None:
            view.fit_view_to_content()

    # ------------------------------------------------------------------ loading
    def _clear_scene(self) -> None:
        # The one place the scene is emptied before a volume is loaded. trame-slicer 2.0's paint effect crashes
        # ("'NoneType' object has no attribute 'paint_interaction_stopped'") when a volume is loaded from code
        # into a scene that was not cleared first (its own "load volume" button clears the scene first).
        self.throttle.cancel()
        self.scene.Clear()

    @_guard
    def load_case(self, image, segmentation=None, labels=None, case_id=None) -> bool:
        """Show an MRI (file or DICOM folder) and, optionally, a segmentation (``.seg.nrrd``, or a labelmap with
        ``labels``), read by VBQScoreLib as ``vbq score`` reads them. Returns True when the MRI is shown."""
        from VBQScoreLib import mrml
        from VBQScoreLib.input.images import read_image

        if case_id is not None:
            check_name(case_id, "case id")  # it names the saved files: a file name in --out, nothing else
        img = read_image(image)  # before touching the scene: a bad file leaves the current case shown
        self._loading = True
        try:
            self._clear_scene()
            self.last_result = None
            vol = mrml.sitk_to_volume_node(img.image, self.scene, _case_id_of(image))
            vol.CreateDefaultDisplayNodes()
            self.volume_node = vol
            self.image_path = str(image)
            self.case_id = case_id or _case_id_of(image)
            self.input_segmentation = str(segmentation) if segmentation else None
            seg_error = None
            seg_node = None
            if segmentation:
                try:
                    seg_node = mrml.read_segmentation_node(segmentation, vol, labels)
                except VBQInputError as exc:
                    seg_error = exc
            if seg_node is None:
                seg_node = self.editor.create_empty_segmentation_node()
                seg_node.SetName(f"{self.case_id} segmentation")
            # trame-slicer: the first segmentation node of the scene becomes the edited one, on this volume
            self.segment_editor_logic.on_volume_changed(vol)
            dm = self.slicer_app.display_manager
            dm.show_volume_in_slice_background(vol)
            dm.show_volume_in_slice_foreground(None)
            dm.reset_views()
            self.editor.deactivate_effect()
        finally:
            self._loading = False
        s = self.state
        s.vbq_ready = True
        s.vbq_dirty = False
        s.vbq_tool = "none"
        s.vbq_title = self.case_id if self.session.worklist is None else \
            f"{self.case_id} ({self.session.worklist.progress_text(self.case_index)})"
        s.vbq_out = str(self._output_files().segmentation)
        s.vbq_saved = self._output_files().segmentation.is_file()
        self._update_worklist_state()
        self.measure_now()
        if seg_error is not None:  # the MRI is shown (with an empty segmentation): say what was wrong
            self._error(VBQInputError(f"segmentation not loaded: {seg_error}"))
        return True

    # -- the page may open only what the command line gave, the worklist's files, or its own uploads
    NOT_OPENABLE = "the page can open only the files given on the command line or uploaded with Open"

    def _openable(self, path) -> bool:
        """``path`` is a file given on the command line or one of this server's uploads (compared after
        resolving links, without telling whether anything else exists)."""
        import os

        if not isinstance(path, str) or not path or "\x00" in path:
            return False
        if self.uploads.contains(path):
            return True
        s = self.session
        real = os.path.realpath(path)
        return any(g and real == os.path.realpath(str(g)) for g in (s.image, s.segmentation, s.labels))

    def load_from_page(self, image=None, segmentation=None, labels=None, case_id=None):
        """``trigger('vbq_load', …)`` from the page: only the allowed files (same message whether a refused
        path exists or not), and a case id checked as ``--case-id``. In a worklist the cases come from the
        manifest only (Next/Previous/go-to): a file opened by path would be saved as the current case."""
        with self.state:
            if self.session.worklist is not None:
                self._error(VBQInputError("in a worklist, cases are opened with Next/Previous"))
                return None
            for p in (image, segmentation, labels):
                if p is not None and not self._openable(p):
                    self._error(VBQInputError(self.NOT_OPENABLE))
                    return None
            if case_id is not None and not isinstance(case_id, str):
                self._error(VBQInputError("case id must be text"))
                return None
        return self.load_case(image, segmentation, labels, case_id)

    # -- the Open dialog: files POSTed to /vbq/upload (vbq_web.uploads), then opened
    UPLOAD_KINDS = UPLOAD_KINDS

    def _uploads_changed(self, kind=None) -> None:
        with self.state as s:
            for k in self.UPLOAD_KINDS:
                s[f"vbq_upload_{k}_names"] = self.uploads.names(k)

    def reset_upload(self, kind=None) -> None:
        if kind in self.UPLOAD_KINDS:
            self.uploads.reset(kind)
            self._uploads_changed()

    def upload_failed(self, kind=None, text="") -> None:
        if kind in self.UPLOAD_KINDS:
            self.uploads.reset(kind)
        with self.state:
            self._uploads_changed()
            self._error(VBQInputError(" ".join(str(text)[:300].split()) or "upload failed"))

    def clear_uploads(self) -> None:
        self.uploads.reset()
        self._uploads_changed()

    @_guard
    def open_uploads(self) -> bool:
        """Open what the dialog received (an MRI file, or the files of a DICOM series; optional segmentation
        and labels), from the private upload folder where they were streamed; kept while they are shown."""
        if self.session.worklist is not None:
            raise VBQInputError("in a worklist, cases are opened with Next/Previous")
        paths, folder = self.uploads.take()
        self._uploads_changed()
        self.state.vbq_open_dialog = False
        if self.load_case(paths["image"], paths.get("segmentation"), paths.get("labels")):
            self.uploads.shown(folder)
            return True
        self.uploads.discard(folder)
        return False

    # ------------------------------------------------------------------ segments and tools
    def _require_volume(self) -> None:
        if self.volume_node is None or self.segmentation_node is None:
            raise VBQInputError("open an MRI first")

    def _undoable(self):
        """Group a scene change into one undo step of trame-slicer's undo stack (Undo restores it)."""
        from trame_slicer.segmentation.segmentation_undo_command import SegmentationLabelMapUndoCommand

        return SegmentationLabelMapUndoCommand.push_state_change(self.editor.active_segmentation)

    def _segments_changed(self) -> None:
        self.editor.active_segmentation.trigger_modified()

    @_guard
    def create_segments(self) -> dict:
        """"Create level segments": the preset's levels and CSF, as the VBQ Score module makes them."""
        from VBQScoreLib import mrml

        self._require_volume()
        with self._undoable():
            ids = mrml.create_preset_segments(self.segmentation_node, self.preset)
        self._segments_changed()
        if not self.editor.get_active_segment_id() or self.editor.get_active_segment_id() not in ids.values():
            self.editor.set_active_segment_id(ids[self.preset.levels[0]])
        self.state.vbq_info = f"Level segments: {', '.join(ids)}"
        return ids

    @_guard
    def select_level(self, level: str) -> str:
        """Make ``level``'s segment ("C3", "CSF") the one the tools draw into."""
        from VBQScoreLib import mrml

        self._require_volume()
        sid = mrml.find_level_segment(self.segmentation_node, level)
        if sid is None:
            raise VBQInputError(f"no segment for {level}: press Create level segments")
        self.editor.set_active_segment_id(sid)
        return sid

    @_guard
    def set_tool(self, name: str) -> None:
        from trame_slicer.segmentation import (SegmentationEffectErase, SegmentationEffectIslands,
                                               SegmentationEffectNoTool, SegmentationEffectPaint,
                                               SegmentationEffectThreshold)

        from .quick_roi_effect import QuickRoiEffect

        effects = {"none": SegmentationEffectNoTool, "paint": SegmentationEffectPaint,
                   "erase": SegmentationEffectErase, "threshold": SegmentationEffectThreshold,
                   "islands": SegmentationEffectIslands, "quick_roi": QuickRoiEffect}
        if name not in effects:
            raise VBQInputError(f"unknown tool '{name}' (one of {', '.join(effects)})")
        self._require_volume()
        if name != "none" and not self.editor.get_active_segment_id():
            raise VBQInputError("no segment to draw into: press Create level segments")
        self.editor.set_active_effect_type(effects[name])

    def _on_effect_changed(self, *_):
        from .quick_roi_effect import QuickRoiEffect

        names = {"SegmentationEffectPaint": "paint", "SegmentationEffectErase": "erase",
                 "SegmentationEffectThreshold": "threshold", "SegmentationEffectIslands": "islands",
                 QuickRoiEffect.__name__: "quick_roi"}
        effect = self.editor.active_effect
        self.state.vbq_tool = names.get(type(effect).__name__, "none") if effect is not None else "none"

    def _on_active_segment_changed(self, *_):
        from VBQScoreLib import mrml

        node, sid = self.segmentation_node, self.editor.get_active_segment_id()
        self.state.vbq_active_level = (mrml.segment_level(node, sid) or "") if node is not None and sid else ""

    def _quick_roi_settings(self):
        from VBQScoreLib.measuring.quick_roi import QuickRoiSettings

        s = self.state
        return QuickRoiSettings(radius_mm=float(s.vbq_roi_radius), sagittal_slices=int(s.vbq_roi_slices),
                                erode_mm=float(s.vbq_roi_erosion)).validate()

    def _on_quick_roi_click(self, world_ras) -> None:
        self.quick_roi_at(list(world_ras))

    @_guard
    def quick_roi_at(self, ras, level: Optional[str] = None) -> str:
        """Grow a Quick ROI from the point ``ras`` (world RAS, mm) into the selected level's segment (or
        ``level``'s): :func:`VBQScoreLib.mrml.quick_roi_at`, one undo step. Returns the segment ID."""
        from VBQScoreLib import mrml
        from VBQScoreLib.measuring.presets import csf_segment_name

        self._require_volume()
        node = self.segmentation_node
        if level is None:
            sid = self.editor.get_active_segment_id()
            level = mrml.segment_level(node, sid) if sid else None
            if level is None:
                raise VBQInputError("select a level segment (C2 ... or CSF) for the Quick ROI first")
        with self._undoable():
            sid = mrml.quick_roi_at(self.volume_node, node, level, ras, self._quick_roi_settings(),
                                    csf_name=csf_segment_name(self.preset))
        self._segments_changed()
        self.state.vbq_info = f"Quick ROI {level} at R {ras[0]:.1f}, A {ras[1]:.1f}, S {ras[2]:.1f}"
        return sid

    @_guard
    def paint_sphere(self, level: str, center_ras, radius_mm: float) -> int:
        """Paint a ball (voxel centres within ``radius_mm`` of ``center_ras``) into ``level``'s segment through
        the segment editor (its masking and overwrite settings, one undo step), as a brush stroke would; for
        scripts and tests. Returns the number of voxels of the ball."""
        import numpy as np
        from trame_slicer.segmentation import ModificationMode
        from trame_slicer.utils import vtk_image_to_np
        from vtkmodules.vtkCommonMath import vtkMatrix4x4

        from VBQScoreLib import mrml

        self._require_volume()
        sid = mrml.find_level_segment(self.segmentation_node, level)
        if sid is None:
            raise VBQInputError(f"no segment for {level}: press Create level segments")
        modifier = self.editor.active_segment_modifier
        labelmap = modifier.create_modifier_labelmap()
        arr = vtk_image_to_np(labelmap)  # (k, j, i) view of the labelmap's voxels
        m = vtkMatrix4x4()
        labelmap.GetImageToWorldMatrix(m)
        mat = np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])
        ext = labelmap.GetExtent()
        k, j, i = np.meshgrid(*(np.arange(ext[2 * a], ext[2 * a + 1] + 1) for a in (2, 1, 0)), indexing="ij")
        pts = mat[:3, :3] @ np.stack([i.ravel(), j.ravel(), k.ravel()]) + mat[:3, 3:4]
        inside = (np.sum((pts - np.asarray(center_ras, float).reshape(3, 1)) ** 2, axis=0)
                  <= float(radius_mm) ** 2).reshape(arr.shape)
        arr[:] = inside
        labelmap.Modified()
        modifier.apply_labelmap(labelmap, segment_id=sid, modification_mode=ModificationMode.Add)
        return int(inside.sum())

    @_guard
    def undo(self) -> None:
        stack = self.editor.undo_stack
        if stack is not None and stack.can_undo():
            stack.undo()

    @_guard
    def redo(self) -> None:
        stack = self.editor.undo_stack
        if stack is not None and stack.can_redo():
            stack.redo()

    # ------------------------------------------------------------------ live VBQ table
    def _content(self):
        """What the table depends on: each segment's ID, name, tag and labelmap (by its modification time)."""
        from VBQScoreLib import mrml

        node = self.segmentation_node
        if node is None:
            return None
        seg = node.GetSegmentation()
        out = []
        for sid in mrml.segment_ids(node):
            segment = seg.GetSegment(sid)
            labelmap = segment.GetRepresentation(slicer_labelmap_name())
            out.append((sid, segment.GetName(), mrml.segment_level(node, sid), segment.GetLabelValue(),
                        labelmap.GetMTime() if labelmap is not None else 0))
        return tuple(out)

    def _on_segmentation_modified(self, *_):
        if self._loading or self.volume_node is None:
            return
        content = self._content()
        if content == self._measured_content:
            return  # a display change, or the second event of one edit: nothing to measure again
        self.state.vbq_dirty = True
        log.debug("segmentation modified (table pending: %s)", self.throttle.pending)
        if not self.throttle.pending:
            self._changed_unix = time.time()
        self.throttle.request()

    def measure_now(self) -> None:
        """Recompute the table at once (the throttle does it by itself after every change)."""
        self.throttle.request()
        if self.throttle.pending:
            self.throttle.run_now()

    def _measure(self, requested_at: float) -> None:
        """The VBQ table: :func:`VBQScoreLib.mrml.measure_nodes` (the scorer of ``vbq score``) on the segments as
        they are now, rows as the Slicer module's results table (:func:`VBQScoreLib.mrml.result_rows`)."""
        try:
            self._measure_table(requested_at)
        except Exception as exc:  # noqa: BLE001 - runs inside editor events: never break the tool in use
            with self.state:
                self._error(exc)

    def _measure_table(self, requested_at: float) -> None:
        from VBQScoreLib import mrml

        t0 = time.perf_counter()
        node = self.segmentation_node
        self._measured_content = self._content()
        rows, result, reason = [], None, ""
        if self.volume_node is None or node is None:
            reason = "Open an MRI to start."
        elif not mrml.segment_ids(node):
            reason = "No segments yet: press Create level segments."
        else:
            try:
                result = mrml.measure_nodes(self.volume_node, node, options=self.options)
            except VBQInputError as exc:
                reason = f"Not computed: {exc}"
        stat = self.preset.level_stat
        if result is not None:
            colors = self._segment_colors(node)
            for row in mrml.result_rows(result):
                kind = "overall" if row["level"] == mrml.SUMMARY_ROW else ("csf" if row["level"] == "CSF" else "level")
                si = row.get(stat)
                rows.append({
                    "level": row["level"], "kind": kind, "segment": row.get("segment") or "",
                    "voxels": row.get("n_voxels"), "si": si, "vbq": row.get("vbq"),
                    "voxels_text": _fmt(row.get("n_voxels"), 0), "si_text": _fmt(si, 1),
                    "vbq_text": _fmt(row.get("vbq"), 3), "flags": row.get("flags") or "",
                    "color": colors.get(row.get("segment") or "", ""),
                    "vbq_repr": "" if row.get("vbq") is None else repr(float(row["vbq"])),
                    "si_repr": "" if si is None else repr(float(si)),
                })
        self.last_result = result
        done = time.perf_counter()
        log.debug("table measured in %.1f ms, %.1f ms after the change", 1000 * (done - t0), 1000 * (done - requested_at))
        with self.state as s:
            s.vbq_rows = rows
            s.vbq_overall = None if result is None else result.overall.get("vbq")
            s.vbq_overall_text = "–" if result is None else _fmt(result.overall.get("vbq"), 3)
            s.vbq_flags = [] if result is None else mrml.flag_lines(result)
            s.vbq_not_computed = reason
            s.vbq_measure_ms = round(1000 * (done - t0), 1)
            s.vbq_update_ms = round(1000 * (done - requested_at), 1)
            s.vbq_table_version = int(s.vbq_table_version or 0) + 1
            # wall-clock times (s since the epoch) of the change and of the table, for timing from outside
            s.vbq_timing = {"changed": getattr(self, "_changed_unix", None), "table": time.time()}

    @staticmethod
    def _segment_colors(node) -> dict:
        from VBQScoreLib import mrml

        out = {}
        for sid in mrml.segment_ids(node):
            seg = node.GetSegmentation().GetSegment(sid)
            r, g, b = seg.GetColor()
            out[seg.GetName()] = "#%02x%02x%02x" % tuple(int(round(255 * c)) for c in (r, g, b))
        return out

    # ------------------------------------------------------------------ saving
    def _output_files(self):
        wl = self.session.worklist
        if wl is not None and self.case_index is not None:
            return wl.files(self.case_index)
        return case_files(Path(self.session.out_dir), self.case_id or "case")

    @_guard
    def save(self) -> bool:
        """Save the segmentation (``.seg.nrrd``, atomically) and the result of ``vbq score`` on the saved files
        (``.result.json``, ``.levels.csv``); in a worklist, also the reader's table. A failed save leaves the
        previous files as they were and says why in the page."""
        self._require_volume()
        return self._save()

    def _save(self) -> bool:
        from VBQScoreLib import mrml
        from VBQScoreLib.measuring.api import score_files
        from VBQScoreLib.atomic import write_text_atomic

        node = self.segmentation_node
        if not mrml.segment_ids(node):
            raise VBQInputError("nothing to save: create the level segments and draw the ROIs first")
        files = self._output_files()
        for p in (files.segmentation, files.result_json, files.levels_csv):
            for what, given in (("image", self.image_path), ("segmentation", self.input_segmentation)):
                if given and Path(given).resolve() == p.resolve():
                    raise VBQInputError(f"{p}: would overwrite the input {what}; start with another --out folder")
        mrml.write_seg_nrrd(node, files.segmentation)
        try:
            result = score_files(self.image_path, files.segmentation, options=self.options)
        except VBQInputError as exc:
            for stale in (files.result_json, files.levels_csv):  # they belonged to an earlier segmentation
                stale.unlink(missing_ok=True)
            message = f"Saved {files.segmentation.name}; VBQ not computed: {exc}"
        else:
            write_text_atomic(files.result_json, result.to_json() + "\n")
            write_text_atomic(files.levels_csv, result.to_csv())
            overall = result.overall.get("vbq")
            message = (f"Saved {files.segmentation.name}, {files.result_json.name}, {files.levels_csv.name}"
                       f" (overall VBQ {_fmt(overall, 3)})")
        wl = self.session.worklist
        if wl is not None:
            table = wl.write_table(self.options)
            message += f"; {self.session.worklist.reader}'s table {table.name} updated"
        s = self.state
        s.vbq_dirty = False
        s.vbq_saved = True
        s.vbq_info = message
        self._update_worklist_state()
        return True

    # ------------------------------------------------------------------ worklist
    def _update_worklist_state(self) -> None:
        wl = self.session.worklist
        s = self.state
        if wl is None or self.case_index is None:
            return
        s.vbq_progress = wl.progress_text(self.case_index)
        s.vbq_n_read = wl.n_read()
        s.vbq_can_previous = self.case_index > 0
        s.vbq_can_next = self.case_index < len(wl) - 1

    def open_case(self, index: int) -> bool:
        """Show worklist case ``index`` with this reader's own saved reading, if any (never another
        reader's, nor the manifest's segmentation column: readers are blinded)."""
        wl = self.session.worklist
        case = wl.cases[index]
        self.case_index = index
        wl.remember(index)
        files = wl.files(index)
        seg = str(files.segmentation) if files.segmentation.is_file() else None
        shown = self.load_case(case.image, seg, None, case.case_id)
        self._update_worklist_state()
        if not shown:  # the image could not be read: say which case, keep the worklist going
            self.volume_node = None
            with self.state as s:
                s.vbq_title = f"{case.case_id} ({wl.progress_text(index)})"
                s.vbq_ready = False
        return bool(shown)

    @_guard
    def go_to(self, index: int) -> bool:
        """Next/previous/jump in the worklist; unsaved changes are saved first (autosave), and a failed save
        keeps the reader on the case, with the reason in the page."""
        wl = self.session.worklist
        if wl is None:
            raise VBQInputError("no worklist: start with vbq web --worklist manifest.csv --reader NAME --out DIR")
        index = int(index)
        if not 0 <= index < len(wl):
            raise VBQInputError(f"case {index + 1} is not in the worklist (1 to {len(wl)})")
        if self.state.vbq_dirty and self.volume_node is not None:
            self._save()
        saved_info = self.state.vbq_info
        ok = self.open_case(index)
        if ok and saved_info and not self.state.vbq_error:
            self.state.vbq_info = saved_info
        return ok

    def next_case(self) -> bool:
        return self.go_to((self.case_index or 0) + 1)

    def previous_case(self) -> bool:
        return self.go_to((self.case_index or 0) - 1)

    def _exited(self, **_) -> None:
        try:
            self.on_exit()
        finally:
            self.uploads.cleanup()  # after on_exit's save, which may read an uploaded image

    def on_exit(self, **_) -> Optional[str]:
        """The server stops (Ctrl+C): unsaved changes are saved, as Next would; returns what was said."""
        if not (self.state.vbq_dirty and self.volume_node is not None):
            return None
        try:
            self._save()
            text = f"vbq web: unsaved changes saved: {self.state.vbq_info}"
        except Exception as exc:  # noqa: BLE001 - said on the terminal, the process ends anyway
            text = f"vbq web: could not save the unsaved changes: {' '.join(str(exc).split())}"
        print(text, flush=True)
        return text

    def start(self) -> None:
        """Show what the command line asked for: the worklist where the reader stopped, or IMAGE
        [SEGMENTATION]."""
        wl = self.session.worklist
        if wl is not None:
            self.open_case(wl.resume_index())
        elif self.session.image:
            if self.session.case_id:
                check_name(self.session.case_id, "--case-id")
            self.load_case(self.session.image, self.session.segmentation, self.session.labels,
                           self.session.case_id)
