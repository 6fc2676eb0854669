"""Measuring VBQ: settings (:mod:`.options`, :mod:`.presets`), level names (:mod:`.levels`), ROI statistics
(:mod:`.measure`), quality flags (:mod:`.flags`), the result (:mod:`.result`), the scorer (:mod:`.api`:
``score_files``/``score_arrays``), Quick ROIs (:mod:`.quick_roi`) and segmentation overlap (:mod:`.overlap`).
Slicer-free."""
