"""``vbq web``: the VBQ labelling app in a browser, on Slicer's own core (trame-slicer), over VBQScoreLib.

Layout (as trame-slicer's own apps, ``trame_slicer/app/segmentation_app.py``): :mod:`vbq_web.app` owns the
``SlicerApp`` (MRML scene, views, segment editor) and the trame server; :mod:`vbq_web.logic` reacts to state
changes and does all scene work through :mod:`VBQScoreLib.mrml` (the adapter the VBQ Score Slicer module uses);
:mod:`vbq_web.ui` builds the page (trame/vuetify); the two meet only through trame ``state`` and ``ctrl``.
:mod:`vbq_web.worklist` (reader worklists) and :mod:`vbq_web.throttle` are Slicer-free.
:mod:`vbq_web.access` (the link's token, Origin and Host checks on every request and websocket) and
:mod:`vbq_web.uploads` (the Open dialog's files, streamed to a private folder) guard the server.

Importing this package sets up off-screen rendering (:mod:`vbq_web.offscreen`) before VTK is loaded.
"""

from . import offscreen  # noqa: F401  (first: before anything loads VTK's rendering)
