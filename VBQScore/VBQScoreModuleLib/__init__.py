"""Decisions of the VBQ Score (and VBQ Cohort) Slicer widgets that need neither Qt nor the Slicer application:
which result is still valid for the inputs on screen, when the embedded Segment Editor gets its source volume,
which table nodes a selector may offer, progress with a Cancel that is never lost, installing Python packages
(declined vs failed), the extension's terminology context. Tested with plain pytest on slicer-core.

(A sub-package, not ``.py`` files beside ``VBQScore.py``: Slicer treats every ``.py`` file in a module folder as a
module of its own.)
"""
