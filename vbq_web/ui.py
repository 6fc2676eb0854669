"""The page of ``vbq web`` (trame + vuetify 3): case bar, tools on the left, slice views in the middle, the live
VBQ table on the right. Only trame ``state`` names (``vbq_*``) and controller functions (``ctrl.vbq_*``) of
:mod:`vbq_web.logic` are used here; trame-slicer's segment editor panel (segment list, brush, threshold) and
views come from trame-slicer.
"""

from __future__ import annotations

from trame.ui.vuetify3 import VAppLayout
from trame.widgets import client, html
from trame.widgets import vuetify3 as v
from trame_slicer.app.ui import SegmentEditorUI

from .uploads import UPLOAD_JS

CSS = """
html { overflow-y: hidden; }
.vbq-table { width: 100%; border-collapse: collapse; font-size: 13px; }
.vbq-table th, .vbq-table td { padding: 3px 6px; text-align: right; white-space: nowrap; }
.vbq-table th:first-child, .vbq-table td:first-child { text-align: left; }
.vbq-table tr.level, .vbq-table tr.csf { cursor: pointer; }
.vbq-table tr.active td { background: rgba(255, 255, 255, 0.12); }
.vbq-table tr.overall td { border-top: 1px solid #888; font-weight: bold; }
.vbq-table td.flags { color: #ffb74d; text-align: left; font-size: 11px; white-space: normal; }
.vbq-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.vbq-keys { font-size: 11px; opacity: 0.7; line-height: 1.5; }
.vbq-keys kbd { border: 1px solid #777; border-radius: 3px; padding: 0 3px; font-size: 10px; }
"""

#: keyboard shortcuts (ignored while typing in a field): the same controller functions as the buttons
KEYS_JS = r"""
(function () {
  if (window.__vbqKeys) { return; }
  window.__vbqKeys = true;
  window.addEventListener('keydown', function (e) {
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) { return; }
    const ctrl = e.ctrlKey || e.metaKey;
    const k = e.key;
    let name = null, args = [];
    if (ctrl && (k === 's' || k === 'S')) { name = 'vbq_save'; }
    else if (ctrl && !e.shiftKey && (k === 'z' || k === 'Z')) { name = 'vbq_undo'; }
    else if (ctrl && (k === 'y' || k === 'Y' || (e.shiftKey && (k === 'z' || k === 'Z')))) { name = 'vbq_redo'; }
    else if (k === 'PageDown' || (e.altKey && k === 'ArrowRight')) { name = 'vbq_next'; }
    else if (k === 'PageUp' || (e.altKey && k === 'ArrowLeft')) { name = 'vbq_previous'; }
    else if (!ctrl && !e.altKey) {
      const tools = { p: 'paint', e: 'erase', t: 'threshold', q: 'quick_roi', Escape: 'none' };
      if (k in tools) { name = 'vbq_set_tool'; args = [tools[k]]; }
      else if (k === 'c' || k === 'C') { name = 'vbq_select_level'; args = ['CSF']; }
      else if (/^[0-9]$/.test(k)) {
        const levels = (window.trame && window.trame.state.get('vbq_preset_levels')) || [];
        const hit = levels.find((lv) => lv.replace(/^[A-Z]+/, '') === k);
        if (hit) { name = 'vbq_select_level'; args = [hit]; }
      }
    }
    if (name) { e.preventDefault(); window.trame.trigger(name, args); }
  });
  window.addEventListener('beforeunload', function (e) {
    if (window.trame && window.trame.state.get('vbq_dirty')) { e.preventDefault(); e.returnValue = ''; }
  });
})();
"""


class VBQSegmentEditorUI(SegmentEditorUI):
    """trame-slicer's segment editor panel (segment list, the brush/threshold options of the active effect,
    display and masking settings) without its row of icon-only effect buttons: this page has labelled tool
    buttons that call ``ctrl.vbq_set_tool``."""

    def build_effect_buttons(self, all: bool = True, **kwargs):  # noqa: A002 - trame-slicer's signature
        pass


def _tool_button(label: str, tool: str, icon: str, key: str):
    v.VBtn(
        label, prepend_icon=icon, size="small", id=f"vbq-tool-{tool}",
        variant=(f"vbq_tool === '{tool}' ? 'flat' : 'tonal'",),
        color=(f"vbq_tool === '{tool}' ? 'primary' : undefined",),
        click=f"trigger('vbq_set_tool', ['{tool}'])", classes="ma-1",
        title=f"{label} (key {key})",
        disabled=("!vbq_ready",),
    )


class VBQAppUI:
    def __init__(self, server, layout_manager):
        ctrl = server.controller
        with VAppLayout(server, template_name="main", theme="dark") as self.layout:
            client.Style(CSS)
            client.Script(KEYS_JS)
            client.Script(UPLOAD_JS)
            self._app_bar(ctrl)
            self._open_dialog(ctrl)
            with v.VNavigationDrawer(permanent=True, location="left", width=330, id="vbq-left"):
                self._tools(ctrl)
                self.segment_editor = VBQSegmentEditorUI(v_show=("vbq_ready",))
            with v.VNavigationDrawer(permanent=True, location="right", width=400, id="vbq-right"):
                self._table()
            with v.VMain(), html.Div(style="position: relative; display: flex; height: 100%;"):
                # messages float over the views, so the views keep their size (and zoom) when one appears
                with html.Div(style="position: absolute; top: 4px; left: 50%; transform: translateX(-50%); "
                                    "z-index: 10; width: min(90%, 900px);"):
                    v.VAlert(
                        "{{ vbq_error }}", v_if=("vbq_error",), type="error", density="compact", closable=True,
                        id="vbq-error", click_close=ctrl.vbq_dismiss,
                    )
                    v.VAlert(
                        "{{ vbq_info }}", v_if=("!vbq_error && vbq_info",), type="success", density="compact",
                        closable=True, id="vbq-info", click_close=ctrl.vbq_dismiss,
                        style="opacity: 0.92;",
                    )
                with html.Div(style="flex: 1; display: flex; min-height: 0;", id="vbq-views"):
                    layout_manager.initialize_layout_grid(self.layout)

    # -- parts
    def _app_bar(self, ctrl):
        with v.VAppBar(density="compact", elevation=1):
            v.VAppBarTitle("VBQ  {{ vbq_title }}", id="vbq-title", style="flex: 0 1 auto;")
            with html.Div(v_if=("vbq_worklist",), classes="d-flex align-center ml-4", id="vbq-worklist"):
                v.VBtn("Previous", prepend_icon="mdi-chevron-left", click=ctrl.vbq_previous, size="small",
                       variant="tonal", disabled=("!vbq_can_previous",), id="vbq-previous",
                       title="Previous case (PageUp or Alt+Left); unsaved changes are saved first")
                v.VChip("{{ vbq_progress }}", classes="mx-2", id="vbq-progress", label=True)
                v.VBtn("Next", append_icon="mdi-chevron-right", click=ctrl.vbq_next, size="small",
                       variant="tonal", disabled=("!vbq_can_next",), id="vbq-next",
                       title="Next case (PageDown or Alt+Right); unsaved changes are saved first")
                v.VChip("reader {{ vbq_reader }}: {{ vbq_n_read }} of {{ vbq_n_cases }} read", classes="ml-2",
                        size="small", variant="outlined", id="vbq-read-count")
            v.VSpacer()
            v.VChip("unsaved changes", v_if=("vbq_dirty",), color="warning", size="small", classes="mr-2",
                    id="vbq-dirty")
            v.VChip("saved", v_if=("!vbq_dirty && vbq_saved",), color="success", size="small", classes="mr-2",
                    id="vbq-saved", title=("vbq_out",))
            v.VBtn("Save", prepend_icon="mdi-content-save", click=ctrl.vbq_save, disabled=("!vbq_ready",),
                   id="vbq-save", variant="flat", color="primary", classes="mr-2", title="Save (Ctrl+S)")
            v.VBtn("Open", prepend_icon="mdi-folder-open", click="vbq_open_dialog = true", id="vbq-open",
                   variant="tonal", classes="mr-2", v_if=("!vbq_worklist",))

    def _open_dialog(self, ctrl):
        with v.VDialog(v_model=("vbq_open_dialog",), max_width=560), v.VCard(title="Open a case"):
            with v.VCardText():
                for kind, label, multiple in (("image", "MRI: a NIfTI/NRRD/MHA file, or all files of a DICOM "
                                                         "series", True),
                                              ("segmentation", "Segmentation (optional): .seg.nrrd or labelmap",
                                               False),
                                              ("labels", "Labels for a labelmap (optional): 1=C2, 2=C3, ...",
                                               False)):
                    v.VFileInput(
                        label=label, multiple=multiple, density="compact", id=f"vbq-upload-{kind}",
                        change=f"window.vbqUpload($event.target.files, '{kind}')",
                    )
            with v.VCardActions():
                v.VSpacer()
                v.VBtn("Cancel", click=f"vbq_open_dialog = false; trigger('vbq_clear_uploads')")
                v.VBtn("Open", click=ctrl.vbq_open_uploads, color="primary", id="vbq-upload-open",
                       disabled=("!vbq_upload_image_names.length",))

    def _tools(self, ctrl):
        with html.Div(classes="pa-2"):
            v.VBtn("Create level segments", prepend_icon="mdi-format-list-numbered", block=True,
                   click=ctrl.vbq_create_segments, disabled=("!vbq_ready",), id="vbq-create-segments",
                   color="primary", variant="tonal")
            html.Div("{{ vbq_preset_text }}", classes="text-caption mt-1", style="opacity: 0.7;")
            with html.Div(classes="d-flex flex-wrap mt-2"):
                _tool_button("Paint", "paint", "mdi-brush", "P")
                _tool_button("Erase", "erase", "mdi-eraser", "E")
                _tool_button("Threshold", "threshold", "mdi-auto-fix", "T")
                _tool_button("Quick ROI", "quick_roi", "mdi-target", "Q")
                v.VBtn("Undo", prepend_icon="mdi-undo", size="small", click=ctrl.vbq_undo, classes="ma-1",
                       variant="text", id="vbq-undo", title="Undo (Ctrl+Z)", disabled=("!vbq_ready",))
                v.VBtn("Redo", prepend_icon="mdi-redo", size="small", click=ctrl.vbq_redo, classes="ma-1",
                       variant="text", id="vbq-redo", title="Redo (Ctrl+Y)", disabled=("!vbq_ready",))
            with html.Div(v_if=("vbq_tool === 'quick_roi'",), classes="mt-1", id="vbq-quick-roi"):
                html.Div("Click in a slice view inside {{ vbq_active_level || 'the selected level' }}: the ROI "
                         "grows over the voxels like the one clicked (within the radius and the sagittal slices), "
                         "then is eroded off the cortex. It replaces that segment's ROI (Undo restores it).",
                         classes="text-caption")
                v.VSlider(v_model=("vbq_roi_radius",), min=2, max=20, step=0.5,
                          label=("`Radius ${vbq_roi_radius} mm`",), density="compact", hide_details=True)
                v.VSlider(v_model=("vbq_roi_slices",), min=1, max=9, step=1,
                          label=("`Sagittal slices ${vbq_roi_slices}`",), density="compact", hide_details=True)
                v.VSlider(v_model=("vbq_roi_erosion",), min=0, max=3, step=0.5,
                          label=("`Erosion ${vbq_roi_erosion} mm`",), density="compact", hide_details=True)
            html.Div(
                "<kbd>2</kbd>-<kbd>7</kbd> level, <kbd>C</kbd> CSF, <kbd>P</kbd>aint, <kbd>E</kbd>rase, "
                "<kbd>T</kbd>hreshold, <kbd>Q</kbd>uick ROI, <kbd>Esc</kbd> no tool, <kbd>Ctrl+Z</kbd> undo, "
                "<kbd>Ctrl+S</kbd> save, <kbd>PgDn</kbd>/<kbd>PgUp</kbd> next/previous case",
                classes="vbq-keys mt-2")
        v.VDivider()

    def _table(self):
        with html.Div(classes="pa-2", id="vbq-table-panel"):
            html.Div("VBQ  {{ vbq_overall_text }}", classes="text-h6", id="vbq-overall",
                     __properties=[("data_vbq", "data-vbq")], data_vbq=("vbq_overall",))
            html.Div("{{ vbq_not_computed }}", v_if=("vbq_not_computed",), classes="text-body-2 my-2",
                     id="vbq-not-computed", style="color: #ffb74d;")
            with html.Table(classes="vbq-table", id="vbq-table", v_if=("vbq_rows.length",)):
                with html.Thead(), html.Tr():
                    for h in ("Level", "Voxels", "SI", "VBQ"):
                        html.Th(h)
                with html.Tbody():
                    with html.Tr(
                        v_for="row in vbq_rows", key="row.level",
                        classes=("[row.kind, row.level === vbq_active_level ? 'active' : '']",),
                        click=("row.kind !== 'overall' && trigger('vbq_select_level', [row.level])"),
                        __properties=[("data_level", "data-level"), ("data_vbq", "data-vbq"),
                                      ("data_si", "data-si"), ("data_voxels", "data-voxels")],
                        data_level=("row.level",), data_vbq=("row.vbq_repr",), data_si=("row.si_repr",),
                        data_voxels=("row.voxels",),
                    ):
                        with html.Td():
                            html.Span(classes="vbq-swatch", v_if=("row.color",),
                                      style=("{ background: row.color }",))
                            html.Span("{{ row.level }}")
                        html.Td("{{ row.voxels_text }}")
                        html.Td("{{ row.si_text }}")
                        html.Td("{{ row.vbq_text }}")
            with html.Div(v_if=("vbq_flags.length",), classes="mt-2", id="vbq-flags"):
                html.Div("Quality flags", classes="text-subtitle-2")
                html.Div("{{ f }}", v_for="f in vbq_flags", classes="text-caption", style="color: #ffb74d;")
            html.Div("table updated {{ vbq_update_ms }} ms after the change ({{ vbq_measure_ms }} ms measuring)",
                     v_if=("vbq_update_ms !== null",), classes="text-caption mt-2", style="opacity: 0.6;",
                     id="vbq-timing")
