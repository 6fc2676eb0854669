"""DICOM intake (issue 19): from a PACS export folder or a DICOMweb server to a ``vbq`` manifest.

- :mod:`.reference`: the ``FOLDER#series=UID`` image reference every ``vbq`` command reads (no pydicom needed);
- :mod:`.index`: header-only scan of a folder tree (pydicom, ``stop_before_pixels`` + ``specific_tags``, in
  parallel processes), grouped into studies and series;
- :mod:`.cache`: the scan cache keyed by path, size and modification time;
- :mod:`.select`: the choice rules (sagittal, non-contrast, T1 spin-echo, no localizer...);
- :mod:`.manifest`: ``manifest.csv`` (one row per study), case ids, pseudonyms;
- :mod:`.dicomweb`: QIDO-RS / WADO-RS (``dicomweb-client``);
- :mod:`.intake`: the whole run, as ``vbq intake`` and the Slicer helper call it.
"""
