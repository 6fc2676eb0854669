"""The name of each slice view ("Sagittal", "Axial") and its orientation letters (R/L, A/P, S/I at the edges),
drawn over the view as Slicer's own views show them.

trame-slicer builds each view's HTML through a ``populate_view_ui_f`` callback: :func:`slice_view_ui` is
trame-slicer's own (reset button, slice slider) plus the labels, which read the state key
``vbq_view_labels[<view id>]``; :func:`publish` fills it from each view's slice-to-RAS matrix (the letter at an
edge is the patient direction the screen axis points to), so it is right for any orientation.
"""

from __future__ import annotations

LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))  # (negative, positive) along R, A, S

STYLE = ("position: absolute; color: #ffd54f; font: 600 13px/1 sans-serif; pointer-events: none; "
         "text-shadow: 0 0 3px #000, 0 0 2px #000; z-index: 2;")


def _views(server) -> dict:
    if not hasattr(server, "_vbq_slice_views"):
        server._vbq_slice_views = {}
    return server._vbq_slice_views


def slice_view_ui(server, view_id: str, view) -> None:
    from trame.widgets import html
    from trame_slicer.app.ui import create_vertical_slice_view_gutter_ui

    create_vertical_slice_view_gutter_ui(server, view_id, view)
    _views(server)[view_id] = view
    key = f"vbq_view_labels['{view_id}']"
    html.Div(f"{{{{ {key}.name }}}}", v_if=(key,), classes="vbq-view-name",
             style=STYLE + "top: 6px; right: 8px; color: #e0e0e0;")
    for edge, where in (("left", "left: 6px; top: 50%;"), ("right", "right: 8px; top: 50%;"),
                        ("top", "top: 6px; left: 50%;"), ("bottom", "bottom: 30px; left: 50%;")):
        html.Div(f"{{{{ {key}.{edge} }}}}", v_if=(key,), classes=f"vbq-orient vbq-orient-{edge}",
                 style=STYLE + where)


def letter(direction) -> str:
    """The patient direction (R/L/A/P/S/I) a unit vector in RAS points to most."""
    axis = max(range(3), key=lambda i: abs(direction[i]))
    return LETTERS[axis][1 if direction[axis] > 0 else 0]


def labels_of(view) -> dict:
    node = view._view_node  # trame-slicer keeps the view's vtkMRMLSliceNode here (no public getter in 2.0)
    m = node.GetSliceToRAS()
    right = [m.GetElement(r, 0) for r in range(3)]
    up = [m.GetElement(r, 1) for r in range(3)]
    return {"name": node.GetOrientation() or node.GetName(),
            "left": letter([-x for x in right]), "right": letter(right),
            "top": letter(up), "bottom": letter([-x for x in up])}


def publish(server) -> None:
    labels = {}
    for view_id, view in _views(server).items():
        try:
            labels[view_id] = labels_of(view)
        except Exception:  # noqa: BLE001 - a label never breaks the app
            continue
    server.state.vbq_view_labels = labels
