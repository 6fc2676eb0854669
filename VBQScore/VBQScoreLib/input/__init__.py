"""Reading what is measured: MRI images (:mod:`.images`: NIfTI, NRRD, DICOM series), segmentations
(:mod:`.segmentations`: Slicer ``.seg.nrrd``, labelmaps with label names) and mapping a segment onto the image
grid (:mod:`.resample`). Slicer-free; SimpleITK and slicerio are imported where used."""
