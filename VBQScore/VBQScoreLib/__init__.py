"""VBQScoreLib: vertebral bone quality (VBQ) scores from a T1 MRI and a segmentation.

Slicer-free: nothing here imports ``slicer``/``qt`` except :mod:`VBQScoreLib.mrml`, the MRML adapter.
Heavy dependencies (SimpleITK, slicerio, pandas) are imported inside functions so that ``vbq --help`` is fast.
"""

__version__ = "0.1.0"
