"""Helpers of the VBQCohort Slicer module that need neither Slicer's GUI nor the Slicer application:
column guesses for the mapping panel, and the data behind the module's plots. Tested with plain pytest.

(A sub-package, not a ``.py`` beside ``VBQCohort.py``: Slicer treats every ``.py`` file in a module folder as a
module of its own.)
"""
